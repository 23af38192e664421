// Checkpoints as a set of named files, so the same bytes go to a Node folder, OPFS or a zip:
//   model.safetensors      parameters, f32, Hugging Face names and shapes (metadata format=pt, as
//                          transformers expects), loadable by safetensors/transformers as is
//   optimizer.safetensors  AdamW moments, f32: `m.<param>` and `v.<param>` for trainable params
//   trainer_state.json     step, epoch, position in the epoch, schedule, RNG, config, metrics
//   config.json            the model's config.json, when given
// Everything needed to resume lives here: the schedule is a pure function of (config, step) and
// the data order of (seed, epoch, position), so restoring these reproduces the uninterrupted run.
// Node file I/O is in checkpoint-node.ts so this file stays usable in pages and workers.

import { parseSafetensors, SafetensorsError, toFloat32, writeSafetensors, type TensorEntry, type WriteTensor } from '../models/safetensors.ts';
import { checkSchedule, ScheduleError, type ScheduleConfig } from '../optim/schedule.ts';

export const CHECKPOINT_VERSION = 1;
export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'trainer_state.json';
export const CONFIG_FILE = 'config.json';
const STATE_FORMAT = 'pupil-trainer-state';
const OPTIMIZER_FORMAT = 'pupil-adamw';

export class CheckpointError extends Error {
  constructor(message: string) {
    super(`checkpoint: ${message}`);
    this.name = 'CheckpointError';
  }
}

export interface TrainerState {
  /** Optimizer updates completed; the next update uses learningRate(step) and AdamW step + 1. */
  step: number;
  /** AdamW updates actually applied (fewer than `step` when non-finite steps were skipped). */
  adamStep?: number;
  /** 0-based epoch in progress. */
  epoch: number;
  /** Batches of `epoch` already consumed (the data order is epochBatches(…, seed, epoch)). */
  positionInEpoch: number;
  schedule: ScheduleConfig;
  /** u32s: the data shuffling seed and, for any other generator (dropout, sampling), its state. */
  rng: { seed: number; state?: number };
  /** AdamW hyper-parameters in use (the moments are in optimizer.safetensors). */
  optimizer?: { beta1: number; beta2: number; eps: number; weightDecay: number; gradClip?: number };
  /** The training configuration used, as the trainer serialises it. */
  trainConfig?: unknown;
  /** Metrics so far (e.g. { step, loss, gradNorm, lr }); non-finite numbers become null in JSON. */
  metrics?: Record<string, number | null>[];
}

export interface Checkpoint {
  params: ReadonlyMap<string, Float32Array>;
  /** HF shapes; a parameter without one is stored 1-D. */
  shapes?: ReadonlyMap<string, readonly number[]>;
  /** AdamW first and second moments, for trainable parameters only (same names, same sizes). */
  m: ReadonlyMap<string, Float32Array>;
  v: ReadonlyMap<string, Float32Array>;
  state: TrainerState;
  /** The model's Hugging Face config.json object. */
  config?: unknown;
}

export interface DecodedCheckpoint {
  params: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  state: TrainerState;
  config?: unknown;
}

/** A parameter the model expects (ParamSpec fits), for checking a checkpoint against a model. */
export interface ExpectedParam {
  name: string;
  shape: readonly number[];
  trainable?: boolean;
}

