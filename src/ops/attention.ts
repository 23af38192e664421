// Causal self-attention, flash style: the T x T scores never reach device memory. The forward keeps
// the log-sum-exp of each query's scores; the backward recomputes the probabilities from it
// (FlashAttention-2): a stats kernel (delta, packed with lse), a dk/dv kernel that iterates over
// query tiles (and over the query heads of a kv head, so the GQA sum is deterministic), and a dq
// kernel. On CPU adapters the subgroup variant fuses dq into dk/dv (backward_fused: one workgroup
// per (b, kv head) owns its dq rows and adds into them in place), which saves recomputing S and dP.
// shaders/attention_subgroup.wgsl is the fast path (subgroups of >= 8 lanes and D % 4 == 0);
// shaders/attention.wgsl the fallback for the rest.
//
// Letters: B batch, T sequence length, Hq query heads, Hkv key/value heads (Hq a multiple of Hkv;
// query head h reads kv head floor(h / (Hq / Hkv))), D head dim (1 .. 128).
//
// Storage: q, k, v, out, dout are f32, or f16 when rt.features.f16 (f32 accumulation either way).
// lse, delta and the gradients dq, dk, dv are always f32: gradients feed f32 parameter gradients, and
// f16 would add a rounding the caller never asked for.
import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import { byteSize, shapeStr, type DType, type Tensor } from '../gpu/tensor.ts';
import { specialize } from '../gpu/wgsl.ts';
import code from '../../shaders/attention.wgsl?raw';
import subgroupCode from '../../shaders/attention_subgroup.wgsl?raw';
import { ceilDiv, expectDType, expectPositiveInt, expectRank, expectShape } from './check.ts';

export interface AttentionForwardArgs {
  out: Tensor; // (B, T, Hq, D), dtype of q
  lse: Tensor; // (B, Hq, T) f32, saved for the backward
  q: Tensor; // (B, T, Hq, D) f32 | f16
  k: Tensor; // (B, T, Hkv, D) dtype of q
  v: Tensor; // (B, T, Hkv, D) dtype of q
  segmentIds?: Tensor; // (B, T) i32: tokens attend only within their own segment
  scale?: number; // default 1 / sqrt(D)
}

export interface AttentionBackwardArgs {
  dq: Tensor; // (B, T, Hq, D) f32, overwritten (added to with `accumulate`)
  dk: Tensor; // (B, T, Hkv, D) f32, overwritten (added to with `accumulate`)
  dv: Tensor; // (B, T, Hkv, D) f32, overwritten (added to with `accumulate`)
  dout: Tensor; // (B, T, Hq, D) dtype of q
  q: Tensor; // (B, T, Hq, D)
  k: Tensor; // (B, T, Hkv, D)
  v: Tensor; // (B, T, Hkv, D)
  out: Tensor; // (B, T, Hq, D) the forward's output
  lse: Tensor; // (B, Hq, T) f32, the forward's lse
  delta: Tensor; // (B, Hq, T, 2) f32 scratch (attentionScratchShapes); (B, Hq, T) is still accepted, at one more storage binding
  segmentIds?: Tensor; // (B, T) i32, as in the forward
  scale?: number;
  accumulate?: boolean;
}

/** Tile sizes (override constants). The defaults suit lavapipe and are sane on real GPUs. */
export interface AttentionTiles {
  /** Query rows per workgroup in the forward and dq kernels (one invocation each). */
  BQ: number;
  /** Keys per K/V tile in workgroup memory (forward, dq); a multiple of 16. Capped by workgroup memory. */
  BK: number;
  /** Key rows per workgroup in the dk/dv kernel. */
  BKV: number;
  /** Queries per Q/dO tile in the dk/dv kernel. Capped by workgroup memory. */
  BQT: number;
  /**
   * Unroll the loops over a row (registers instead of dynamically indexed arrays): ~2x faster on
   * lavapipe but seconds of shader compilation per kernel there. Default: when D <= 64.
   */
  unroll?: boolean;
}

