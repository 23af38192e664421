import { describe, it, expect } from 'vitest';
import { attentionDecode, kvCacheWrite, type DecodeTiles } from '../../src/ops/attention_decode.ts';
import { attentionForward } from '../../src/ops/attention.ts';
import { fromF16, toF16 } from '../../src/gpu/half.ts';
import type { Runtime } from '../../src/gpu/runtime.ts';
import { attentionDecodeRef, kvCacheWriteRef, type DecodeDims } from '../reference/attention_decode.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32 } from '../helpers/gpu.ts';

// Tolerances. f32: each score sums D products and each output up to Tmax terms in f32, in another
// order than the f64 reference (chunked online softmax); values are O(1), errors a few 1e-6.
const F32 = { atol: 2e-5, rtol: 2e-5 };
// f16: inputs are rounded to f16 before the reference sees them; what remains is out's own f16
// rounding (2^-11 relative, on values up to ~1).
const F16 = { atol: 2e-3, rtol: 2e-3 };

interface Case extends DecodeDims {
  dtype?: 'f32' | 'f16';
  tiles?: DecodeTiles;
}

const roundF16 = (a: Float32Array) => fromF16(toF16(a));

/** Writes the new rows with kvCacheWrite, attends with attentionDecode, checks both against the reference. */
async function check(rt: Runtime, c: Case): Promise<void> {
  const { B, Tq, Tmax, Hq, Hkv, D, past } = c;
  const dtype = c.dtype ?? 'f32';
  const prep = (a: Float32Array) => (dtype === 'f16' ? roundF16(a) : a);
  // The cache beyond past + Tq holds garbage (large values) that must never be read.
  const kc = prep(rand(B * Tmax * Hkv * D, 1, -2, 2));
  const vc = prep(rand(B * Tmax * Hkv * D, 2));
  for (let b = 0; b < B; b++) for (let j = past + Tq; j < Tmax; j++) for (let e = 0; e < Hkv * D; e++) { kc[(b * Tmax + j) * Hkv * D + e] = 1e4; vc[(b * Tmax + j) * Hkv * D + e] = 1e4; }
  const kNew = prep(rand(B * Tq * Hkv * D, 3, -2, 2));
  const vNew = prep(rand(B * Tq * Hkv * D, 4));
  const q = prep(rand(B * Tq * Hq * D, 5, -2, 2));
  const tk = rt.upload(kc, [B, Tmax, Hkv, D], dtype, 'kCache');
  const tv = rt.upload(vc, [B, Tmax, Hkv, D], dtype, 'vCache');
  const tkn = rt.upload(kNew, [B, Tq, Hkv, D], dtype, 'kNew');
  const tvn = rt.upload(vNew, [B, Tq, Hkv, D], dtype, 'vNew');
  const tq = rt.upload(q, [B, Tq, Hq, D], dtype, 'q');
  const tout = rt.tensor([B, Tq, Hq, D], dtype, 'out');
  const tpast = rt.upload([past], [1], 'u32', 'past');
  rt.once([
    ...kvCacheWrite(rt, { cache: tk, kv: tkn, pastLength: tpast }),
    ...kvCacheWrite(rt, { cache: tv, kv: tvn, pastLength: tpast }),
    ...attentionDecode(rt, { out: tout, q: tq, kCache: tk, vCache: tv, pastLength: tpast, scale: c.scale }, c.tiles),
  ]);
  const dims = { B, Tq, Tmax, Hkv, D, past };
  const kRef = kvCacheWriteRef(kc, kNew, dims);
  const vRef = kvCacheWriteRef(vc, vNew, dims);
  // The cache write is a copy: exact.
  expectClose(await readF32(rt, tk), kRef, { atol: 0 }, 'kCache');
  expectClose(await readF32(rt, tv), vRef, { atol: 0 }, 'vCache');
  expectClose(await readF32(rt, tout), attentionDecodeRef(c, q, kRef, vRef), dtype === 'f16' ? F16 : F32, 'out');
  rt.free(tk, tv, tkn, tvn, tq, tout, tpast);
  await expectNoGpuErrors(rt);
}

