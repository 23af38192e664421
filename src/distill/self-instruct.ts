// Self-Instruct (Wang et al. 2022) as Alpaca ran it: show the teacher a few tasks sampled from the
// seeds (and from what it already wrote), ask it for new instructions as a numbered list, keep the
// ones that pass cheap filters and are not too close (ROUGE-L) to anything in the pool, then ask it
// to answer each kept instruction. Records carry their provenance so a dataset says how it was made.

import { alpacaUserContent } from '../data/read/formats.ts';
import { Rng } from '../data/synthetic/prng.ts';
import { RougePool } from './rouge.ts';
import type { Teacher, TeacherMessage, TeacherOptions, TeacherReply } from './teacher.ts';

export interface SeedTask {
  instruction: string;
  input?: string;
  output: string;
}

/** Our Alpaca record, plus where it came from. */
export interface SyntheticRecord {
  instruction: string;
  input: string;
  output: string;
  teacher: string;
  prompt_version: string;
  generated_at: string;
}

/** Versioned so a dataset names the exact prompt it was made with; change the text, bump the id. */
export const SELF_INSTRUCT_PROMPT_V1 = {
  // v2: the task reaches the teacher as our dataset reader renders it (input after a blank line).
  version: 'self-instruct-v2',
  instructions: (examples: { instruction: string; input: string }[], n: number): string =>
    [
      `You are helping to build a training set of varied tasks for a small assistant model.`,
      `Here are some example tasks:`,
      ``,
      formatTaskList(examples),
      ``,
      `Write ${n} new tasks that differ from the examples and from each other: vary the verbs, the`,
      `topics and the kind of task (open questions, rewriting, classification, short reasoning,`,
      `lists, explanations, advice). Each task must be answerable with text alone by a language`,
      `model: nothing that needs images, files, audio, video, drawing or acting in the world.`,
      `Write each instruction in English, in one or two sentences. When a task needs an input`,
      `(a sentence to rewrite, numbers to sort), put it on the next line after "Input:"; otherwise`,
      `write the instruction alone. Reply with the numbered list only, from 1 to ${n}.`,
    ].join('\n'),
  responseSystem: 'You are a helpful assistant. Answer the task directly, accurately and concisely.',
} as const;

export type PromptTemplate = {
  version: string;
  instructions: (examples: { instruction: string; input: string }[], n: number) => string;
  responseSystem?: string;
};