export const DEFAULT_TILES: AttentionTiles = { BQ: 64, BK: 32, BKV: 64, BQT: 32 };
const WG_DELTA = 256;
const CH = 4; // the forward scores keys four at a time, so BK is a multiple of 4
const QB = 32; // queries per workgroup of the subgroup forward and dq kernels (their `const QB`, 4 · SGW)
const TK = 32; // key rows per workgroup of their backward_dkdv (their `const TK`)
// The fused backward runs B·Hkv workgroups. Measured on lavapipe (2 cores): it takes about 55% of
// the CPU time of the two-kernel backward, so with a single workgroup (one core idle) the two
// kernels are still a little faster; from 2 on, the fused one.
const FUSED_MIN_WORKGROUPS = 2;

/** Shapes of the tensors the caller plans for attention: lse is saved by the forward, delta is backward scratch. */
export function attentionScratchShapes(B: number, T: number, Hq: number): { lse: number[]; delta: number[] } {
  return { lse: [B, Hq, T], delta: [B, Hq, T, 2] };
}

/**
 * Per-adapter choices. Measured on lavapipe (2 cores, 8-wide lanes), B=4 H=8 T=256 D=64 causal,
 * in bench/kernels/attention.ts's convention (no causal halving): the subgroup forward ≈77-94
 * GFLOP/s, the fused backward ≈74-81 against ≈74 for the two-kernel one (≈48 before its dq kernel
 * took the forward's layout), against ≈7 for attention.wgsl's (an older run). On GPUs a subgroup
 * workgroup is 8 lanes of a wider subgroup: correct, not tuned.
 */
export interface AttentionTuning {
  /** Use attention_subgroup.wgsl (when D % 4 == 0 and D <= 128). */
  subgroups: boolean;
  /** Lanes per workgroup of the subgroup kernels: 8 (the shader's broadcasts assume it). */
  sgw: 8;
  /**
   * Backward kernels: 'fused' (backward_fused of attention_subgroup.wgsl: one pass, B·Hkv
   * workgroups, 9 storage buffers; the default on CPU adapters), 'subgroup' (its backward_dkdv and
   * backward_dq; the default elsewhere) or 'plain' (attention.wgsl). The subgroup ones are used when
   * `subgroups` is on and D ≤ 64 (their private arrays; see attentionBackward); 'fused' falls back
   * to 'subgroup' on a device with fewer storage buffers per shader.
   */
  backward: 'plain' | 'subgroup' | 'fused';
}

const tunings = new WeakMap<Runtime, AttentionTuning>();

/** The tuning in force for this runtime. */
export function attentionTuning(rt: Runtime): AttentionTuning {
  let t = tunings.get(rt);
  if (!t) {
    t = { subgroups: rt.features.subgroups && rt.minSubgroupSize >= 8, sgw: 8, backward: rt.isCpuAdapter ? 'fused' : 'subgroup' };
    tunings.set(rt, t);
  }
  return t;
}

/** Overrides part of the tuning (tests, benchmarks, per-adapter tuning). */
export function setAttentionTuning(rt: Runtime, t: Partial<AttentionTuning>): void {
  const next = { ...attentionTuning(rt), ...t };
  if (next.subgroups && !(rt.features.subgroups && rt.minSubgroupSize >= next.sgw && next.sgw >= 8)) {
    throw new OpError('attention', `subgroup kernels need subgroups of at least ${next.sgw} (>= 8) lanes; this device's minimum is ${rt.minSubgroupSize}`);
  }
  tunings.set(rt, next);
}

/** Subgroup fast path for this D? */
function fastPath(rt: Runtime, D: number): boolean {
  return attentionTuning(rt).subgroups && D % 4 === 0 && D <= 128;
}

const SG_LINES = /^const SGW: u32 = \d+u;.*\nconst DMAX: u32 = \d+u;.*\nconst NU: u32 = \d+u;.*$/m;
const STATS_LINE = /^ {2}return stats\[row\];$/m;
const LEGACY_STATS = '  return vec2f(lse[row] * LOG2E, delta[row]);';

function subgroupSource(dtype: DType, dmax: number, sgw: number, packed: boolean): string {
  if (!SG_LINES.test(subgroupCode) || !STATS_LINE.test(subgroupCode)) throw new Error('attention_subgroup.wgsl lost a line the op rewrites');
  const nu = Math.ceil(dmax / 4 / sgw);
  let c = subgroupCode.replace(SG_LINES, `const SGW: u32 = ${sgw}u;\nconst DMAX: u32 = ${dmax}u;\nconst NU: u32 = ${nu}u;`);
  if (!packed) c = c.replace(STATS_LINE, LEGACY_STATS);
  return specialize(c, dtype);
}

