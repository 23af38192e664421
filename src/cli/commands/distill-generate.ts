// `pupil distill self-instruct` and `pupil distill regenerate`: a teacher (an OpenAI-compatible
// endpoint, or one of the user's own checkpoints in-process) writes a dataset. The output is our
// Alpaca JSONL with provenance, appended one whole line per write so an interrupted run loses at
// most the line being written; rerunning with the same --out reads what is there and continues.
import cliProgress from 'cli-progress';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatRejection, loadDataset, type LoadResult } from '../../data/load.ts';
import { loadDatasetFile } from '../../data/node.ts';
import type { TemplateChoice } from '../../data/template.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import type { Example } from '../../data/types.ts';
import { regenerateResponses } from '../../distill/regenerate.ts';
import { exampleTask, type RegenerateTask } from '../../distill/task.ts';
import { selfInstruct, type RejectReason, type SeedTask, type SelfInstructSummary } from '../../distill/self-instruct.ts';
import type { Teacher, TeacherMessage, TeacherOptions, TeacherReply } from '../../distill/teacher.ts';
import { OpenAITeacher } from '../../distill/teachers/openai.ts';
import { formatDuration } from '../progress.ts';
import { numberFlag, UsageError } from '../train-config.ts';
import { readTokenizerDir } from './data.ts';

const TEACHER_HELP = `teacher (one of):
  --teacher SOURCE        a Pupil checkpoint, run folder, Hugging Face folder or Hub id, run
                          in-process (--template, --tokenizer DIR, --max-length N as in pupil chat)
  --teacher-url URL       an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1
    --teacher-model NAME  the model it serves (required with --teacher-url)
    --api-key-env VAR     read the API key from environment variable VAR (never from the
                          command line; it is never written anywhere)
    --tokenizer DIR       the teacher's tokenizer, to count tokens when the endpoint reports none
  --teacher-onnx MODEL    an ONNX model for transformers.js (a Hub id such as
                          onnx-community/Qwen2.5-0.5B-Instruct, or one written by pupil export
                          --format onnx and served over HTTP), run in-process on onnxruntime
                          (HF_ENDPOINT sets the Hub; files cached like Hub models)

generation:
  --concurrency N         requests in flight (default 4; a --teacher answers one at a time)
  --max-tokens N          tokens per reply (default 512)
  --temperature X         (default 0.7)
  --seed N                (default 0)

Rerunning with the same --out continues where it stopped. Ctrl-C stops and keeps what is written.`;

const SELF_INSTRUCT_USAGE = `usage: pupil distill self-instruct (--teacher SOURCE | --teacher-url URL --teacher-model NAME | --teacher-onnx MODEL) --count N --out FILE.jsonl [options]

New instructions in the style of the seed tasks (Self-Instruct), filtered (length, blacklist,
ROUGE-L against everything kept) and answered by the teacher.

  --seeds FILE            seed tasks, any dataset file pupil reads (default: one task of each kind
                          from the bundled data/pupil-tasks/train.jsonl)
  --count N               records wanted in --out, counting those already there
  --out FILE.jsonl        where the records go (appended)
  --max-idle-rounds N     give up after N rounds in a row that keep nothing (default 20)

${TEACHER_HELP}`;

const REGENERATE_USAGE = `usage: pupil distill regenerate (--teacher SOURCE | --teacher-url URL --teacher-model NAME | --teacher-onnx MODEL) --data FILE --out FILE.jsonl [options]

Keeps each record's instruction and input and has the teacher write a new response.

  --data FILE             the dataset (JSONL, JSON, CSV/TSV, Parquet; Alpaca, chat, ShareGPT)
  --out FILE.jsonl        where the records go (appended)
  --limit N               only the first N records of --data
  --system TEXT|none      the system turn for records without their own (default: none for a
                          --teacher, which answers in the format it was trained on; otherwise a
                          versioned prompt asking for short, direct answers)

${TEACHER_HELP}`;

