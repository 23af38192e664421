// How `pupil train` turns a config file and flags into a RunConfig: the file first, flags on top
// (each flag names one field), then resolveRunConfig fills the defaults and validates. The result
// printed by --print-config and saved as the run's config.json re-runs the same job unchanged.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolveRunConfig, RunConfigError, type RunConfig } from '../train/config.ts';

export class UsageError extends Error {}

type Obj = Record<string, unknown>;

/** Parses a numeric flag, or throws a UsageError naming it. */
/**
 * The model a command serves or chats with: `--checkpoint DIR` or one positional argument, and a
 * known `--template`. Throws UsageError naming what is wrong.
 */
export function modelSourceFlags(values: { checkpoint?: string; template?: string }, positionals: readonly string[]): string {
  const source = values.checkpoint ?? positionals[0];
  if (!source) throw new UsageError('--checkpoint DIR is missing');
  if (positionals.length > (values.checkpoint ? 0 : 1)) throw new UsageError(`unexpected argument ${positionals.at(-1)}`);
  if (!['auto', 'model', 'chatml', 'alpaca'].includes(values.template!)) throw new UsageError(`unknown --template ${values.template} (auto, model, chatml or alpaca)`);
  return source;
}

export function numberFlag(name: string, value: string | undefined, check: { integer?: boolean; min?: number; max?: number; minExclusive?: boolean } = {}): number | undefined {
  if (value === undefined) return undefined;
  const x = Number(value);
  const kind = check.integer ? 'an integer' : 'a number';
  const want =
    check.min !== undefined && check.max !== undefined
      ? `${kind} in ${check.minExclusive ? '(' : '['}${check.min}, ${check.max}]`
      : check.min !== undefined
        ? `${kind} ${check.minExclusive ? '>' : '>='} ${check.min}`
        : kind;
  const ok = value.trim() !== '' && Number.isFinite(x) && (!check.integer || Number.isInteger(x)) && (check.min === undefined || (check.minExclusive ? x > check.min : x >= check.min)) && (check.max === undefined || x <= check.max);
  if (!ok) throw new UsageError(`--${name} must be ${want}, got ${JSON.stringify(value)}`);
  return x;
}


/** The flags of `pupil train` that set config fields: name → [section, field, kind]. */
export const CONFIG_FLAGS = {
  name: ['', 'name', 'string'],
  format: ['data', 'format', 'string'],
  template: ['data', 'template', 'string'],
  mask: ['data', 'mask', 'string'],
  'max-length': ['data', 'maxLength', 'int'],
  'too-long': ['data', 'tooLong', 'string'],
  validation: ['data', 'validation', 'number'],
  limit: ['data', 'limit', 'int'],
  steps: ['train', 'maxSteps', 'int'],
  epochs: ['train', 'epochs', 'number'],
  lr: ['train', 'lr', 'number'],
  'warmup-ratio': ['train', 'warmupRatio', 'number'],
  schedule: ['train', 'schedule', 'string'],
  'min-lr-ratio': ['train', 'minLrRatio', 'number'],
  batch: ['train', 'batchSize', 'int'],
  seq: ['train', 'seqLen', 'int'],
  accumulation: ['train', 'accumulation', 'int'],
  'weight-decay': ['train', 'weightDecay', 'number'],
  'max-grad-norm': ['train', 'maxGradNorm', 'number'],
  seed: ['train', 'seed', 'int'],
  'eval-every': ['eval', 'every', 'int'],
  'eval-batches': ['eval', 'batches', 'int'],
  'exact-match': ['eval', 'exactMatch', 'int'],
  'sample-tokens': ['eval', 'maxNewTokens', 'int'],
  'save-every': ['save', 'every', 'int'],
  // Scratch student knobs (only with a scratch student).
  hidden: ['scratch', 'hidden', 'int'],
  layers: ['scratch', 'layers', 'int'],
  heads: ['scratch', 'heads', 'int'],
  'kv-heads': ['scratch', 'kvHeads', 'int'],
  intermediate: ['scratch', 'intermediate', 'int'],
  'max-positions': ['scratch', 'maxPositions', 'int'],
  'init-seed': ['scratch', 'initSeed', 'int'],
  // Token-level distillation (one of teacher / topk).
  'distill-teacher': ['distill', 'teacher', 'string'],
  'distill-topk': ['distill', 'topk', 'string'],
  'distill-loss': ['distill', 'loss', 'string'],
  'distill-alpha': ['distill', 'alpha', 'number'],
  'distill-beta': ['distill', 'beta', 'number'],
  'distill-temperature': ['distill', 'temperature', 'number'],
  'distill-top-k': ['distill', 'topK', 'int'],
} as const satisfies Record<string, readonly [string, string, 'string' | 'int' | 'number']>;

