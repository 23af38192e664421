import { describe, it, expect } from 'vitest';
import { MAX_TOP_K, topkLogSoftmax } from '../../src/ops/topk.ts';
import { topkLogSoftmaxRef } from '../reference/topk.ts';
import { f64 } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32 } from '../helpers/gpu.ts';

// Tolerance. A log-prob is z − (m + log s) with z = x·(1/τ) in f32 (1/τ itself rounded: ≤ 1 ulp
// of |z|), m the row's max z, s = Σ exp(z − m) summed per invocation over ≤ ceil(V/256) terms and
// then by a depth-8 tree. Vulkan allows exp an error of 3 + 2|z − m| ulp and log 2^-21 absolute
// near 1, so the result carries a few ulps of its magnitude (|z|, log V) plus a few of 1 from s.
// Hence atol = 8 ulp · (1 + max|z| + log V): measured on lavapipe the worst element needs 16 ulp,
// about a fifth of it at those shapes; a forgotten 1/τ, a wrong max or a partial sum is off by 1e-2
// or more. Ids are compared exactly: the inputs are f32 values and the reference orders the same
// values (a stable sort, so ties keep ascending ids).
const ULP = 2 ** -24;
const tol = (maxZ: number, V: number) => ({ atol: 8 * ULP * (1 + maxZ + Math.log(V)) });

interface Case {
  R: number;
  V: number;
  K: number;
  temperature?: number;
  /** Logits, R·V of them; seeded uniform in [−4, 4) by default. */
  x?: Float32Array;
  seed?: number;
}

/** Runs the op on one chunk (rowOffset 0, N = R) and checks ids and log-probs against the reference. */
async function checkTopk(c: Case) {
  const rt = await getRuntime();
  const { R, V, K } = c;
  const x = c.x ?? rand(R * V, c.seed ?? R * 7919 + V * 31 + K, -4, 4);
  const logits = rt.upload(x, [R, V], 'f32', 'logits');
  const ids = rt.tensor([R, K], 'i32', 'ids'), logprobs = rt.tensor([R, K], 'f32', 'logprobs');
  rt.once(topkLogSoftmax(rt, { ids, logprobs, logits, rowOffset: 0, temperature: c.temperature }));
  const gotIds = Int32Array.from(await rt.read(ids)), gotLp = await readF32(rt, logprobs), after = await readF32(rt, logits);
  rt.free(logits, ids, logprobs);
  await expectNoGpuErrors(rt);

  const tau = c.temperature ?? 1;
  const ref = topkLogSoftmaxRef(f64(x), R, V, K, tau);
  const what = `R=${R} V=${V} K=${K} tau=${tau}`;
  expect(Array.from(gotIds), `${what}: ids`).toEqual(Array.from(ref.ids));
  const maxZ = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / tau;
  expectClose(gotLp, ref.logprobs, tol(maxZ, V), `${what}: logprobs`);
  expect(after, 'logits are not modified').toEqual(x);
  return { ids: gotIds, logprobs: gotLp };
}