const COMMON_OPTIONS = {
  teacher: { type: 'string' },
  'teacher-url': { type: 'string' },
  'teacher-model': { type: 'string' },
  'teacher-onnx': { type: 'string' },
  'api-key-env': { type: 'string' },
  tokenizer: { type: 'string' },
  template: { type: 'string', default: 'auto' },
  'max-length': { type: 'string' },
  concurrency: { type: 'string' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

type CommonValues = { [K in keyof typeof COMMON_OPTIONS]?: (typeof COMMON_OPTIONS)[K]['type'] extends 'string' ? string : boolean };

interface Settings {
  out: string;
  concurrency: number;
  options: TeacherOptions;
}

/** Validates the flags both subcommands share (no I/O). */
function commonSettings(v: CommonValues): Settings {
  const named = (['teacher', 'teacher-url', 'teacher-onnx'] as const).filter((f) => v[f]);
  if (named.length > 1) throw new UsageError(`${named.map((f) => `--${f}`).join(' and ')} ${named.length === 2 ? 'both' : 'all'} name a teacher; pass one`);
  if (!named.length) throw new UsageError('no teacher: pass --teacher SOURCE, --teacher-url URL --teacher-model NAME or --teacher-onnx MODEL');
  if (v['teacher-url']) {
    if (!/^https?:\/\//.test(v['teacher-url'])) throw new UsageError(`--teacher-url must start with http:// or https://, got ${JSON.stringify(v['teacher-url'])}`);
    if (!v['teacher-model']) throw new UsageError('--teacher-url needs --teacher-model NAME');
  } else {
    for (const f of ['teacher-model', 'api-key-env'] as const) if (v[f]) throw new UsageError(`--${f} goes with --teacher-url, not --teacher`);
  }
  if (v['api-key-env'] && !process.env[v['api-key-env']]) throw new UsageError(`--api-key-env ${v['api-key-env']}: that environment variable is not set`);
  if (!['auto', 'model', 'chatml', 'alpaca'].includes(v.template!)) throw new UsageError(`unknown --template ${v.template} (auto, model, chatml or alpaca)`);
  if (!v.out) throw new UsageError('--out FILE.jsonl is missing');
  if (existsSync(v.out) && statSync(v.out).isDirectory()) throw new UsageError(`--out ${v.out} is a folder; name a .jsonl file`);
  numberFlag('max-length', v['max-length'], { integer: true, min: 2 });
  return {
    out: v.out,
    concurrency: numberFlag('concurrency', v.concurrency, { integer: true, min: 1 }) ?? 4,
    options: {
      maxTokens: numberFlag('max-tokens', v['max-tokens'], { integer: true, min: 1 }) ?? 512,
      temperature: numberFlag('temperature', v.temperature, { min: 0, max: 2 }) ?? 0.7,
      seed: numberFlag('seed', v.seed, { integer: true, min: 0 }) ?? 0,
    },
  };
}

/** Counts completion tokens: from usage, else the teacher's tokenizer, else characters / 4. */
class CountingTeacher implements Teacher {
  tokens = 0;
  estimated = false;
  onReply?: () => void;
  constructor(
    readonly inner: Teacher,
    private readonly count?: (text: string) => number,
  ) {}
  get name() {
    return this.inner.name;
  }
  async generate(messages: TeacherMessage[], options?: TeacherOptions): Promise<TeacherReply> {
    const r = await this.inner.generate(messages, options);
    if (r.usage) this.tokens += r.usage.completionTokens;
    else if (this.count) this.tokens += this.count(r.text);
    else {
      this.tokens += Math.ceil(r.text.length / 4);
      this.estimated = true;
    }
    this.onReply?.();
    return r;
  }
  tokenText(): string {
    return `${this.estimated ? '~' : ''}${this.tokens} tokens${this.estimated ? ' (estimated: characters/4)' : ''}`;
  }
}

async function makeTeacher(v: CommonValues, concurrency: number, maxTokens: number): Promise<{ teacher: CountingTeacher; destroy: () => void }> {
  if (v['teacher-onnx']) {
    const [{ TransformersTeacher }, { hubOptionsFromEnv }, { defaultCacheDir }] = await Promise.all([
      import('../../distill/teachers/transformers.ts'), import('../../models/load-node.ts'), import('../../models/hub/cache-node.ts'),
    ]);
    const t = await TransformersTeacher.load({ model: v['teacher-onnx'], device: 'cpu', remoteHost: hubOptionsFromEnv().endpoint, cacheDir: join(defaultCacheDir(), 'transformers') });
    return { teacher: new CountingTeacher(t), destroy: () => void t.dispose() }; // replies carry usage
  }
  if (v.teacher) {
    const { loadPupilTeacher } = await import('./serve.ts');
    const maxLength = numberFlag('max-length', v['max-length'], { integer: true, min: 2 });
    const t = await loadPupilTeacher(v.teacher, { tokenizerDir: v.tokenizer, template: v.template as TemplateChoice, maxLength, defaultMaxTokens: maxTokens });
    return { teacher: new CountingTeacher(t), destroy: () => t.destroy() }; // replies carry usage
  }
  const apiKey = v['api-key-env'] ? process.env[v['api-key-env']] : undefined;
  const t = new OpenAITeacher({ baseUrl: v['teacher-url']!, model: v['teacher-model']!, apiKey, concurrency });
  const tok = v.tokenizer ? loadTokenizer(readTokenizerDir(v.tokenizer)) : undefined;
  return { teacher: new CountingTeacher(t, tok && ((s) => tok.encode(s).length)), destroy: () => {} };
}

/** The records already in `path` (a resumed run), and a line-atomic appender. */
export class JsonlOut {
  readonly records: Record<string, unknown>[] = [];
  /** Said once when an interrupted write left an incomplete last line, which is dropped. */
  note?: string;
  private fd?: number;
  /** A newline owed by a last line that was whole but unterminated. */
  private pending = '';

  constructor(readonly path: string) {
    if (!existsSync(path)) return;
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n');
    const last = lines.pop()!;
    let offset = 0;
    lines.forEach((line, i) => {
      offset += Buffer.byteLength(line) + 1;
      if (!line.trim()) return;
      this.records.push(parseLine(line, path, i + 1));
    });
    if (last.trim()) {
      try {
        this.records.push(parseLine(last, path, lines.length + 1));
        // Whole, but without its newline: the next append must start a line of its own.
        this.pending = '\n';
      } catch {
        truncateSync(path, offset);
        this.note = `${path}: dropped an incomplete last line (line ${lines.length + 1}, ${Buffer.byteLength(last)} bytes) left by an interrupted write`;
      }
    }
  }

  /** One write() per record on an O_APPEND descriptor: a line is in the file whole or not at all. */
  append(record: object): void {
    if (this.fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.fd = openSync(this.path, 'a');
    }
    writeSync(this.fd, this.pending + JSON.stringify(record) + '\n');
    this.pending = '';
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function parseLine(line: string, path: string, n: number): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    throw new Error(`${path}:${n}: not valid JSON (${(e as Error).message}); fix or remove that line, or pick another --out`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v) || typeof (v as { instruction?: unknown }).instruction !== 'string') {
    throw new Error(`${path}:${n}: not a record with a string "instruction"; is --out another kind of file?`);
  }
  return v as Record<string, unknown>;
}

/** done/total with the running token count: a bar on a terminal, a line now and then otherwise. */
class GenerationProgress {
  private readonly bar?: cliProgress.SingleBar;
  private readonly every: number;
  private lastPrinted: number;
  private readonly t0 = performance.now();
  constructor(
    private readonly label: string,
    private readonly total: number,
    start: number,
    private readonly tokens: () => string,
    private readonly stream: NodeJS.WriteStream = process.stdout,
  ) {
    this.every = Math.max(1, Math.ceil(total / 20));
    this.lastPrinted = start;
    if (stream.isTTY) {
      this.bar = new cliProgress.SingleBar({ stream, format: ` ${label} {bar} {value}/{total} | {tokens} | {elapsed}`, hideCursor: true, barsize: 30, fps: 5 }, cliProgress.Presets.shades_classic);
      this.bar.start(total, start, { tokens: tokens(), elapsed: '0s' });
    }
  }
  update(done: number): void {
    const elapsed = formatDuration((performance.now() - this.t0) / 1000);
    if (this.bar) return this.bar.update(done, { tokens: this.tokens(), elapsed });
    if (done - this.lastPrinted >= this.every || (done >= this.total && this.lastPrinted < this.total)) {
      this.lastPrinted = done;
      this.stream.write(`${this.label} ${done}/${this.total} | ${this.tokens()} | ${elapsed}\n`);
    }
  }
  stop(): void {
    this.bar?.stop();
  }
}

/** Ctrl-C aborts (what is written stays); a second Ctrl-C exits at once. */
function interruptible(): { signal: AbortSignal; interrupted: () => boolean; dispose: () => void } {
  const ctl = new AbortController();
  const onSig = () => {
    if (ctl.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping: the records written so far stay (Ctrl-C again quits at once)\n');
    ctl.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  return { signal: ctl.signal, interrupted: () => ctl.signal.aborted, dispose: () => (process.off('SIGINT', onSig), process.off('SIGTERM', onSig)) };
}

function reportRejections(loaded: LoadResult, skipped: { line: number; why: string }[], file: string): void {
  const total = loaded.rejections.length + skipped.length;
  if (!total) return;
  console.error(`${file}: ${total} record${total === 1 ? '' : 's'} skipped:`);
  const lines = [...loaded.rejections.map(formatRejection), ...skipped.map((s) => `${file}:${s.line}: ${s.why}`)];
  for (const l of lines.slice(0, 5)) console.error(`  ${l}`);
  if (lines.length > 5) console.error(`  ... and ${lines.length - 5} more (pupil data inspect ${file} lists them)`);
}

const BUNDLED_TRAIN = new URL('../../../data/pupil-tasks/train.jsonl', import.meta.url);

/** One task of each kind from the bundled dataset: its 51 task families, not 51 additions. */
async function bundledSeeds(): Promise<SeedTask[]> {
  const loaded = await loadDataset(readFileSync(BUNDLED_TRAIN, 'utf8'), { name: 'pupil-tasks/train.jsonl' });
  const seen = new Set<unknown>();
  const seeds: SeedTask[] = [];
  for (const e of loaded.examples) {
    const t = exampleTask(e);
    if (typeof t === 'string' || seen.has(t.task.task)) continue;
    seen.add(t.task.task);
    seeds.push({ instruction: t.task.instruction, input: t.task.input, output: t.output });
  }
  return seeds;
}

type Parsed<T> = { values: T; code?: undefined } | { code: number; values?: undefined };

function parse<T extends Record<string, unknown>>(name: string, usage: string, argv: string[], options: Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>): Parsed<T & CommonValues> {
  try {
    const { values } = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options } as never, allowPositionals: false });
    if ((values as CommonValues).help) {
      console.log(usage);
      return { code: 0 };
    }
    return { values: values as T & CommonValues };
  } catch (e) {
    console.error(`pupil distill ${name}: ${(e as Error).message}\n\n${usage}`);
    return { code: 2 };
  }
}

/** Runs `body` with usage errors as exit 2 and other failures as exit 1, both named. */
async function guarded(name: string, usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`pupil distill ${name}: ${e.message}\n\n${usage}`);
      return 2;
    }
    console.error(`pupil distill ${name}: ${(e as Error).message}`);
    return 1;
  }
}

