// Keeps a dataset's instructions and inputs and has the teacher write new responses: the cheapest
// distillation there is ("SFT on teacher outputs"). A failed record is reported, never fatal.

import { mapLimit, responseMessages, SELF_INSTRUCT_PROMPT_V1 } from './self-instruct.ts';
import type { Teacher, TeacherOptions } from './teacher.ts';

/** An Alpaca record; other fields (task, id, ...) are carried over untouched. */
export interface AlpacaLike {
  instruction: string;
  input?: string;
  output?: string;
  [field: string]: unknown;
}

export type Regenerated<T extends AlpacaLike> = T & {
  input: string;
  output: string;
  teacher: string;
  prompt_version: string;
  generated_at: string;
};

export interface RegenerateFailure {
  /** 0-based position in `examples`. */
  index: number;
  /** 1-based line in the source file: `lines[index]` when given, else index + 1 (JSONL). */
  line: number;
  message: string;
}

export interface RegenerateProgress {
  done: number;
  total: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
}

export interface RegenerateOptions {
  concurrency?: number;
  onProgress?: (p: RegenerateProgress) => void;
  /** Each record as soon as it is done (completion order), e.g. to append it to a file. */
  onRecord?: (record: Regenerated<AlpacaLike>, index: number) => void;
  signal?: AbortSignal;
  /** Source lines of the examples, when they did not come one per line from line 1. */
  lines?: readonly number[];
  /**
   * The system turn for records without their own `system` field: default the versioned response
   * prompt (it asks a general assistant for short, direct answers); null for none, e.g. for a
   * teacher trained on this data's own prompt format (a Pupil checkpoint).
   */
  system?: string | null;
  promptVersion?: string;
  options?: TeacherOptions;
  now?: () => Date;
}

export interface RegenerateResult<T extends AlpacaLike> {
  /** The records that succeeded, in input order. */
  records: Regenerated<T>[];
  failures: RegenerateFailure[];
  /** True when the signal fired: records and failures then cover only what finished. */
  cancelled: boolean;
  progress: RegenerateProgress;
}

/** With the default system prompt; `regenerate-v2` alone without one, `regenerate-v2/system` with the record's or the caller's own. */
export const REGENERATE_PROMPT_VERSION = `regenerate-v2/${SELF_INSTRUCT_PROMPT_V1.version}`;

export async function regenerateResponses<T extends AlpacaLike>(
  teacher: Teacher,
  examples: readonly T[],
  opts: RegenerateOptions = {},
): Promise<RegenerateResult<T>> {
  const { signal } = opts;
  const now = opts.now ?? (() => new Date());
  const fallbackSystem = opts.system === undefined ? SELF_INSTRUCT_PROMPT_V1.responseSystem : (opts.system ?? undefined);
  const progress: RegenerateProgress = { done: 0, total: examples.length, failed: 0, promptTokens: 0, completionTokens: 0 };
  const results: (Regenerated<T> | undefined)[] = new Array(examples.length);
  const failures: RegenerateFailure[] = [];
  const lineOf = (i: number) => opts.lines?.[i] ?? i + 1;

  await mapLimit(examples, opts.concurrency ?? 4, async (ex, i) => {
    if (signal?.aborted) return;
    let message: string;
    try {
      if (typeof ex.instruction !== 'string' || !ex.instruction.trim()) throw new Error('no instruction');
      const input = typeof ex.input === 'string' ? ex.input : '';
      // A record's own system prompt is part of what the student is trained on: the teacher gets it too.
      const own = typeof ex.system === 'string' && ex.system.trim() !== '';
      const system = own ? (ex.system as string) : fallbackSystem;
      // The label names the system turn actually sent.
      const promptVersion = opts.promptVersion ?? (system === undefined ? 'regenerate-v2' : system === SELF_INSTRUCT_PROMPT_V1.responseSystem ? REGENERATE_PROMPT_VERSION : 'regenerate-v2/system');
      const r = await teacher.generate(responseMessages(ex.instruction, input, system), { ...opts.options, signal });
      if (r.usage) {
        progress.promptTokens += r.usage.promptTokens;
        progress.completionTokens += r.usage.completionTokens;
      }
      const output = r.text.trim();
      if (r.finishReason === 'cancelled') throw new Error('cancelled');
      if (!output) throw new Error(`empty response (finish reason: ${r.finishReason})`);
      results[i] = { ...ex, input, output, teacher: teacher.name, prompt_version: promptVersion, generated_at: now().toISOString() };
      opts.onRecord?.(results[i]!, i);
      progress.done++;
      opts.onProgress?.({ ...progress });
      return;
    } catch (e) {
      if (signal?.aborted) return;
      message = e instanceof Error ? e.message : String(e);
    }
    failures.push({ index: i, line: lineOf(i), message });
    progress.done++;
    progress.failed++;
    opts.onProgress?.({ ...progress });
  });

  const records = results.filter((r): r is Regenerated<T> => r !== undefined);
  failures.sort((a, b) => a.index - b.index);
  return { records, failures, cancelled: !!signal?.aborted, progress };
}