interface Dims {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  dtype: DType;
  scale: number;
}

function checkCommon(rt: Runtime, op: string, q: Tensor, k: Tensor, v: Tensor, segmentIds: Tensor | undefined, scale: number | undefined): Dims {
  expectRank(op, 'q', q, 4);
  expectRank(op, 'k', k, 4);
  const [B, T, Hq, D] = q.shape;
  for (const [name, n] of [['B', B], ['T', T], ['Hq', Hq], ['D', D]] as const) expectPositiveInt(op, `q's ${name}`, n);
  expectShape(op, 'k', k, [B, T, -1, D]);
  const Hkv = k.shape[2];
  expectPositiveInt(op, "k's Hkv", Hkv);
  if (Hq % Hkv !== 0) {
    throw new OpError(op, `q (${q.label}) has ${Hq} heads (shape ${shapeStr(q.shape)}), not a multiple of the ${Hkv} kv heads of k (${k.label}) ${shapeStr(k.shape)}`);
  }
  expectShape(op, 'v', v, [B, T, Hkv, D]);
  if (D > 128) throw new OpError(op, `head dim D = ${D} (q ${shapeStr(q.shape)}) is over the supported 128`);
  expectDType(op, 'q', q, 'f32', 'f16');
  if (q.dtype === 'f16' && !rt.features.f16) throw new OpError(op, `q (${q.label}) is f16 but this device has no shader-f16`);
  expectDType(op, 'k', k, q.dtype);
  expectDType(op, 'v', v, q.dtype);
  if (segmentIds) {
    expectDType(op, 'segmentIds', segmentIds, 'i32');
    expectShape(op, 'segmentIds', segmentIds, [B, T]);
  }
  const s = scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(s)) throw new OpError(op, `scale must be a finite number, got ${scale}`);
  return { B, T, Hq, Hkv, D, dtype: q.dtype, scale: s };
}

function checkSize(rt: Runtime, ...ts: (Tensor | undefined)[]): void {
  for (const t of ts) if (t) rt.checkBindingSize(t.label, t.shape, byteSize(t));
}

function checkStorageBuffers(rt: Runtime, op: string, n: number): void {
  const max = rt.limits.maxStorageBuffersPerShaderStage;
  if (n > max) throw new OpError(op, `needs ${n} storage buffers in one shader, this device allows ${max} (maxStorageBuffersPerShaderStage)`);
}

/** Largest DMAX of the subgroup backward kernels (see attentionBackward). */
const SUBGROUP_BACKWARD_DMAX = 64;

function dmaxFor(D: number): number {
  return D <= 16 ? 16 : D <= 32 ? 32 : D <= 64 ? 64 : 128;
}

function unroll(tiles: AttentionTiles, dmax: number): number {
  return (tiles.unroll ?? dmax <= 64) ? 1 : 0;
}

const DMAX_LINE = /^const DMAX: u32 = \d+u;$/m;

function source(dtype: DType, dmax: number, packed = true): string {
  if (!DMAX_LINE.test(code) || !STATS_LINE.test(code)) throw new Error('attention.wgsl lost a line the op rewrites');
  let c = code.replace(DMAX_LINE, `const DMAX: u32 = ${dmax}u;`);
  if (!packed) c = c.replace(STATS_LINE, LEGACY_STATS);
  return specialize(c, dtype);
}

/** Largest tile (rows) <= want, a multiple of `multiple`, whose two f32 row tiles fit workgroup memory. */
function fitTile(rt: Runtime, want: number, dmax: number, extraPerRow: number, multiple: number): number {
  const limit = rt.limits.maxComputeWorkgroupStorageSize;
  let n = want;
  while (n > multiple && n * (2 * dmax * 4 + extraPerRow) > limit) n -= multiple;
  return n;
}

function params(d: Dims, accumulate = false, n = 0): [('u32' | 'f32'), number][] {
  return [
    ['u32', d.T], ['u32', d.Hq], ['u32', d.Hkv], ['u32', d.D],
    ['f32', d.scale * Math.LOG2E], ['f32', d.scale], ['u32', accumulate ? 1 : 0], ['u32', n],
  ];
}