export function selfInstructMain(argv: string[]): Promise<number> {
  const p = parse<{ seeds?: string; count?: string; 'max-idle-rounds'?: string }>('self-instruct', SELF_INSTRUCT_USAGE, argv, {
    seeds: { type: 'string' },
    count: { type: 'string' },
    'max-idle-rounds': { type: 'string' },
  });
  if (p.code !== undefined) return Promise.resolve(p.code);
  const v = p.values;
  return guarded('self-instruct', SELF_INSTRUCT_USAGE, async () => {
    const s = commonSettings(v);
    const count = numberFlag('count', v.count, { integer: true, min: 1 });
    if (count === undefined) throw new UsageError('--count N is missing');
    const maxIdle = numberFlag('max-idle-rounds', v['max-idle-rounds'], { integer: true, min: 1 }) ?? 20;
    let seeds: SeedTask[];
    if (v.seeds) {
      const loaded = await loadDatasetFile(v.seeds);
      const skipped: { line: number; why: string }[] = [];
      seeds = [];
      for (const e of loaded.examples) {
        const t = exampleTask(e);
        if (typeof t === 'string') skipped.push({ line: e.source.line, why: t });
        else seeds.push({ instruction: t.task.instruction, input: t.task.input, output: t.output });
      }
      reportRejections(loaded, skipped, v.seeds);
      if (!seeds.length) throw new Error(`${v.seeds}: no usable seed task (Alpaca or single-turn chat records)`);
    } else seeds = await bundledSeeds();

    const out = new JsonlOut(s.out);
    if (out.note) console.error(out.note);
    const before = out.records.length;
    if (before >= count) {
      console.log(`${s.out} already holds ${before} records (--count ${count}); nothing to do`);
      return 0;
    }
    const { teacher, destroy } = await makeTeacher(v, s.concurrency, s.options.maxTokens!);
    const stop = interruptible();
    const t0 = performance.now();
    const progress = new GenerationProgress('self-instruct', count, before, () => teacher.tokenText());
    let summary: SelfInstructSummary | undefined;
    let last: Omit<SelfInstructSummary, 'stopped'> | undefined;
    let kept = before;
    try {
      if (before) console.log(`resuming: ${before} records already in ${s.out}`);
      const gen = selfInstruct(teacher, {
        seeds, target: count, concurrency: s.concurrency, seed: s.options.seed, maxIdleRounds: maxIdle,
        instructionOptions: s.options, responseOptions: s.options, signal: stop.signal,
        state: out.records.map((r) => ({ instruction: r.instruction as string, input: typeof r.input === 'string' ? r.input : '' })),
        onProgress: (pr) => (last = pr),
      });
      teacher.onReply = () => progress.update(kept);
      for (;;) {
        const r = await gen.next();
        if (r.done) {
          summary = r.value;
          break;
        }
        out.append(r.value);
        progress.update(++kept);
      }
    } catch (e) {
      if (!stop.interrupted()) throw e;
    } finally {
      progress.stop();
      out.close();
      stop.dispose();
      destroy();
    }
    const rejected = (summary ?? last)?.rejected ?? ({} as Record<RejectReason, number>);
    const reasons = Object.entries(rejected).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    const nRejected = reasons.reduce((a, [, n]) => a + n, 0);
    const errors = (summary ?? last)?.teacherErrors ?? 0;
    console.log(
      `${stop.interrupted() ? 'interrupted' : 'done'}: ${kept} kept (${kept - before} new), ${nRejected} rejected` +
        (reasons.length ? ` (${reasons.map(([k, n]) => `${k} ${n}`).join(', ')})` : '') +
        (errors ? `, ${errors} teacher errors` : '') +
        `, ${teacher.tokenText()}, ${((performance.now() - t0) / 1000).toFixed(1)} s → ${s.out}`,
    );
    if (stop.interrupted()) return 130;
    if (summary?.stopped === 'idle') {
      console.error(`stopped after ${maxIdle} round${maxIdle === 1 ? '' : 's'} in a row without a new record: the teacher's replies held no numbered list of new tasks that passed the filters. Rerun to try again (what is written stays).`);
      return 1;
    }
    return 0;
  });
}