export type ConfigFlag = keyof typeof CONFIG_FLAGS;

function parseValue(flag: string, value: string, kind: 'string' | 'int' | 'number'): string | number {
  if (kind === 'string') return value;
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x) || (kind === 'int' && !Number.isInteger(x))) {
    throw new UsageError(`--${flag} expects ${kind === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(value)}`);
  }
  return x;
}

/**
 * `--student`: "scratch" or "scratch:ARCH" (llama, qwen2, gpt2), an existing folder (a Hugging
 * Face model or a checkpoint), or a Hub id "owner/name[@revision]".
 */
export function studentFromFlag(s: string): Obj {
  const m = /^scratch(?::(\w+))?$/.exec(s);
  if (m) return { scratch: m[1] ? { arch: m[1] } : {} };
  if (existsSync(s)) return { path: s };
  const hub = /^([\w.-]+\/[\w.-]+)(?:@(.+))?$/.exec(s);
  if (hub) return { hub: hub[1], ...(hub[2] ? { revision: hub[2] } : {}) };
  throw new UsageError(`--student ${s}: not "scratch[:arch]", an existing folder, nor a Hub id (owner/name)`);
}

/** `--data`: "bundled", an http(s) URL, "hub:owner/name/path/in/repo.jsonl", or a file. */
export function dataFromFlag(s: string, flag = 'data'): unknown {
  if (s === 'bundled') return 'bundled';
  if (/^https?:\/\//.test(s)) return { url: s };
  const hub = /^hub:([\w.-]+\/[\w.-]+)(?:@([^/]+))?\/(.+)$/.exec(s);
  if (hub) return { hub: hub[1], file: hub[3], ...(hub[2] ? { revision: hub[2] } : {}) };
  if (existsSync(s) && statSync(s).isFile()) return { path: s };
  throw new UsageError(`--${flag} ${s}: no such file (or use "bundled", a URL or hub:owner/name/file)`);
}

export function readConfigFile(path: string): Obj {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--config ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as Obj;
  } catch (e) {
    throw new UsageError(`--config ${path}: ${(e as Error).message}`);
  }
}

/**
 * Applies flags to a raw config object (not resolved: defaults that depend on other fields, like
 * the learning rate for scratch students, must be recomputed after the override).
 */
export function applyFlags(base: Obj, flags: Partial<Record<ConfigFlag | 'student' | 'data' | 'validation-data', string>>): Obj {
  const out = structuredClone(base);
  const sec = (name: string): Obj => {
    const s = out[name];
    if (s === undefined) return (out[name] = {}) as Obj;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new UsageError(`the config's ${name} section is not an object`);
    return s as Obj;
  };
  if (flags.student !== undefined) out.student = studentFromFlag(flags.student);
  if (flags.data !== undefined) sec('data').source = dataFromFlag(flags.data);
  if (flags['validation-data'] !== undefined) sec('data').validationSource = dataFromFlag(flags['validation-data'], 'validation-data');
  for (const [flag, [section, field, kind]] of Object.entries(CONFIG_FLAGS)) {
    const v = flags[flag as ConfigFlag];
    if (v === undefined) continue;
    const value = parseValue(flag, v, kind);
    if (section === '') out[field] = value;
    else if (section === 'scratch') {
      const student = (out.student ?? { scratch: {} }) as Obj;
      if (typeof student !== 'object' || !('scratch' in student)) throw new UsageError(`--${flag} only applies to a scratch student (--student scratch)`);
      out.student = { ...student, scratch: { ...(student.scratch as Obj), [field]: value } };
    } else sec(section)[field] = value;
  }
  return out;
}

/** Resolves, turning a RunConfigError into a UsageError that names the field. */
export function resolveConfig(raw: Obj): RunConfig {
  try {
    return resolveRunConfig(raw);
  } catch (e) {
    if (e instanceof RunConfigError) throw new UsageError(`config ${e.message}`);
    throw e;
  }
}