/**
 * out = softmax(scale · q kᵀ + causal/segment mask) v per head, and lse = log-sum-exp of each query's
 * scaled scores (kept for the backward).
 */
export function attentionForward(rt: Runtime, args: AttentionForwardArgs, tiles: AttentionTiles = DEFAULT_TILES): Dispatch[] {
  const op = 'attentionForward';
  const { out, lse, q, k, v, segmentIds } = args;
  const d = checkCommon(rt, op, q, k, v, segmentIds, args.scale);
  expectShape(op, 'out', out, q.shape);
  expectDType(op, 'out', out, d.dtype);
  expectShape(op, 'lse', lse, [d.B, d.Hq, d.T]);
  expectDType(op, 'lse', lse, 'f32');
  checkSize(rt, out, lse, q, k, v, segmentIds);
  checkStorageBuffers(rt, op, 6);
  const dmax = dmaxFor(d.D);
  if (fastPath(rt, d.D)) {
    const { sgw } = attentionTuning(rt);
    return [
      rt.kernel({
        key: { kernel: 'attention_subgroup', variant: `forward_d${dmax}_w${sgw}`, dtype: d.dtype, constants: { SEGMENTS: segmentIds ? 1 : 0 } },
        code: subgroupSource(d.dtype, dmax, sgw, true),
        entryPoint: 'forward',
        bindings: { 1: q, 2: k, 3: v, 4: segmentIds ?? q, 5: out, 6: lse },
        params: params(d),
        workgroups: [ceilDiv(d.T, QB), d.Hq, d.B],
      }),
    ];
  }
  const BK = fitTile(rt, tiles.BK, dmax, 4, CH);
  return [
    rt.kernel({
      key: { kernel: 'attention', variant: `forward_d${dmax}`, dtype: d.dtype, constants: { BQ: tiles.BQ, BK, SEGMENTS: segmentIds ? 1 : 0, UNROLL: unroll(tiles, dmax) } },
      code: source(d.dtype, dmax),
      entryPoint: 'forward',
      // Without segment ids, q stands in for the never-read segment binding.
      bindings: { 1: q, 2: k, 3: v, 4: segmentIds ?? q, 5: out, 6: lse },
      params: params(d),
      workgroups: [ceilDiv(d.T, tiles.BQ), d.Hq, d.B],
    }),
  ];
}