describe('attention over a KV cache', () => {
  const cases: Case[] = [
    // Decode across the 256-key chunk boundary, GQA.
    { B: 2, Tq: 1, Tmax: 300, Hq: 6, Hkv: 2, D: 20, past: 273 },
    // Prefill after a cached prefix; D = WG.
    { B: 1, Tq: 7, Tmax: 40, Hq: 4, Hkv: 4, D: 64, past: 13 },
    // Prefill from an empty cache, odd head dim, one kv head.
    { B: 1, Tq: 33, Tmax: 33, Hq: 2, Hkv: 1, D: 7, past: 0 },
    { B: 1, Tq: 1, Tmax: 1, Hq: 1, Hkv: 1, D: 1, past: 0 },
    // Two head dims per invocation.
    { B: 1, Tq: 2, Tmax: 70, Hq: 2, Hkv: 1, D: 128, past: 60 },
    // Four head dims per invocation and many small chunks.
    { B: 1, Tq: 3, Tmax: 130, Hq: 3, Hkv: 1, D: 100, past: 97, tiles: { WG: 32, KPT: 1 } },
    { B: 2, Tq: 1, Tmax: 9, Hq: 2, Hkv: 2, D: 8, past: 5, scale: 0.7 },
  ];
  for (const c of cases) {
    const name = `B=${c.B} Tq=${c.Tq} Tmax=${c.Tmax} Hq=${c.Hq} Hkv=${c.Hkv} D=${c.D} past=${c.past}${c.tiles ? ` WG=${c.tiles.WG} KPT=${c.tiles.KPT}` : ''}${c.scale ? ` scale=${c.scale}` : ''}`;
    it(`f32, ${name}`, async () => check(await getRuntime(), c));
  }

  it('f16 storage, B=2 Tq=3 Tmax=50 Hq=4 Hkv=2 D=16 past=40', async () => {
    const rt = await getRuntime();
    expect(rt.features.f16).toBe(true);
    await check(rt, { B: 2, Tq: 3, Tmax: 50, Hq: 4, Hkv: 2, D: 16, past: 40, dtype: 'f16' });
  });

  it('works with f16 disabled, and refuses f16 tensors there', async () => {
    const rt = await getRuntime({ f16: true });
    expect(rt.features.f16).toBe(false);
    await check(rt, { B: 1, Tq: 1, Tmax: 20, Hq: 4, Hkv: 2, D: 16, past: 11 });
    const t = rt.tensor([1, 1, 2, 8], 'f16', 'qh');
    const c = rt.tensor([1, 4, 2, 8], 'f16', 'ch');
    const past = rt.tensor([1], 'u32', 'past');
    expect(() => attentionDecode(rt, { out: t, q: t, kCache: c, vCache: c, pastLength: past })).toThrow(/attentionDecode: q \(qh\) is f16 but this device has no shader-f16/);
    rt.free(t, c, past);
  });

  it('one dispatch list replays at every step: token-by-token decode equals attentionForward on the whole sequence', async () => {
    const rt = await getRuntime();
    const [T, Hq, Hkv, D, P] = [37, 4, 2, 16, 10]; // P prompt tokens prefilled at once
    const q = rand(T * Hq * D, 11, -2, 2), k = rand(T * Hkv * D, 12, -2, 2), v = rand(T * Hkv * D, 13);
    const full = { q: rt.upload(q, [1, T, Hq, D]), k: rt.upload(k, [1, T, Hkv, D]), v: rt.upload(v, [1, T, Hkv, D]) };
    const fullOut = rt.tensor([1, T, Hq, D], 'f32', 'fullOut');
    const lse = rt.tensor([1, Hq, T], 'f32', 'lse');
    rt.once(attentionForward(rt, { out: fullOut, lse, ...full }));
    const want = await readF32(rt, fullOut);

    const kCache = rt.tensor([1, T, Hkv, D], 'f32', 'kCache', true);
    const vCache = rt.tensor([1, T, Hkv, D], 'f32', 'vCache', true);
    const past = rt.upload([0], [1], 'u32', 'past');
    const step = (Tq: number) => {
      const io = { q: rt.tensor([1, Tq, Hq, D], 'f32', 'q'), k: rt.tensor([1, Tq, Hkv, D], 'f32', 'k'), v: rt.tensor([1, Tq, Hkv, D], 'f32', 'v'), out: rt.tensor([1, Tq, Hq, D], 'f32', 'out') };
      const steps = [
        ...kvCacheWrite(rt, { cache: kCache, kv: io.k, pastLength: past }),
        ...kvCacheWrite(rt, { cache: vCache, kv: io.v, pastLength: past }),
        ...attentionDecode(rt, { out: io.out, q: io.q, kCache, vCache, pastLength: past }),
      ];
      return { io, steps };
    };
    const prefill = step(P);
    const decode = step(1);
    const got = new Float32Array(T * Hq * D);
    const run = async (s: ReturnType<typeof step>, t0: number, Tq: number) => {
      rt.write(past, [t0]);
      rt.write(s.io.q, q.subarray(t0 * Hq * D, (t0 + Tq) * Hq * D));
      rt.write(s.io.k, k.subarray(t0 * Hkv * D, (t0 + Tq) * Hkv * D));
      rt.write(s.io.v, v.subarray(t0 * Hkv * D, (t0 + Tq) * Hkv * D));
      rt.run(s.steps);
      got.set(await readF32(rt, s.io.out), t0 * Hq * D);
    };
    await run(prefill, 0, P);
    for (let t = P; t < T; t++) await run(decode, t, 1);
    // Both are f32 GPU results summed in different orders (tiles of 32 keys vs chunks of 256).
    expectClose(got, want, { atol: 1e-5, rtol: 1e-5 }, 'decoded out');
    rt.release([...prefill.steps, ...decode.steps]);
    rt.free(full.q, full.k, full.v, fullOut, lse, kCache, vCache, past, ...Object.values(prefill.io), ...Object.values(decode.io));
    await expectNoGpuErrors(rt);
  });

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const t = (shape: number[], label: string, dtype: 'f32' | 'u32' | 'i32' = 'f32') => rt.tensor(shape, dtype, label);
    const q = t([1, 2, 4, 8], 'q'), out = t([1, 2, 4, 8], 'out'), kc = t([1, 10, 2, 8], 'kc'), vc = t([1, 10, 2, 8], 'vc');
    const past = t([1], 'past', 'u32'), pastI = t([1], 'pastI', 'i32'), kc3 = t([1, 10, 3, 8], 'kc3'), kcD = t([1, 10, 2, 6], 'kcD');
    const small = t([1, 1, 2, 8], 'small'), kv3 = t([1, 3, 2, 8], 'kv3');
    const ok = { out, q, kCache: kc, vCache: vc, pastLength: past };
    expect(() => attentionDecode(rt, { ...ok, kCache: kcD })).toThrow(/attentionDecode: kCache \(kcD\) has shape \(1, 10, 2, 6\), expected \(1, \*, \*, 8\)/);
    expect(() => attentionDecode(rt, { ...ok, kCache: kc3, vCache: kc3 })).toThrow(/attentionDecode: q \(q\) has 4 heads \(shape \(1, 2, 4, 8\)\), not a multiple of the 3 kv heads of kCache \(kc3\) \(1, 10, 3, 8\)/);
    expect(() => attentionDecode(rt, { ...ok, pastLength: pastI })).toThrow(/attentionDecode: pastLength \(pastI\) has dtype i32, expected u32/);
    expect(() => attentionDecode(rt, { ...ok, out: q })).toThrow(/attentionDecode: out \(q\) and q \(q\) overlap/);
    expect(() => attentionDecode(rt, { ...ok, kCache: small, vCache: small })).toThrow(/attentionDecode: q \(q\) \(1, 2, 4, 8\) has 2 new tokens, more than the cache \(small\) \(1, 1, 2, 8\) holds/);
    expect(() => attentionDecode(rt, ok, { WG: 48, KPT: 4 })).toThrow(/attentionDecode: tiles WG = 48/);
    expect(() => kvCacheWrite(rt, { cache: kc, kv: kcD, pastLength: past })).toThrow(/kvCacheWrite: kv \(kcD\) has shape \(1, 10, 2, 6\), expected \(1, \*, 2, 8\)/);
    expect(() => kvCacheWrite(rt, { cache: small, kv: kv3, pastLength: past })).toThrow(/kvCacheWrite: kv \(kv3\) \(1, 3, 2, 8\) has 3 rows, more than the cache \(small\) \(1, 1, 2, 8\) holds/);
    rt.free(q, out, kc, vc, past, pastI, kc3, kcD, small, kv3);
    await expectNoGpuErrors(rt);
  });
});