function formatTaskList(tasks: { instruction: string; input: string }[]): string {
  return tasks
    .map((t, i) => `${i + 1}. ${oneLine(t.instruction)}` + (t.input.trim() ? `\n   Input: ${oneLine(t.input)}` : ''))
    .join('\n');
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/**
 * The conversation a teacher answers for a task: exactly the user turn our dataset reader makes of
 * the record (so the teacher sees the prompt the student will be trained on), after an optional
 * system turn.
 */
export function responseMessages(instruction: string, input: string, system?: string): TeacherMessage[] {
  const user = alpacaUserContent(instruction.trim(), input.trim());
  const msgs: TeacherMessage[] = [];
  if (system) msgs.push({ role: 'system', content: system });
  msgs.push({ role: 'user', content: user });
  return msgs;
}

export interface ParsedTask {
  instruction: string;
  input: string;
}

const NO_INPUT = /^(<\s*no\s*input\s*>|none\.?|n\/a|no input\.?|-)?$/i;

/**
 * Reads a numbered list ("1. ...", "2) ...", "**3.** ...", "Task 4: ...") with optional
 * "Input:" lines. Text before the first number is ignored; continuation lines join the current
 * item. When the reply was cut off (finishReason 'length') the last item may be incomplete and is
 * dropped, as Alpaca does.
 */
export function parseNumberedTasks(text: string, truncated = false): ParsedTask[] {
  const items: { instruction: string[]; input: string[]; inInput: boolean }[] = [];
  for (const raw of text.replace(/\r\n?/g, '\n').split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const start = /^(?:[*_#\s]*)(?:task\s*)?(\d{1,3})\s*[.):]\s*(?:[*_]+\s*)?(.*)$/i.exec(line);
    if (start) {
      const body = start[2].replace(/^(?:\*\*)?(?:instruction|task)\s*:\s*(?:\*\*)?\s*/i, '');
      items.push({ instruction: body ? [body] : [], input: [], inInput: false });
      continue;
    }
    const cur = items[items.length - 1];
    if (!cur) continue;
    const inp = /^[*_]*input[*_]*\s*:\s*[*_]*\s*(.*)$/i.exec(line);
    if (inp) {
      cur.inInput = true;
      if (inp[1]) cur.input.push(inp[1]);
      continue;
    }
    // An "Output:" the teacher volunteers is not ours to keep: the response is asked separately.
    if (/^[*_]*output[*_]*\s*:/i.test(line)) {
      cur.inInput = false;
      cur.instruction.push('\u0000');
      continue;
    }
    if (cur.instruction.includes('\u0000')) continue;
    (cur.inInput ? cur.input : cur.instruction).push(line);
  }
  if (truncated) items.pop();
  return items.map((it) => {
    const instruction = cleanText(it.instruction.filter((s) => s !== '\u0000').join(' '));
    const input = cleanText(it.input.join('\n'));
    return { instruction, input: NO_INPUT.test(input) ? '' : input };
  });
}

function cleanText(s: string): string {
  let t = s.replace(/\*\*/g, '').trim();
  // Whole-item quotes are formatting, not content.
  if (t.length >= 2 && /^["“']/.test(t) && /["”']$/.test(t)) t = t.slice(1, -1).trim();
  return t;
}

export type RejectReason =
  | 'empty'
  | 'too-short'
  | 'too-long'
  | 'blacklist'
  | 'punctuation'
  | 'non-english'
  | 'similar'
  | 'response-failed';

/** The words Self-Instruct and Alpaca use to drop tasks a text-only model cannot do. */
export const DEFAULT_BLACKLIST: readonly string[] = [
  'image', 'images', 'graph', 'graphs', 'picture', 'pictures', 'file', 'files', 'map', 'maps',
  'draw', 'plot', 'go to', 'video', 'audio', 'music', 'flowchart', 'diagram',
];

export interface InstructionFilters {
  /** Fewer words than this: rejected (Alpaca drops ≤ 3 words). Default 4. */
  minWords?: number;
  /** More words than this: rejected (Alpaca: 150). */
  maxWords?: number;
  blacklist?: readonly string[];
  /** ROUGE-L F above this against any pool instruction: rejected. Default 0.7. */
  rougeThreshold?: number;
}

/** The cheap filters, in order; null when the instruction passes them (ROUGE-L is checked apart). */
export function checkInstruction(instruction: string, f: InstructionFilters = {}): RejectReason | null {
  const t = instruction.trim();
  if (!t) return 'empty';
  const words = t.split(/\s+/).length;
  if (words < (f.minWords ?? 4)) return 'too-short';
  if (words > (f.maxWords ?? 150)) return 'too-long';
  const lower = t.toLowerCase();
  for (const w of f.blacklist ?? DEFAULT_BLACKLIST) {
    const re = new RegExp(`\\b${w.toLowerCase().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`);
    if (re.test(lower)) return 'blacklist';
  }
  if (/^[!-/:-@[-`{-~]/.test(t)) return 'punctuation';
  if (!/^[\x00-\x7f]/.test(t)) return 'non-english';
  return null;
}

export interface SelfInstructProgress {
  /** Records produced, including those passed in `state`. */
  kept: number;
  target: number;
  rejected: Record<RejectReason, number>;
  teacherCalls: number;
  /** Calls that threw (they count as calls; their instructions are lost, not fatal). */
  teacherErrors: number;
  promptTokens: number;
  completionTokens: number;
  rounds: number;
}

export interface SelfInstructOptions {
  seeds: SeedTask[];
  /** Total number of records wanted, counting those in `state`. */
  target: number;
  /** Instruction prompts sent per round (concurrently). Default 1. */
  batchPrompts?: number;
  /** Tasks shown in each prompt. Default 3 (Alpaca). */
  examplesPerPrompt?: number;
  /** Of those, how many may come from generated tasks once there are some. Default 1. */
  generatedPerPrompt?: number;
  /** Instructions asked for per prompt. Default 10. */
  instructionsPerPrompt?: number;
  /** Response calls in flight at once. Default 4. */
  concurrency?: number;
  /** Seeds the sampling of example tasks; same seed + same teacher replies = same dataset. */
  seed?: number;
  template?: PromptTemplate;
  /** Overrides the template's version in the provenance (defaults to it). */
  promptVersion?: string;
  filters?: InstructionFilters;
  instructionOptions?: TeacherOptions;
  responseOptions?: TeacherOptions;
  /** Stop after this many rounds in a row that keep nothing (a teacher that only repeats). Default 20. */
  maxIdleRounds?: number;
  onProgress?: (p: SelfInstructProgress) => void;
  signal?: AbortSignal;
  /** Records from an earlier run: they join the pool and count toward the target. */
  state?: readonly Pick<SyntheticRecord, 'instruction' | 'input'>[];
  /** Clock for `generated_at` (tests). */
  now?: () => Date;
}

export interface SelfInstructSummary extends SelfInstructProgress {
  stopped: 'target' | 'idle';
}

function emptyRejected(): Record<RejectReason, number> {
  return { empty: 0, 'too-short': 0, 'too-long': 0, blacklist: 0, punctuation: 0, 'non-english': 0, similar: 0, 'response-failed': 0 };
}

/** Runs `fn` over `xs` with at most `limit` in flight; results in input order. */
export async function mapLimit<T, R>(xs: readonly T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const worker = async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await fn(xs[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, xs.length)) }, worker));
  return out;
}

/**
 * Generates `target − state.length` new records. Yields each record as soon as its round is done
 * (in a deterministic order) and returns the summary. Cancelling through `signal` throws the
 * signal's reason; everything yielded before is complete and can be passed back as `state`.
 */
export async function* selfInstruct(teacher: Teacher, opts: SelfInstructOptions): AsyncGenerator<SyntheticRecord, SelfInstructSummary> {
  const template: PromptTemplate = opts.template ?? SELF_INSTRUCT_PROMPT_V1;
  const promptVersion = opts.promptVersion ?? template.version;
  const filters = opts.filters ?? {};
  const threshold = filters.rougeThreshold ?? 0.7;
  const perPrompt = opts.examplesPerPrompt ?? 3;
  const fromGenerated = opts.generatedPerPrompt ?? 1;
  const nAsk = opts.instructionsPerPrompt ?? 10;
  const now = opts.now ?? (() => new Date());
  const signal = opts.signal;
  if (opts.seeds.length === 0) throw new Error('selfInstruct: at least one seed task is needed');
  if (!(opts.target >= 0)) throw new Error(`selfInstruct: target must be ≥ 0, got ${opts.target}`);

  const seeds = opts.seeds.map((s) => ({ instruction: s.instruction, input: s.input ?? '' }));
  const generated = (opts.state ?? []).map((s) => ({ instruction: s.instruction, input: s.input ?? '' }));
  const pool = new RougePool([...seeds, ...generated].map((t) => t.instruction));
  // Resuming draws a different stream than the first run did at this point, but still a fixed one.
  const rng = Rng.from('self-instruct', opts.seed ?? 0, generated.length);

  const p: SelfInstructProgress = {
    kept: generated.length, target: opts.target, rejected: emptyRejected(),
    teacherCalls: 0, teacherErrors: 0, promptTokens: 0, completionTokens: 0, rounds: 0,
  };
  const report = () => opts.onProgress?.({ ...p, rejected: { ...p.rejected } });
  const call = async (messages: TeacherMessage[], o: TeacherOptions | undefined): Promise<TeacherReply | null> => {
    signal?.throwIfAborted();
    p.teacherCalls++;
    try {
      const r = await teacher.generate(messages, { ...o, signal });
      if (r.usage) {
        p.promptTokens += r.usage.promptTokens;
        p.completionTokens += r.usage.completionTokens;
      }
      return r;
    } catch (e) {
      signal?.throwIfAborted();
      p.teacherErrors++;
      return null;
    }
  };

  report();
  let idle = 0;
  const maxIdle = opts.maxIdleRounds ?? 20;
  while (p.kept < opts.target) {
    if (idle >= maxIdle) return { ...p, stopped: 'idle' };
    signal?.throwIfAborted();
    p.rounds++;
    const prompts: string[] = [];
    for (let b = 0; b < (opts.batchPrompts ?? 1); b++) {
      const nGen = Math.min(fromGenerated, generated.length, perPrompt);
      const nSeed = Math.min(perPrompt - nGen, seeds.length);
      const shown = [...rng.sample(seeds, nSeed), ...rng.sample(generated, nGen)];
      prompts.push(template.instructions(shown, nAsk));
    }
    const replies = await Promise.all(prompts.map((text) => call([{ role: 'user', content: text }], opts.instructionOptions)));
    signal?.throwIfAborted();

    const kept: ParsedTask[] = [];
    for (const r of replies) {
      if (!r) continue;
      for (const task of parseNumberedTasks(r.text, r.finishReason === 'length')) {
        const why = checkInstruction(task.instruction, filters) ?? (pool.max(task.instruction, { stopAbove: threshold }).score > threshold ? 'similar' : null);
        if (why) {
          p.rejected[why]++;
          continue;
        }
        // Joins the pool now so its siblings in this round are compared with it too.
        pool.add(task.instruction);
        kept.push(task);
      }
    }
    const room = opts.target - p.kept;
    const todo = kept.slice(0, room);
    const answers = await mapLimit(todo, opts.concurrency ?? 4, (t) => call(responseMessages(t.instruction, t.input, template.responseSystem), opts.responseOptions));
    signal?.throwIfAborted();
    let keptThisRound = 0;
    for (let i = 0; i < todo.length; i++) {
      const a = answers[i];
      const output = a && a.finishReason !== 'cancelled' ? a.text.trim() : '';
      if (!output) {
        p.rejected['response-failed']++;
        continue;
      }
      // The consumer may abort between two records of one round.
      signal?.throwIfAborted();
      generated.push(todo[i]);
      p.kept++;
      keptThisRound++;
      yield {
        instruction: todo[i].instruction, input: todo[i].input, output,
        teacher: teacher.name, prompt_version: promptVersion, generated_at: now().toISOString(),
      };
    }
    idle = keptThisRound > 0 ? 0 : idle + 1;
    report();
  }
  return { ...p, stopped: 'target' };
}

/** Drains `selfInstruct` into an array (for callers that do not stream). */
export async function selfInstructAll(teacher: Teacher, opts: SelfInstructOptions): Promise<{ records: SyntheticRecord[]; summary: SelfInstructSummary }> {
  const records: SyntheticRecord[] = [];
  const it = selfInstruct(teacher, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) return { records, summary: r.value };
    records.push(r.value);
  }
}