describe('topkLogSoftmax', () => {
  const CASES: [number, number, number, number][] = [
    // R, V, K, temperature
    [1, 1, 1, 1], [7, 5, 3, 1], [7, 5, 5, 0.5], [33, 130, 1, 1], [7, 130, 130, 2.7], [1, 1000, 3, 1],
    [33, 1000, 64, 0.5], [7, 300, MAX_TOP_K, 1], [33, 257, 17, 2],
  ];
  for (const [R, V, K, temperature] of CASES) {
    it(`R=${R} V=${V} K=${K} tau=${temperature}`, () => checkTopk({ R, V, K, temperature }).then(() => {}));
  }

  it('equal logits: lower id first, −0 equal to +0, and identical results run to run', async () => {
    // Three distinct values over 1000 columns: hundreds of ties per value, so selection has to
    // resolve them on the ids (two id digits for V = 1000).
    const R = 7, V = 1000, K = 40;
    const x = rand(R * V, 3, 0, 3).map(Math.floor);
    x[5] = -0; x[9] = 0; x[V + 2] = -0;   // row 0 and 1: signed zeros among the zeros
    for (let j = 0; j < V; j++) x[2 * V + j] = j % 2 ? -0 : 0;   // row 2: all zeros, mixed signs
    const a = await checkTopk({ R, V, K, x, temperature: 1.3 });
    expect(Array.from(a.ids.subarray(2 * K, 3 * K))).toEqual(Array.from({ length: K }, (_, k) => k));
    const b = await checkTopk({ R, V, K, x, temperature: 1.3 });
    expect(b.ids).toEqual(a.ids);
    expect(b.logprobs).toEqual(a.logprobs);
  });

  it('more candidates than workgroup memory holds (ties at the threshold): read from the row', async () => {
    // Four levels over 5000 columns: ~1250 elements share the top value, more than the 1024
    // candidates the shader keeps, so the radix passes take the path that re-reads the row.
    const R = 3, V = 5000;
    const x = rand(R * V, 41, 0, 4).map(Math.floor);
    await checkTopk({ R, V, K: 50, x, temperature: 0.7 });
  });

  it('a constant row of V = 70000 (three id digits) gives ids 0..K−1 at −log V', async () => {
    const V = 70000, K = 5;
    const { logprobs } = await checkTopk({ R: 1, V, K, x: new Float32Array(V).fill(2.5) });
    expectClose(logprobs, new Array(K).fill(-Math.log(V)), { atol: 1e-5 }, 'constant row');
  });

  it('orders across signs and exponents (keys from the float bits)', async () => {
    const R = 3, V = 500, u = rand(R * V, 11, 0, 1), e = rand(R * V, 12, -30, 30);
    const x = u.map((v, i) => (v < 0.5 ? -1 : 1) * 2 ** e[i]);
    // Logits up to 2^30: the softmax is one-hot and the log-probs huge; only the ids and the
    // top entry (exactly 0) are meaningful, so check those and the rest against the reference
    // with a tolerance relative to |z| (checkTopk's atol scales with max|z|).
    const { logprobs } = await checkTopk({ R, V, K: 20, x });
    for (let r = 0; r < R; r++) expect(logprobs[r * 20]).toBe(0);
  });

  it('rowOffset: writes only rows [rowOffset, rowOffset + R) of ids and logprobs', async () => {
    const rt = await getRuntime();
    const N = 10, R = 3, V = 130, K = 5, off = 4;
    const x = rand(R * V, 21, -4, 4);
    const logits = rt.upload(x, [R, V], 'f32', 'logits');
    const ids = rt.upload(new Int32Array(N * K).fill(-7), [N, K], 'i32', 'ids');
    const logprobs = rt.upload(new Float32Array(N * K).fill(123), [N, K], 'f32', 'logprobs');
    rt.once(topkLogSoftmax(rt, { ids, logprobs, logits, rowOffset: off, temperature: 2 }));
    const gotIds = Int32Array.from(await rt.read(ids)), gotLp = await readF32(rt, logprobs);
    rt.free(logits, ids, logprobs);
    await expectNoGpuErrors(rt);
    const ref = topkLogSoftmaxRef(f64(x), R, V, K, 2);
    expect(Array.from(gotIds.subarray(off * K, (off + R) * K))).toEqual(Array.from(ref.ids));
    expectClose(gotLp.subarray(off * K, (off + R) * K), ref.logprobs, tol(2, V), 'chunk logprobs');
    for (const r of [0, 1, 2, 3, 7, 8, 9]) {
      expect(Array.from(gotIds.subarray(r * K, (r + 1) * K)), `row ${r} ids untouched`).toEqual(new Array(K).fill(-7));
      expect(Array.from(gotLp.subarray(r * K, (r + 1) * K)), `row ${r} logprobs untouched`).toEqual(new Array(K).fill(123));
    }
  });

  it('a row with NaN or ±Inf gets NaN log-probs and K distinct ids in range; other rows are exact', async () => {
    const rt = await getRuntime();
    const R = 5, V = 130, K = 7;
    const x = rand(R * V, 31, -4, 4);
    x[V + 17] = NaN;
    x[2 * V + 3] = Infinity;
    x[3 * V + 100] = -Infinity;
    for (let j = 0; j < V; j++) x[4 * V + j] = NaN;
    const logits = rt.upload(x, [R, V], 'f32', 'logits');
    const ids = rt.tensor([R, K], 'i32', 'ids'), logprobs = rt.tensor([R, K], 'f32', 'logprobs');
    rt.once(topkLogSoftmax(rt, { ids, logprobs, logits, rowOffset: 0 }));
    const gotIds = Int32Array.from(await rt.read(ids)), gotLp = await readF32(rt, logprobs);
    rt.free(logits, ids, logprobs);
    await expectNoGpuErrors(rt);
    const ref = topkLogSoftmaxRef(f64(x.subarray(0, V)), 1, V, K);
    expect(Array.from(gotIds.subarray(0, K))).toEqual(Array.from(ref.ids));
    expectClose(gotLp.subarray(0, K), ref.logprobs, tol(4, V), 'finite row');
    for (let r = 1; r < R; r++) {
      const row = Array.from(gotIds.subarray(r * K, (r + 1) * K));
      expect(new Set(row).size, `row ${r}: distinct ids`).toBe(K);
      expect(row.every((i) => i >= 0 && i < V), `row ${r}: ids in [0, V)`).toBe(true);
      expect(Array.from(gotLp.subarray(r * K, (r + 1) * K)).every(Number.isNaN), `row ${r}: NaN logprobs`).toBe(true);
    }
    expect(gotIds[2 * K], '+Inf is the largest').toBe(3);
  });

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const logits = rt.tensor([4, 10], 'f32', 'logits'), ids = rt.tensor([6, 3], 'i32', 'ids'), logprobs = rt.tensor([6, 3], 'f32', 'lps');
    const bigK = rt.tensor([6, 11], 'i32', 'bigK'), lpsK = rt.tensor([6, 11], 'f32', 'lpsK');
    const hugeLogits = rt.tensor([1, 300], 'f32', 'wide'), hugeK = rt.tensor([6, 257], 'i32', 'K257'), hugeLp = rt.tensor([6, 257], 'f32', 'lp257');
    const fIds = rt.tensor([6, 3], 'f32', 'fids'), iLogits = rt.tensor([4, 10], 'i32', 'ilogits'), lps4 = rt.tensor([6, 4], 'f32', 'lps4');
    const ok = { ids, logprobs, logits, rowOffset: 0 };
    const op = (a: Partial<typeof ok> & { temperature?: number }) => () => topkLogSoftmax(rt, { ...ok, ...a });
    expect(op({ ids: bigK, logprobs: lpsK })).toThrow(/topkLogSoftmax: ids \(bigK\) has K = 11 entries per row but the vocabulary \(logits logits\) has only V = 10/);
    expect(op({ logits: hugeLogits, ids: hugeK, logprobs: hugeLp })).toThrow(/topkLogSoftmax: ids \(K257\) has K = 257 entries per row, at most 256 are supported/);
    expect(op({ ids: fIds })).toThrow(/topkLogSoftmax: ids \(fids\) has dtype f32, expected i32/);
    expect(op({ logits: iLogits })).toThrow(/topkLogSoftmax: logits \(ilogits\) has dtype i32, expected f32/);
    expect(op({ logprobs: ids })).toThrow(/topkLogSoftmax: logprobs \(ids\) has dtype i32, expected f32/);
    expect(op({ logprobs: lps4 })).toThrow(/topkLogSoftmax: logprobs \(lps4\) has shape \(6, 4\), expected \(6, 3\)/);
    expect(op({ rowOffset: 3 })).toThrow(/topkLogSoftmax: rows \[3, 7\) of the chunk \(logits logits has R = 4\) do not fit in the N = 6 rows of ids \(ids\)/);
    expect(op({ rowOffset: -1 })).toThrow(/topkLogSoftmax: rows \[-1, 3\)/);
    expect(op({ temperature: 0 })).toThrow(/topkLogSoftmax: temperature must be a positive number, got 0/);
    expect(op({ temperature: NaN })).toThrow(/topkLogSoftmax: temperature must be a positive number, got NaN/);
    expect(op({ logprobs: { ...logits, shape: [6, 3] } })).toThrow(/topkLogSoftmax: logprobs \(logits\) and logits \(logits\) overlap/);
    expect(rt.errors).toEqual([]);
    rt.free(logits, ids, logprobs, bigK, lpsK, hugeLogits, hugeK, hugeLp, fIds, iLogits, lps4);
    await expectNoGpuErrors(rt);
  });
});