export function encodeCheckpoint(c: Checkpoint): Map<string, Uint8Array> {
  checkState(c.state);
  const shapeOf = (name: string, n: number): readonly number[] => {
    const s = c.shapes?.get(name);
    if (!s) return [n];
    if (s.reduce((a, b) => a * b, 1) !== n) throw new CheckpointError(`parameter ${name} has ${n} values but shape [${s}]`);
    return s;
  };
  const model = new Map<string, WriteTensor>();
  for (const [name, data] of c.params) model.set(name, { dtype: 'F32', shape: shapeOf(name, data.length), data });
  const opt = new Map<string, WriteTensor>();
  checkMoments(c.m, c.v, (name) => c.params.get(name)?.length);
  for (const [which, moments] of [['m', c.m], ['v', c.v]] as const) {
    for (const [name, data] of moments) opt.set(`${which}.${name}`, { dtype: 'F32', shape: model.get(name)!.shape, data });
  }
  const files = new Map<string, Uint8Array>();
  files.set(MODEL_FILE, writeSafetensors(model, { format: 'pt' }, MODEL_FILE));
  files.set(OPTIMIZER_FILE, writeSafetensors(opt, { format: OPTIMIZER_FORMAT, version: String(CHECKPOINT_VERSION) }, OPTIMIZER_FILE));
  files.set(STATE_FILE, jsonBytes({ format: STATE_FORMAT, version: CHECKPOINT_VERSION, ...c.state }));
  if (c.config !== undefined) files.set(CONFIG_FILE, jsonBytes(c.config));
  return files;
}

/**
 * Parses and cross-checks the files of a checkpoint. With `expected` (the model's parameters),
 * also checks that every parameter is present with its shape and every trainable one has moments.
 */
export function decodeCheckpoint(files: ReadonlyMap<string, Uint8Array>, expected?: readonly ExpectedParam[]): DecodedCheckpoint {
  const need = (name: string): Uint8Array => {
    const b = files.get(name);
    if (!b) throw new CheckpointError(`${name} is missing (files present: ${[...files.keys()].join(', ') || 'none'})`);
    return b;
  };
  const stateJson = parseJson(need(STATE_FILE), STATE_FILE);
  if (!isObject(stateJson) || stateJson.format !== STATE_FORMAT) throw new CheckpointError(`${STATE_FILE} is not a Pupil trainer state (format ${JSON.stringify(isObject(stateJson) ? stateJson.format : undefined)})`);
  if (stateJson.version !== CHECKPOINT_VERSION) throw new CheckpointError(`${STATE_FILE} has format version ${JSON.stringify(stateJson.version)}; this Pupil reads version ${CHECKPOINT_VERSION}`);
  const { format: _f, version: _v, ...rest } = stateJson;
  const state = rest as unknown as TrainerState;
  checkState(state);

  const model = safetensors(need(MODEL_FILE), MODEL_FILE);
  const params = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  for (const [name, t] of model.tensors) {
    params.set(name, f32(t, MODEL_FILE, name));
    shapes.set(name, t.shape);
  }

  const opt = safetensors(need(OPTIMIZER_FILE), OPTIMIZER_FILE);
  if (opt.metadata.format !== OPTIMIZER_FORMAT || opt.metadata.version !== String(CHECKPOINT_VERSION)) {
    throw new CheckpointError(`${OPTIMIZER_FILE} has format ${JSON.stringify(opt.metadata.format)} version ${JSON.stringify(opt.metadata.version)}; expected ${OPTIMIZER_FORMAT} version ${CHECKPOINT_VERSION}`);
  }
  const m = new Map<string, Float32Array>();
  const v = new Map<string, Float32Array>();
  for (const [key, t] of opt.tensors) {
    const dot = key.indexOf('.');
    const which = key.slice(0, dot);
    const name = key.slice(dot + 1);
    if (dot < 0 || (which !== 'm' && which !== 'v')) throw new CheckpointError(`${OPTIMIZER_FILE}: tensor ${key} is neither m.<param> nor v.<param>`);
    const shape = shapes.get(name);
    if (!shape) throw new CheckpointError(`${OPTIMIZER_FILE}: ${key} is for a parameter that ${MODEL_FILE} does not have`);
    if (shape.join() !== t.shape.join()) throw new CheckpointError(`${OPTIMIZER_FILE}: ${key} has shape [${t.shape}] but the parameter has [${shape}]`);
    (which === 'm' ? m : v).set(name, f32(t, OPTIMIZER_FILE, key));
  }
  checkMoments(m, v, (name) => params.get(name)?.length);

  if (expected) {
    const names = new Set(expected.map((e) => e.name));
    for (const e of expected) {
      const shape = shapes.get(e.name);
      if (!shape) throw new CheckpointError(`${MODEL_FILE} lacks parameter ${e.name}`);
      if (shape.join() !== e.shape.join()) throw new CheckpointError(`parameter ${e.name} has shape [${shape}] in the checkpoint but the model expects [${e.shape}]`);
      if ((e.trainable ?? true) && !m.has(e.name)) throw new CheckpointError(`${OPTIMIZER_FILE} has no moments for trainable parameter ${e.name}`);
    }
    for (const name of params.keys()) if (!names.has(name)) throw new CheckpointError(`${MODEL_FILE} has parameter ${name}, which the model does not`);
  }

  const out: DecodedCheckpoint = { params, shapes, m, v, state };
  const cfg = files.get(CONFIG_FILE);
  if (cfg) out.config = parseJson(cfg, CONFIG_FILE);
  return out;
}

