// Attention over a KV cache for generation: `kvCacheWrite` appends the new tokens' keys/values to
// the cache, `attentionDecode` attends the new queries to everything cached so far. Both read the
// number of already-filled positions from a one-word GPU tensor (`pastLength`, u32) that the host
// rewrites with rt.write before each step, so their dispatches are built once for a whole
// generation. See shaders/attention_decode.wgsl.
//
// Letters: B batch, Tq new tokens this step (1 when decoding, the prompt length when prefilling),
// Tmax cache capacity, Hq query heads, Hkv key/value heads (Hq a multiple of Hkv), D head dim
// (1 .. 128).
//
// Storage: q, out and the caches are f32, or f16 when rt.features.f16; arithmetic is f32.
import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Param, type Runtime } from '../gpu/runtime.ts';
import { byteSize, numel, shapeStr, type Tensor } from '../gpu/tensor.ts';
import { specialize } from '../gpu/wgsl.ts';
import code from '../../shaders/attention_decode.wgsl?raw';
import { ceilDiv, expectDType, expectNoAlias, expectPositiveInt, expectRank, expectShape } from './check.ts';

export interface AttentionDecodeArgs {
  out: Tensor; // (B, Tq, Hq, D), dtype of q
  q: Tensor; // (B, Tq, Hq, D) f32 | f16, at absolute positions pastLength .. pastLength + Tq - 1
  kCache: Tensor; // (B, Tmax, Hkv, D) dtype of q, filled up to pastLength + Tq
  vCache: Tensor; // (B, Tmax, Hkv, D) dtype of q
  pastLength: Tensor; // (1) u32, positions cached before this step
  scale?: number; // default 1 / sqrt(D)
}

export interface KvCacheWriteArgs {
  cache: Tensor; // (B, Tmax, Hkv, D)
  kv: Tensor; // (B, Tq, Hkv, D) dtype of cache: rows for positions pastLength .. pastLength + Tq - 1
  pastLength: Tensor; // (1) u32
}

/** Workgroup shape of the decode kernel: WG invocations (a power of two, 32 .. 256), KPT keys each per chunk. */
export interface DecodeTiles {
  WG: number;
  KPT: number;
}

export const DEFAULT_DECODE_TILES: DecodeTiles = { WG: 64, KPT: 4 };
const WG_WRITE = 256;
const DMAX = 128;

/** Lanes per key group of the p · v phase: a power of two covering the head's D / 4 quads. */
function quadLanes(D: number): number {
  let n = 1;
  while (n * 4 < D) n *= 2;
  return n;
}

function checkPast(rt: Runtime, op: string, pastLength: Tensor): void {
  expectDType(op, 'pastLength', pastLength, 'u32');
  expectShape(op, 'pastLength', pastLength, [1]);
}

function checkStorage(rt: Runtime, op: string, name: string, t: Tensor): void {
  expectDType(op, name, t, 'f32', 'f16');
  if (t.dtype === 'f16' && !rt.features.f16) throw new OpError(op, `${name} (${t.label}) is f16 but this device has no shader-f16`);
}

function checkSize(rt: Runtime, ...ts: Tensor[]): void {
  for (const t of ts) rt.checkBindingSize(t.label, t.shape, byteSize(t));
}

/**
 * Copies the Tq new rows of keys (or values) into the cache at positions pastLength ... A kernel
 * rather than a copy step because the destination offset changes every step while the dispatch
 * stays the same.
 */
export function kvCacheWrite(rt: Runtime, args: KvCacheWriteArgs): Dispatch[] {
  const op = 'kvCacheWrite';
  const { cache, kv, pastLength } = args;
  expectRank(op, 'cache', cache, 4);
  expectRank(op, 'kv', kv, 4);
  const [B, Tmax, Hkv, D] = cache.shape;
  for (const [name, n] of [['B', B], ['Tmax', Tmax], ['Hkv', Hkv], ['D', D]] as const) expectPositiveInt(op, `cache's ${name}`, n);
  expectShape(op, 'kv', kv, [B, -1, Hkv, D]);
  const Tq = kv.shape[1];
  expectPositiveInt(op, "kv's Tq", Tq);
  if (Tq > Tmax) throw new OpError(op, `kv (${kv.label}) ${shapeStr(kv.shape)} has ${Tq} rows, more than the cache (${cache.label}) ${shapeStr(cache.shape)} holds`);
  checkStorage(rt, op, 'cache', cache);
  expectDType(op, 'kv', kv, cache.dtype);
  checkPast(rt, op, pastLength);
  expectNoAlias(op, 1, ['cache', 'kv', 'pastLength'], cache, kv, pastLength);
  checkSize(rt, cache, kv);
  const n = numel(kv.shape);
  const params: Param[] = [['u32', Tq], ['u32', Tmax], ['u32', 1], ['u32', Hkv], ['u32', D], ['f32', 0], ['u32', n], ['u32', 0]];
  return [
    rt.kernel({
      key: { kernel: 'attention_decode', variant: 'cache_write', dtype: cache.dtype, constants: { WG: WG_WRITE } },
      code: specialize(code, cache.dtype),
      entryPoint: 'cache_write',
      bindings: { 4: pastLength, 6: kv, 7: cache },
      params,
      workgroups: grid(ceilDiv(n, WG_WRITE)),
    }),
  ];
}

