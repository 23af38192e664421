// The memory plan of a training step: every GPU buffer the step will hold for a (B, T), priced
// before anything is allocated, so a plan that cannot work fails with a useful message instead of
// a device error halfway through building. Letters: B batch, T sequence, P trainable elements.
import type { Architecture } from '../models/architecture.ts';
import type { ModelConfig } from '../models/config.ts';
import { ParamLayout } from '../models/params.ts';
import { decayMaskShape } from '../ops/adamw.ts';
import { partialsShape } from '../ops/reduce.ts';
import { lmHead, type HeadSpec } from './head.ts';
import { inputShapes, inputSpecOf } from './inputs.ts';
import { formatBytes } from '../util/format.ts';

export type MemoryGroup = 'params' | 'grads' | 'optimizer' | 'activations' | 'inputs' | 'head' | 'step';
const GROUPS: MemoryGroup[] = ['params', 'grads', 'optimizer', 'activations', 'inputs', 'head', 'step'];

export interface PlannedBuffer {
  name: string;
  group: MemoryGroup;
  shape: number[];
  bytes: number;
  /** Its size depends on (B, T): a smaller batch or sequence shrinks it. */
  scales: boolean;
}

export interface PlanRequest {
  arch: Architecture;
  cfg: ModelConfig;
  B: number;
  T: number;
  /** The parameter layout (frozen parameters get no gradient and no moments); default: all trainable. */
  layout?: ParamLayout;
  recompute?: boolean;
  head?: HeadSpec;
}

export interface MemoryPlan {
  B: number;
  T: number;
  buffers: PlannedBuffer[];
  /** Bytes per group. */
  bytes: Record<MemoryGroup, number>;
  total: number;
  biggest: PlannedBuffer;
  request: PlanRequest;
}

/** Bytes of the buffer rt.tensor allocates for a shape of 4-byte elements (never below 4). */
function bytesOf(shape: readonly number[]): number {
  return Math.max(4, 4 * shape.reduce((a, b) => a * b, 1));
}

/** The training step's buffers for (B, T). Mirrors what TrainStep allocates. */
export function planMemory(req: PlanRequest): MemoryPlan {
  const { arch, cfg, B, T } = req;
  if (!(Number.isInteger(B) && B > 0 && Number.isInteger(T) && T > 0)) throw new Error(`planMemory: B and T must be positive integers, got B ${B}, T ${T}`);
  const layout = req.layout ?? new ParamLayout(arch.parameters(cfg));
  const head = req.head ?? lmHead();
  const buffers: PlannedBuffer[] = [];
  const add = (group: MemoryGroup, name: string, shape: number[], scales: boolean) => buffers.push({ name, group, shape, bytes: bytesOf(shape), scales });

  const P = Math.max(1, layout.trainableSize);
  add('params', 'params', [P], false);
  if (layout.frozenSize) add('params', 'frozen params', [layout.frozenSize], false);
  add('grads', 'grads', [P], false);
  add('optimizer', 'adamw.m', [P], false);
  add('optimizer', 'adamw.v', [P], false);
  for (const [name, shape] of Object.entries(arch.activationShapes(cfg, B, T, { recompute: req.recompute }))) add('activations', name, shape, true);
  for (const [name, shape] of Object.entries(inputShapes(B, T, inputSpecOf(cfg)))) add('inputs', `inputs.${name}`, shape, true);
  const headShapes = head.shapes(cfg, B, T);
  for (const [name, shape] of Object.entries(headShapes)) add('head', name, shape, true);
  const rows = Math.max(B * T, ...Object.values(headShapes).map((s) => s.reduce((a, b) => a * b, 1)));
  add('step', 'decayMask', decayMaskShape(P), false);
  add('step', 'partials', partialsShape(Math.max(P, rows)), false);
  add('step', 'hyper', [6], false);
  add('step', 'stats', [64], false);
  add('step', 'evalStats', [64], false);
  add('step', 'gradScale', [1], false);

  const bytes = Object.fromEntries(GROUPS.map((g) => [g, 0])) as Record<MemoryGroup, number>;
  let total = 0;
  let biggest = buffers[0];
  for (const b of buffers) {
    bytes[b.group] += b.bytes;
    total += b.bytes;
    if (b.bytes > biggest.bytes) biggest = b;
  }
  return { B, T, buffers, bytes, total, biggest, request: { ...req, layout, head } };
}