function checkMoments(m: ReadonlyMap<string, Float32Array>, v: ReadonlyMap<string, Float32Array>, sizeOf: (name: string) => number | undefined): void {
  for (const [a, b, an, bn] of [[m, v, 'm', 'v'], [v, m, 'v', 'm']] as const) {
    for (const [name, data] of a) {
      const n = sizeOf(name);
      if (n === undefined) throw new CheckpointError(`optimizer state ${an}.${name} is for an unknown parameter`);
      if (data.length !== n) throw new CheckpointError(`optimizer state ${an}.${name} has ${data.length} values but the parameter has ${n}`);
      if (!b.has(name)) throw new CheckpointError(`optimizer state has ${an}.${name} but no ${bn}.${name}`);
    }
  }
}

const U32_MAX = 2 ** 32 - 1;

function checkState(s: TrainerState): void {
  if (!isObject(s)) throw new CheckpointError('trainer state must be an object');
  for (const k of ['step', 'epoch', 'positionInEpoch'] as const) {
    if (!Number.isSafeInteger(s[k]) || s[k] < 0) throw new CheckpointError(`trainer state ${k} must be an integer >= 0, got ${JSON.stringify(s[k])}`);
  }
  if (s.adamStep !== undefined && (!Number.isSafeInteger(s.adamStep) || s.adamStep < 0 || s.adamStep > s.step)) {
    throw new CheckpointError(`trainer state adamStep must be an integer from 0 to step (${s.step}), got ${JSON.stringify(s.adamStep)}`);
  }
  if (!isObject(s.schedule)) throw new CheckpointError('trainer state schedule is missing');
  try {
    checkSchedule(s.schedule);
  } catch (e) {
    if (e instanceof ScheduleError) throw new CheckpointError(`trainer state: ${e.message}`);
    throw e;
  }
  if (!isObject(s.rng)) throw new CheckpointError('trainer state rng is missing');
  for (const k of ['seed', 'state'] as const) {
    const x = s.rng[k];
    if (k === 'state' && x === undefined) continue;
    if (!Number.isInteger(x) || (x as number) < 0 || (x as number) > U32_MAX) throw new CheckpointError(`trainer state rng.${k} must be a u32, got ${JSON.stringify(x)}`);
  }
}

function safetensors(bytes: Uint8Array, file: string): ReturnType<typeof parseSafetensors> {
  try {
    return parseSafetensors(bytes, file);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new CheckpointError(e.message);
    throw e;
  }
}

function f32(t: TensorEntry, file: string, name: string): Float32Array {
  if (t.dtype !== 'F32') throw new CheckpointError(`${file}: ${name} is ${t.dtype}; checkpoints hold F32 so that resuming is exact`);
  return toFloat32(t, name);
}

function isObject(x: unknown): x is Record<string, any> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function jsonBytes(x: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(x, null, 2) + '\n');
}

function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new CheckpointError(`${file} is not valid JSON (${(e as Error).message})`);
  }
}