export function regenerateMain(argv: string[]): Promise<number> {
  const p = parse<{ data?: string; limit?: string; system?: string }>('regenerate', REGENERATE_USAGE, argv, { data: { type: 'string' }, limit: { type: 'string' }, system: { type: 'string' } });
  if (p.code !== undefined) return Promise.resolve(p.code);
  const v = p.values;
  return guarded('regenerate', REGENERATE_USAGE, async () => {
    const s = commonSettings(v);
    if (!v.data) throw new UsageError('--data FILE is missing');
    const limit = numberFlag('limit', v.limit, { integer: true, min: 1 });
    const loaded = await loadDatasetFile(v.data, { limit });
    const skipped: { line: number; why: string }[] = [];
    const tasks: { task: RegenerateTask; line: number }[] = [];
    for (const e of loaded.examples) {
      const t = exampleTask(e);
      if (typeof t === 'string') skipped.push({ line: e.source.line, why: t });
      else tasks.push({ task: t.task, line: e.source.line });
    }
    reportRejections(loaded, skipped, v.data);

    const out = new JsonlOut(s.out);
    if (out.note) console.error(out.note);
    // Resuming: a record already written stands for one source record with the same instruction
    // and input (counted, so repeated tasks in the data are each regenerated once).
    const key = (instruction: unknown, input: unknown) => JSON.stringify([instruction, typeof input === 'string' ? input : '']);
    const written = new Map<string, number>();
    for (const r of out.records) written.set(key(r.instruction, r.input), (written.get(key(r.instruction, r.input)) ?? 0) + 1);
    const todo = tasks.filter((t) => {
      const n = written.get(key(t.task.instruction, t.task.input)) ?? 0;
      if (n > 0) written.set(key(t.task.instruction, t.task.input), n - 1);
      return n === 0;
    });
    const already = tasks.length - todo.length;
    if (!todo.length) {
      console.log(`${s.out} already holds all ${tasks.length} records of ${v.data}; nothing to do`);
      return 0;
    }
    const { teacher, destroy } = await makeTeacher(v, s.concurrency, s.options.maxTokens!);
    const stop = interruptible();
    const t0 = performance.now();
    const progress = new GenerationProgress('regenerate', tasks.length, already, () => teacher.tokenText());
    if (already) console.log(`resuming: ${already} of ${tasks.length} records already in ${s.out}`);
    let result;
    try {
      result = await regenerateResponses(teacher, todo.map((t) => t.task), {
        concurrency: s.concurrency, options: s.options, signal: stop.signal, lines: todo.map((t) => t.line),
        ...(v.system !== undefined ? { system: v.system === 'none' ? null : v.system } : v.teacher ? { system: null } : {}),
        onRecord: (r) => out.append(r),
        onProgress: (pr) => progress.update(already + pr.done),
      });
    } finally {
      progress.stop();
      out.close();
      stop.dispose();
      destroy();
    }
    for (const f of result.failures.slice(0, 10)) console.error(`${v.data}:${f.line}: ${f.message}`);
    if (result.failures.length > 10) console.error(`... and ${result.failures.length - 10} more failures`);
    const kept = already + result.records.length;
    console.log(
      `${result.cancelled ? 'interrupted' : 'done'}: ${kept}/${tasks.length} regenerated (${result.records.length} new), ${result.failures.length} failed` +
        `, ${skipped.length + loaded.rejections.length} skipped, ${teacher.tokenText()}, ${((performance.now() - t0) / 1000).toFixed(1)} s → ${s.out}`,
    );
    if (result.cancelled) return 130;
    if (result.failures.length) {
      console.error(`${result.failures.length} records failed; rerun the same command to retry them`);
      return 1;
    }
    return 0;
  });
}