/** dq, dk, dv from dout, recomputing the probabilities from q, k and the forward's lse. */
export function attentionBackward(rt: Runtime, args: AttentionBackwardArgs, tiles: AttentionTiles = DEFAULT_TILES): Dispatch[] {
  const op = 'attentionBackward';
  const { dq, dk, dv, dout, q, k, v, out, lse, delta, segmentIds } = args;
  const d = checkCommon(rt, op, q, k, v, segmentIds, args.scale);
  for (const [name, t, like] of [['dq', dq, q], ['dk', dk, k], ['dv', dv, k]] as const) {
    expectShape(op, name, t, like.shape);
    expectDType(op, name, t, 'f32');
  }
  for (const [name, t] of [['dout', dout], ['out', out]] as const) {
    expectShape(op, name, t, q.shape);
    expectDType(op, name, t, d.dtype);
  }
  expectShape(op, 'lse', lse, [d.B, d.Hq, d.T]);
  expectDType(op, 'lse', lse, 'f32');
  // The packed (B, Hq, T, 2) delta holds (lse * log2(e), delta) per row; the (B, Hq, T) one delta only.
  const packed = delta.shape.length === 4;
  expectShape(op, 'delta', delta, packed ? [d.B, d.Hq, d.T, 2] : [d.B, d.Hq, d.T]);
  expectDType(op, 'delta', delta, 'f32');
  checkSize(rt, dq, dk, dv, dout, q, k, v, out, lse, delta, segmentIds);
  const dmax = dmaxFor(d.D);
  const seg = segmentIds ? 1 : 0;
  const rows = d.B * d.T * d.Hq;
  const placeholder = segmentIds ?? q;
  const stats = packed
    ? rt.kernel({
        key: { kernel: 'attention', variant: `backward_stats_d${dmax}`, dtype: d.dtype, constants: { WG: WG_DELTA } },
        code: source(d.dtype, dmax),
        entryPoint: 'backward_stats',
        bindings: { 7: dout, 9: out, 10: lse, 16: delta },
        params: params(d, false, rows),
        workgroups: grid(ceilDiv(rows, WG_DELTA)),
      })
    : rt.kernel({
        key: { kernel: 'attention', variant: `backward_delta_d${dmax}`, dtype: d.dtype, constants: { WG: WG_DELTA } },
        code: source(d.dtype, dmax),
        entryPoint: 'backward_delta',
        bindings: { 7: dout, 8: delta, 9: out },
        params: params(d, false, rows),
        workgroups: grid(ceilDiv(rows, WG_DELTA)),
      });
  // Bindings of the row statistics in each shader.
  const plainStats: Record<number, Tensor> = packed ? { 15: delta } : { 10: lse, 11: delta };
  const sgStats: Record<number, Tensor> = packed ? { 11: delta } : { 10: lse, 15: delta };
  const extra = packed ? 0 : 1;
  const pv = packed ? 'packed' : 'split';
  const t = attentionTuning(rt);
  // The subgroup backward keeps a 32-key tile of k and v and its dK, dV accumulators in private
  // arrays: 4.2 KB per invocation at DMAX 64 but 8.3 KB at 128, over the 8 KiB of function-scope
  // variables WGSL guarantees (Safari enforces it), so larger heads take the plain kernels.
  if (fastPath(rt, d.D) && t.backward !== 'plain' && dmax <= SUBGROUP_BACKWARD_DMAX) {
    const src = subgroupSource(d.dtype, dmax, t.sgw, packed);
    const common = { 1: q, 2: k, 3: v, 4: placeholder, 7: dout, ...sgStats };
    const kernel = (entryPoint: string, bindings: Record<number, Tensor>, workgroups: [number, number, number]) =>
      rt.kernel({
        key: { kernel: 'attention_subgroup', variant: `${entryPoint}_d${dmax}_w${t.sgw}_${pv}`, dtype: d.dtype, constants: { SEGMENTS: seg } },
        code: src,
        entryPoint,
        bindings: { ...common, ...bindings },
        params: params(d, args.accumulate),
        workgroups,
      });
    if (t.backward === 'fused' && d.B * d.Hkv >= FUSED_MIN_WORKGROUPS && rt.limits.maxStorageBuffersPerShaderStage >= 9 + extra) {
      return [stats, kernel('backward_fused', { 12: dq, 13: dk, 14: dv }, [1, d.Hkv, d.B])];
    }
    checkStorageBuffers(rt, op, 8 + extra);
    return [
      stats,
      kernel('backward_dkdv', { 13: dk, 14: dv }, [ceilDiv(d.T, TK), d.Hkv, d.B]),
      kernel('backward_dq', { 12: dq }, [ceilDiv(d.T, QB), d.Hq, d.B]),
    ];
  }
  checkStorageBuffers(rt, op, 8 + extra);
  const src = source(d.dtype, dmax, packed);
  const BK = fitTile(rt, tiles.BK, dmax, 4, CH);
  const BQT = fitTile(rt, tiles.BQT, dmax, 12, 1);
  return [
    stats,
    rt.kernel({
      key: { kernel: 'attention', variant: `backward_dkdv_d${dmax}_${pv}`, dtype: d.dtype, constants: { BKV: tiles.BKV, BQT, SEGMENTS: seg, UNROLL: unroll(tiles, dmax) } },
      code: src,
      entryPoint: 'backward_dkdv',
      bindings: { 1: q, 2: k, 3: v, 4: placeholder, 7: dout, ...plainStats, 13: dk, 14: dv },
      params: params(d, args.accumulate),
      workgroups: [ceilDiv(d.T, tiles.BKV), d.Hkv, d.B],
    }),
    rt.kernel({
      key: { kernel: 'attention', variant: `backward_dq_d${dmax}_${pv}`, dtype: d.dtype, constants: { BQ: tiles.BQ, BK, SEGMENTS: seg, UNROLL: unroll(tiles, dmax) } },
      code: src,
      entryPoint: 'backward_dq',
      bindings: { 1: q, 2: k, 3: v, 4: placeholder, 7: dout, ...plainStats, 12: dq },
      params: params(d, args.accumulate),
      workgroups: [ceilDiv(d.T, tiles.BQ), d.Hq, d.B],
    }),
  ];
}
