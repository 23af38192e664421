// One serialisable object describes a training run. `resolveRunConfig` fills every default and
// validates every field, so the resolved object, written out as JSON and read back, reproduces the
// run unchanged (resolving it again is the identity). Unknown fields are errors: a misspelt
// "learningRate" silently ignored would train with the default.
import type { FieldMapping } from '../data/load.ts';
import type { MaskPolicy, TooLongPolicy } from '../data/mask.ts';
import type { TemplateChoice } from '../data/template.ts';
import type { RecordFormat } from '../data/types.ts';
import type { HFConfig } from '../models/config.ts';
import type { TinyArch } from '../models/init.ts';
import type { ScheduleKind } from '../optim/schedule.ts';

/** A from-scratch student: tinyConfig's knobs; the tokenizer is the byte-level one (V 260). */
export interface ScratchStudent {
  arch: TinyArch;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  maxPositions: number;
  tie: boolean;
  /** Seed of the initial weights. */
  initSeed: number;
}

export type StudentSpec =
  | { scratch: ScratchStudent }
  | { hub: string; revision?: string }
  | { path: string }
  /** A from-scratch student from a full config.json (byte-level tokenizer: vocab_size ≥ 260). */
  | { config: HFConfig; initSeed?: number };

export type DataSource = 'bundled' | { path: string } | { url: string } | { hub: string; file: string; revision?: string };

export interface DataConfig {
  source: DataSource;
  format: RecordFormat | 'auto';
  mapping?: FieldMapping;
  mask: MaskPolicy;
  template: TemplateChoice;
  /** Longest example in tokens (default: train.seqLen); longer ones follow `tooLong`. */
  maxLength: number;
  tooLong: TooLongPolicy;
  packing: boolean;
  /** Held-out share (< 1) or count (≥ 1) of the training examples, for validation loss. */
  validation: number;
  /**
   * Validate on this data instead (all of it, read and tokenized like the training data), and
   * train on every training example: runs trained on different data then share one yardstick.
   * 'bundled' is the bundled held-out test file (data/pupil-tasks/test.jsonl).
   */
  validationSource?: DataSource;
  /** Keep at most this many examples (before the split). */
  limit?: number;
}

export interface TrainHyper {
  lr: number;
  warmupRatio: number;
  schedule: ScheduleKind;
  minLrRatio: number;
  /** Passes over the data; ignored when maxSteps is set. */
  epochs: number;
  /** Optimizer steps in the run; epochs repeat (reshuffled) as needed. */
  maxSteps?: number;
  batchSize: number;
  seqLen: number;
  accumulation: number;
  weightDecay: number;
  maxGradNorm: number;
  betas: [number, number];
  seed: number;
  recompute: boolean;
  /** Bytes the training step may use in total (the per-buffer device limits always apply). */
  memoryBudget?: number;
  /** Stop with an error after this many non-finite (skipped) steps in a row. */
  maxNonFinite: number;
}

export interface EvalConfig {
  /** Evaluate every N optimizer steps (0: only at the start and the end). */
  every: number;
  /** Also evaluate before the first step, so curves and exact-match have a starting point. */
  atStart: boolean;
  /** Validation batches per evaluation (0: all). */
  batches: number;
  /** Fixed prompts (user messages) whose greedy continuations are shown at each evaluation. */
  samples: string[];
  /** Held-out bundled tasks scored by exact match (0: off; only with the bundled dataset). */
  exactMatch: number;
  maxNewTokens: number;
}

/** `run:<runId>`: a model path naming one of this browser's saved runs (the studio's teachers). */
export function runPath(runId: string): string {
  return `run:${runId}`;
}

/** The run id of a `run:<runId>` path, or undefined for any other path. */
export function runOfPath(path: string): string | undefined {
  return path.startsWith('run:') ? path.slice(4) : undefined;
}