/**
 * out = softmax(scale · q kᵀ) v per head, query i attending to cache positions 0 .. pastLength + i.
 * The caller has already written the new tokens' keys and values with `kvCacheWrite`.
 */
export function attentionDecode(rt: Runtime, args: AttentionDecodeArgs, tiles: DecodeTiles = DEFAULT_DECODE_TILES): Dispatch[] {
  const op = 'attentionDecode';
  const { out, q, kCache, vCache, pastLength } = args;
  expectRank(op, 'q', q, 4);
  expectRank(op, 'kCache', kCache, 4);
  const [B, Tq, Hq, D] = q.shape;
  for (const [name, n] of [['B', B], ['Tq', Tq], ['Hq', Hq], ['D', D]] as const) expectPositiveInt(op, `q's ${name}`, n);
  expectShape(op, 'kCache', kCache, [B, -1, -1, D]);
  const [, Tmax, Hkv] = kCache.shape;
  expectPositiveInt(op, "kCache's Tmax", Tmax);
  expectPositiveInt(op, "kCache's Hkv", Hkv);
  if (Hq % Hkv !== 0) {
    throw new OpError(op, `q (${q.label}) has ${Hq} heads (shape ${shapeStr(q.shape)}), not a multiple of the ${Hkv} kv heads of kCache (${kCache.label}) ${shapeStr(kCache.shape)}`);
  }
  if (Tq > Tmax) throw new OpError(op, `q (${q.label}) ${shapeStr(q.shape)} has ${Tq} new tokens, more than the cache (${kCache.label}) ${shapeStr(kCache.shape)} holds`);
  expectShape(op, 'vCache', vCache, kCache.shape);
  expectShape(op, 'out', out, q.shape);
  if (D > DMAX) throw new OpError(op, `head dim D = ${D} (q ${shapeStr(q.shape)}) is over the supported ${DMAX}`);
  checkStorage(rt, op, 'q', q);
  for (const [name, t] of [['kCache', kCache], ['vCache', vCache], ['out', out]] as const) expectDType(op, name, t, q.dtype);
  checkPast(rt, op, pastLength);
  expectNoAlias(op, 1, ['out', 'q', 'kCache', 'vCache', 'pastLength'], out, q, kCache, vCache, pastLength);
  const { WG, KPT } = tiles;
  if (!(WG >= 32 && WG <= 256 && (WG & (WG - 1)) === 0) || !Number.isInteger(KPT) || KPT < 1) {
    throw new OpError(op, `tiles WG = ${WG}, KPT = ${KPT}: WG must be a power of two in 32 .. 256 and KPT a positive integer`);
  }
  const QN = quadLanes(D); // <= 32 <= WG since D <= 128
  if ((WG * KPT + 5 * WG + DMAX) * 4 > rt.limits.maxComputeWorkgroupStorageSize) {
    throw new OpError(op, `tiles WG = ${WG}, KPT = ${KPT} need more workgroup memory than the device's ${rt.limits.maxComputeWorkgroupStorageSize} bytes`);
  }
  const scale = args.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new OpError(op, `scale must be a finite number, got ${args.scale}`);
  checkSize(rt, out, q, kCache, vCache);
  const params: Param[] = [['u32', Tq], ['u32', Tmax], ['u32', Hq], ['u32', Hkv], ['u32', D], ['f32', scale * Math.LOG2E], ['u32', 0], ['u32', 0]];
  return [
    rt.kernel({
      key: { kernel: 'attention_decode', variant: 'decode', dtype: q.dtype, constants: { WG, KPT, QN } },
      code: specialize(code, q.dtype),
      entryPoint: 'decode',
      bindings: { 1: q, 2: kCache, 3: vCache, 4: pastLength, 5: out },
      params,
      workgroups: [Tq, Hq, B],
    }),
  ];
}