export interface MemoryLimits {
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  /** Total bytes the step may use (e.g. a share of the adapter's memory); unlimited when absent. */
  budgetBytes?: number;
}

/** A plan that does not fit, with what would. */
export class MemoryPlanError extends Error {
  constructor(
    message: string,
    readonly plan: MemoryPlan,
    readonly biggest: PlannedBuffer,
    /** The largest batch (at the same T) and sequence (at the same B) that fit, when any does. */
    readonly suggestion: { B?: number; T?: number },
  ) {
    super(message);
    this.name = 'MemoryPlanError';
  }
}


/** The first reason the plan does not fit, or undefined. */
function problem(plan: MemoryPlan, limits: MemoryLimits): { kind: 'buffer'; buffer: PlannedBuffer; max: number } | { kind: 'total' } | undefined {
  const max = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const over = plan.buffers.filter((b) => b.bytes > max).sort((a, b) => b.bytes - a.bytes)[0];
  if (over) return { kind: 'buffer', buffer: over, max };
  if (limits.budgetBytes !== undefined && plan.total > limits.budgetBytes) return { kind: 'total' };
  return undefined;
}

/** Largest v in [1, hi) for which fits(v) holds, assuming fits is monotone; 0 if none. */
function largestFitting(hi: number, fits: (v: number) => boolean): number {
  let lo = 0; // fits(lo) is treated as true; hi is known not to fit
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Throws a MemoryPlanError when a single buffer exceeds what the device can bind or allocate, or
 * the total exceeds the budget. The message names the biggest offending buffer and, when a
 * smaller batch or sequence would fit, the largest that would.
 */
export function checkPlan(plan: MemoryPlan, limits: MemoryLimits): void {
  const p = problem(plan, limits);
  if (!p) return;
  const { B, T } = plan;
  const fitsWith = (b: number, t: number) => problem(planMemory({ ...plan.request, B: b, T: t }), limits) === undefined;
  const bFit = largestFitting(B, (b) => fitsWith(b, T));
  const tFit = largestFitting(T, (t) => fitsWith(B, t));
  const suggestion = { ...(bFit ? { B: bFit } : {}), ...(tFit ? { T: tFit } : {}) };
  const hints: string[] = [];
  if (bFit) hints.push(`a batch of ${bFit} at sequence length ${T}`);
  if (tFit) hints.push(`a sequence length of ${tFit} at batch ${B}`);
  const joined = hints.join(' or ');
  const advice = hints.length
    ? `${joined[0].toUpperCase()}${joined.slice(1)} would fit.`
    : fitsWith(1, 1)
      ? 'Reduce both the batch and the sequence length.'
      : 'No batch or sequence length is small enough: the model itself is too big for this device (choose a smaller model, or freeze parameters so they need no gradient and optimizer state).';
  const what = (b: PlannedBuffer) => `${b.group === 'activations' ? 'activation ' : ''}'${b.name}' (${b.shape.join(', ')})`;
  const head = `memory plan for batch ${B} × sequence ${T} does not fit this device:`;
  let message: string;
  if (p.kind === 'buffer') {
    const why = p.max === limits.maxStorageBufferBindingSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    message = `${head} the biggest buffer, ${what(p.buffer)}, needs ${formatBytes(p.buffer.bytes)}, over the ${formatBytes(p.max)} a single buffer may have (${why}). ${advice}`;
  } else {
    const parts = GROUPS.filter((g) => plan.bytes[g]).map((g) => `${g} ${formatBytes(plan.bytes[g])}`).join(', ');
    message = `${head} it needs ${formatBytes(plan.total)} in total (${parts}), over the budget of ${formatBytes(limits.budgetBytes!)}; the biggest buffer is ${what(plan.biggest)} at ${formatBytes(plan.biggest.bytes)}. ${advice}`;
  }
  throw new MemoryPlanError(message, plan, p.kind === 'buffer' ? p.buffer : plan.biggest, suggestion);
}