/**
 * Token-level distillation: loss = alpha·CE + (1 − alpha)·D over the teacher's top-k, from a
 * frozen Pupil teacher (online) or a `pupil distill topk` file (offline). Validation stays plain CE.
 */
export interface DistillConfig {
  /** Online: a checkpoint or model folder with the student's tokenizer and vocabulary. */
  teacher?: string;
  /** Offline: a .topk.safetensors file computed for this data (its K is used). */
  topk?: string;
  loss: 'forward' | 'reverse' | 'jsd';
  alpha: number;
  /** JSD only, TRL's meaning: 0 = forward KL, 1 = reverse KL. */
  beta: number;
  temperature: number;
  /** Teacher entries per token (online only). */
  topK: number;
}

export interface RunConfig {
  name: string;
  student: StudentSpec;
  data: DataConfig;
  train: TrainHyper;
  eval: EvalConfig;
  save: { every: number };
  /** Absent: plain cross-entropy. */
  distill?: DistillConfig;
}

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
/** What users write: any field may be left out. `student` may be partial inside `scratch`. */
export type RunConfigInput = DeepPartial<Omit<RunConfig, 'student'>> & {
  student?: { scratch?: Partial<ScratchStudent> } | { hub: string; revision?: string } | { path: string } | { config: HFConfig; initSeed?: number };
};

export class RunConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'RunConfigError';
  }
}

/** Learns the bundled tasks in a few thousand steps; ~0.8 M parameters. */
export const DEFAULT_SCRATCH: ScratchStudent = { arch: 'llama', hidden: 128, layers: 4, heads: 4, kvHeads: 2, intermediate: 384, maxPositions: 256, tie: true, initSeed: 0 };
export const SCRATCH_LR = 1e-3;
export const PRETRAINED_LR = 2e-5;

/** Phrasings from the bundled test split (held out from training), one per family or so. */
export const DEFAULT_SAMPLES = [
  'Calculate 35 + 2.',
  'With which letter does garden begin?',
  'List these from lowest to highest: 99, 48, 38, 30, 50, 79',
  'Rewrite without capital letters.\n\nMelon',
];

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

function noExtra(o: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new RunConfigError(path ? `${path}.${k}` : k, `unknown field (expected one of ${allowed.join(', ')})`);
}

function section(x: unknown, path: string): Record<string, unknown> {
  if (x === undefined) return {};
  if (!isObj(x)) throw new RunConfigError(path, `expected an object, got ${show(x)}`);
  return x;
}

// Field readers: each takes the raw value, the default and the dotted path.
function num(v: unknown, d: number | undefined, path: string, check: (n: number) => boolean, what: string): number {
  const x = v ?? d;
  if (typeof x !== 'number' || !Number.isFinite(x) || !check(x)) throw new RunConfigError(path, `expected ${what}, got ${show(v)}`);
  return x;
}
const positive = (v: unknown, d: number | undefined, p: string) => num(v, d, p, (n) => n > 0, 'a positive number');
const int = (v: unknown, d: number | undefined, p: string, min: number) => num(v, d, p, (n) => Number.isSafeInteger(n) && n >= min, `an integer >= ${min}`);
const fraction = (v: unknown, d: number, p: string) => num(v, d, p, (n) => n >= 0 && n <= 1, 'a number from 0 to 1');
const u32 = (v: unknown, d: number, p: string) => num(v, d, p, (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff, 'an integer from 0 to 4294967295');

function bool(v: unknown, d: boolean, path: string): boolean {
  const x = v ?? d;
  if (typeof x !== 'boolean') throw new RunConfigError(path, `expected true or false, got ${show(v)}`);
  return x;
}

function oneOf<T extends string>(v: unknown, d: T, path: string, options: readonly T[]): T {
  const x = v ?? d;
  if (!options.includes(x as T)) throw new RunConfigError(path, `expected one of ${options.join(', ')}, got ${show(v)}`);
  return x as T;
}

function str(v: unknown, path: string, d?: string): string {
  const x = v ?? d;
  if (typeof x !== 'string' || x.trim() === '') throw new RunConfigError(path, `expected a non-empty string, got ${show(v)}`);
  return x;
}

function resolveStudent(raw: unknown): StudentSpec {
  const s = section(raw ?? { scratch: {} }, 'student');
  const kinds = ['scratch', 'hub', 'path', 'config'].filter((k) => k in s);
  if (kinds.length !== 1) throw new RunConfigError('student', `expected exactly one of scratch, hub, path or config, got ${kinds.length ? kinds.join(' and ') : 'none'}`);
  const kind = kinds[0];
  if (kind === 'hub') {
    noExtra(s, 'student', ['hub', 'revision']);
    return { hub: str(s.hub, 'student.hub'), ...(s.revision !== undefined ? { revision: str(s.revision, 'student.revision') } : {}) };
  }
  if (kind === 'path') {
    noExtra(s, 'student', ['path']);
    return { path: str(s.path, 'student.path') };
  }
  if (kind === 'config') {
    noExtra(s, 'student', ['config', 'initSeed']);
    if (!isObj(s.config)) throw new RunConfigError('student.config', `expected a config.json object, got ${show(s.config)}`);
    return { config: s.config, initSeed: u32(s.initSeed, 0, 'student.initSeed') };
  }
  const c = section(s.scratch, 'student.scratch');
  noExtra(s, 'student', ['scratch']);
  noExtra(c, 'student.scratch', Object.keys(DEFAULT_SCRATCH));
  const d = DEFAULT_SCRATCH;
  const p = (k: string) => `student.scratch.${k}`;
  const hidden = int(c.hidden, d.hidden, p('hidden'), 1);
  const heads = int(c.heads, d.heads, p('heads'), 1);
  const kvHeads = int(c.kvHeads, Math.min(d.kvHeads, heads), p('kvHeads'), 1);
  if (hidden % heads !== 0) throw new RunConfigError(p('heads'), `hidden (${hidden}) must be a multiple of heads (${heads})`);
  if (heads % kvHeads !== 0) throw new RunConfigError(p('kvHeads'), `heads (${heads}) must be a multiple of kvHeads (${kvHeads})`);
  const arch = oneOf(c.arch, d.arch, p('arch'), ['llama', 'qwen2', 'gpt2'] as const);
  return {
    scratch: {
      arch,
      hidden,
      layers: int(c.layers, d.layers, p('layers'), 1),
      heads,
      kvHeads,
      intermediate: int(c.intermediate, arch === 'gpt2' ? 4 * hidden : 3 * hidden, p('intermediate'), 1),
      maxPositions: int(c.maxPositions, d.maxPositions, p('maxPositions'), 2),
      tie: bool(c.tie, d.tie, p('tie')),
      initSeed: u32(c.initSeed, d.initSeed, p('initSeed')),
    },
  };
}

function resolveSource(v: unknown, field = 'data.source'): DataSource {
  if (v === undefined || v === 'bundled') return 'bundled';
  if (!isObj(v)) throw new RunConfigError(field, `expected "bundled", { path }, { url } or { hub, file }, got ${show(v)}`);
  if ('path' in v) {
    noExtra(v, field, ['path']);
    return { path: str(v.path, `${field}.path`) };
  }
  if ('url' in v) {
    noExtra(v, field, ['url']);
    return { url: str(v.url, `${field}.url`) };
  }
  if ('hub' in v) {
    noExtra(v, field, ['hub', 'file', 'revision']);
    return { hub: str(v.hub, `${field}.hub`), file: str(v.file, `${field}.file`), ...(v.revision !== undefined ? { revision: str(v.revision, `${field}.revision`) } : {}) };
  }
  throw new RunConfigError(field, `expected "bundled", { path }, { url } or { hub, file }, got ${show(v)}`);
}

const TOP = ['name', 'student', 'data', 'train', 'eval', 'save', 'distill'];
const DISTILL = ['teacher', 'topk', 'loss', 'alpha', 'beta', 'temperature', 'topK'];

function resolveDistill(raw: unknown): DistillConfig | undefined {
  if (raw === undefined) return undefined;
  const d = section(raw, 'distill');
  noExtra(d, 'distill', DISTILL);
  const sources = (['teacher', 'topk'] as const).filter((k) => d[k] !== undefined);
  if (sources.length !== 1) throw new RunConfigError('distill', `expected exactly one of teacher (a checkpoint folder, online) or topk (a top-k file, offline), got ${sources.length ? 'both' : 'neither'}`);
  const src = sources[0];
  return {
    [src]: str(d[src], `distill.${src}`),
    loss: oneOf(d.loss, 'forward', 'distill.loss', ['forward', 'reverse', 'jsd'] as const),
    alpha: fraction(d.alpha, 0.5, 'distill.alpha'),
    beta: fraction(d.beta, 0.5, 'distill.beta'),
    temperature: positive(d.temperature, 1, 'distill.temperature'),
    topK: num(d.topK, 16, 'distill.topK', (n) => Number.isInteger(n) && n >= 1 && n <= 256, 'an integer from 1 to 256'),
  };
}
const DATA = ['source', 'format', 'mapping', 'mask', 'template', 'maxLength', 'tooLong', 'packing', 'validation', 'validationSource', 'limit'];
const TRAIN = ['lr', 'warmupRatio', 'schedule', 'minLrRatio', 'epochs', 'maxSteps', 'batchSize', 'seqLen', 'accumulation', 'weightDecay', 'maxGradNorm', 'betas', 'seed', 'recompute', 'memoryBudget', 'maxNonFinite'];
const EVAL = ['every', 'atStart', 'batches', 'samples', 'exactMatch', 'maxNewTokens'];

/** Fills the defaults and validates; throws a RunConfigError naming the first bad field. */
export function resolveRunConfig(input: RunConfigInput | unknown = {}): RunConfig {
  const top = section(input, 'config');
  noExtra(top, '', TOP);
  const student = resolveStudent(top.student);
  const scratch = 'scratch' in student || 'config' in student;

  const t = section(top.train, 'train');
  noExtra(t, 'train', TRAIN);
  const seqLen = int(t.seqLen, Math.min(128, 'scratch' in student ? student.scratch.maxPositions : 128), 'train.seqLen', 1);
  if ('scratch' in student && seqLen > student.scratch.maxPositions) {
    throw new RunConfigError('train.seqLen', `${seqLen} exceeds the student's maxPositions (${student.scratch.maxPositions})`);
  }
  const betas = t.betas ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2 || !betas.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
    throw new RunConfigError('train.betas', `expected two numbers in [0, 1), got ${show(t.betas)}`);
  }
  const train: TrainHyper = {
    lr: positive(t.lr, scratch ? SCRATCH_LR : PRETRAINED_LR, 'train.lr'),
    warmupRatio: fraction(t.warmupRatio, 0.04, 'train.warmupRatio'),
    schedule: oneOf(t.schedule, 'cosine', 'train.schedule', ['cosine', 'linear', 'constant'] as const),
    minLrRatio: fraction(t.minLrRatio, scratch ? 0.1 : 0, 'train.minLrRatio'),
    epochs: positive(t.epochs, 3, 'train.epochs'),
    ...(t.maxSteps !== undefined ? { maxSteps: int(t.maxSteps, undefined, 'train.maxSteps', 1) } : {}),
    batchSize: int(t.batchSize, 8, 'train.batchSize', 1),
    seqLen,
    accumulation: int(t.accumulation, 1, 'train.accumulation', 1),
    // Scratch students regularise like nanoGPT; fine-tuning follows HF's default of none.
    weightDecay: num(t.weightDecay, scratch ? 0.1 : 0, 'train.weightDecay', (n) => n >= 0 && n <= 1, 'a number from 0 to 1'),
    maxGradNorm: num(t.maxGradNorm, 1, 'train.maxGradNorm', (n) => n >= 0, 'a number >= 0 (0: no clipping)'),
    betas: [betas[0], betas[1]],
    seed: u32(t.seed, 42, 'train.seed'),
    recompute: bool(t.recompute, false, 'train.recompute'),
    ...(t.memoryBudget !== undefined ? { memoryBudget: positive(t.memoryBudget, undefined, 'train.memoryBudget') } : {}),
    maxNonFinite: int(t.maxNonFinite, 5, 'train.maxNonFinite', 1),
  };

  const d = section(top.data, 'data');
  noExtra(d, 'data', DATA);
  const source = resolveSource(d.source);
  const maxLength = int(d.maxLength, seqLen, 'data.maxLength', 2);
  const packing = bool(d.packing, true, 'data.packing');
  if (maxLength > seqLen) throw new RunConfigError('data.maxLength', `${maxLength} exceeds train.seqLen (${seqLen}): a batch row must hold an example`);
  if (d.mapping !== undefined && !isObj(d.mapping)) throw new RunConfigError('data.mapping', `expected an object, got ${show(d.mapping)}`);
  const data: DataConfig = {
    source,
    format: oneOf(d.format, 'auto', 'data.format', ['auto', 'alpaca', 'chat', 'sharegpt', 'completion', 'mapped'] as const),
    ...(d.mapping !== undefined ? { mapping: d.mapping as unknown as FieldMapping } : {}),
    mask: oneOf(d.mask, 'assistant', 'data.mask', ['assistant', 'last-assistant', 'all-tokens'] as const),
    template: oneOf(d.template, 'auto', 'data.template', ['auto', 'model', 'chatml', 'alpaca'] as const),
    maxLength,
    tooLong: oneOf(d.tooLong, 'reject', 'data.tooLong', ['reject', 'truncate-left', 'truncate-right'] as const),
    packing,
    validation: num(d.validation, 0.05, 'data.validation', (n) => n > 0 && (n < 1 || Number.isInteger(n)), 'a fraction in (0, 1) or a count >= 1'),
    ...(d.validationSource !== undefined ? { validationSource: resolveSource(d.validationSource, 'data.validationSource') } : {}),
    ...(d.limit !== undefined ? { limit: int(d.limit, undefined, 'data.limit', 2) } : {}),
  };

  const e = section(top.eval, 'eval');
  noExtra(e, 'eval', EVAL);
  const samples = e.samples ?? DEFAULT_SAMPLES;
  if (!Array.isArray(samples) || !samples.every((s) => typeof s === 'string' && s.trim() !== '')) {
    throw new RunConfigError('eval.samples', `expected a list of non-empty prompts, got ${show(e.samples)}`);
  }
  const ev: EvalConfig = {
    every: int(e.every, 100, 'eval.every', 0),
    atStart: bool(e.atStart, true, 'eval.atStart'),
    batches: int(e.batches, 16, 'eval.batches', 0),
    samples: [...samples],
    exactMatch: int(e.exactMatch, source === 'bundled' ? 64 : 0, 'eval.exactMatch', 0),
    maxNewTokens: int(e.maxNewTokens, 48, 'eval.maxNewTokens', 1),
  };
  if (ev.exactMatch > 0 && source !== 'bundled') throw new RunConfigError('eval.exactMatch', 'exact match scores the held-out bundled tasks: it needs data.source "bundled"');

  const s = section(top.save, 'save');
  noExtra(s, 'save', ['every']);
  return {
    name: str(top.name, 'name', 'run'),
    student,
    data,
    train,
    eval: ev,
    save: { every: int(s.every, 500, 'save.every', 0) },
    ...(top.distill !== undefined ? { distill: resolveDistill(top.distill) } : {}),
  };
}

/** JSON of a resolved config, to write next to a run and pass back to resolveRunConfig. */
export function exportRunConfig(c: RunConfig): string {
  return JSON.stringify(c, null, 2) + '\n';
}
