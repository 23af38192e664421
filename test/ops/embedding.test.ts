import { describe, it, expect } from 'vitest';
import type { Runtime } from '../../src/gpu/runtime.ts';
import { embeddingBackward, embeddingBackwardIndex, embeddingForward, embeddingIndexShape } from '../../src/ops/embedding.ts';
import { embeddingBackwardRef, embeddingRef } from '../reference/embedding.ts';
import { f64, finiteDifferenceError } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, randInt, readF32 } from '../helpers/gpu.ts';

// Tolerances: the forward copies f32 values, so it is exact; with `accumulate` it is one f32 add,
// which WGSL requires to be correctly rounded, so it must equal Math.fround(a + b) exactly.
// The backward adds each id's tokens in the index's fixed order: it must equal the same f32
// additions done on the CPU in that order, bit for bit, and the float64 sum within k · 2^-24 · Σ|v|
// for an id seen k times (the standard bound for sequential summation).

/** CPU emulation of the kernel's f32 sums: same order as the index, one rounding per add. */
function f32Backward(index: Int32Array, dout: Float32Array, init: Float32Array, n: number, C: number): Float32Array {
  const out = Float32Array.from(init);
  for (let u = 0; u < index[0]; u++) {
    const id = index[1 + u];
    for (let c = 0; c < C; c++) {
      let acc = 0;
      for (let k = index[1 + n + u]; k < index[2 + n + u]; k++) acc = Math.fround(acc + dout[index[2 + 2 * n + k] * C + c]);
      out[id * C + c] = Math.fround(out[id * C + c] + acc);
    }
  }
  return out;
}

/** Bit-for-bit equality (a deep toEqual on large typed arrays is slow). */
function expectSameBits(a: Float32Array | Uint32Array, b: Float32Array | Uint32Array, what: string): void {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  expect(x.length, what).toBe(y.length);
  const i = x.findIndex((v, k) => v !== y[k]);
  if (i >= 0) expect.fail(`${what}: element ${i} differs: ${a[i]} vs ${b[i]}`);
}

/** Forward, forward with accumulate (a second table, as GPT-2's positions), backward into a non-zero dtable. */
async function checkEmbedding(rt: Runtime, B: number, T: number, V: number, C: number, ids: Int32Array, seed: number): Promise<void> {
  const n = B * T;
  const tab = rand(V * C, seed), wpe = rand(T * C, seed + 1), g = rand(n * C, seed + 2), init = rand(V * C, seed + 3);
  const pos = Int32Array.from({ length: n }, (_, i) => i % T);
  const tIds = rt.upload(ids, [B, T], 'i32', 'ids'), tPos = rt.upload(pos, [B, T], 'i32', 'pos');
  const table = rt.upload(tab, [V, C], 'f32', 'table'), ptable = rt.upload(wpe, [T, C], 'f32', 'wpe');
  const out = rt.upload(rand(n * C, seed + 4), [B, T, C], 'f32', 'out'); // garbage: the forward overwrites it
  rt.once(embeddingForward(rt, { out, ids: tIds, table }));
  const tok = embeddingRef(ids, f64(tab), V, C);
  expectClose(await readF32(rt, out), tok, { atol: 0 }, 'embedding out');
  rt.once(embeddingForward(rt, { out, ids: tPos, table: ptable, accumulate: true }));
  const both = embeddingRef(pos, f64(wpe), T, C).map((v, i) => Math.fround(tok[i] + v));
  expectClose(await readF32(rt, out), both, { atol: 0 }, 'embedding out + positions');

  const index = embeddingBackwardIndex(ids, V);
  const tIndex = rt.upload(index, embeddingIndexShape(n), 'i32', 'index');
  const dout = rt.upload(g, [B, T, C], 'f32', 'dout'), dtable = rt.upload(init, [V, C], 'f32', 'dtable');
  rt.once(embeddingBackward(rt, { dtable, dout, ids: tIds, index: tIndex }));
  const got = await readF32(rt, dtable);
  expectSameBits(got, f32Backward(index, g, init, n, C), 'dtable vs CPU f32 sums in index order');
  const ref = embeddingBackwardRef(ids, f64(g), V, C);
  const counts = new Float64Array(V);
  for (const id of ids) if (id >= 0 && id < V) counts[id]++;
  expectClose(got, ref.map((v, i) => init[i] + v), { atol: (Math.max(...counts) + 1) * 2 ** -24 * (Math.max(...counts) + 1) }, 'embedding dtable');
  rt.free(tIds, tPos, table, ptable, out, tIndex, dout, dtable);
  await expectNoGpuErrors(rt);
}

describe('embedding', () => {
  const cases: [number, number, number, number][] = [[1, 1, 1, 1], [2, 7, 5, 3], [3, 11, 50, 67], [2, 65, 1000, 768]];
  for (const [B, T, V, C] of cases) {
    it(`forward, accumulate and backward at B=${B}, T=${T}, V=${V}, C=${C}`, async () => {
      const ids = randInt(B * T, V + C, V);
      await checkEmbedding(await getRuntime(), B, T, V, C, ids, B * T + C);
    });
  }

  it('out-of-range ids read nothing and get no gradient', async () => {
    const V = 6, ids = Int32Array.from([-1, 6, 2147483647, -2147483648, 0, 5, 3, 100]);
    await checkEmbedding(await getRuntime(), 2, 4, V, 5, ids, 1);
    const index = embeddingBackwardIndex(ids, V);
    expect(index[0]).toBe(3); // 0, 3 and 5
  });

  it('many repeats of one id: deterministic, the same bits on every run', async () => {
    const rt = await getRuntime();
    const B = 4, T = 300, V = 10, C = 33, n = B * T;
    const ids = randInt(n, 3, V).map((v, i) => (i % 10 === 0 ? v : 7)); // id 7 ~90% of the tokens
    await checkEmbedding(rt, B, T, V, C, ids, 5);
    const g = rand(n * C, 8, -1e3, 1e3); // large magnitudes: any change of order changes bits
    const tIds = rt.upload(ids, [B, T], 'i32'), dout = rt.upload(g, [B, T, C]);
    const tIndex = rt.upload(embeddingBackwardIndex(ids, V), embeddingIndexShape(n), 'i32');
    const runs: Uint32Array[] = [];
    for (let r = 0; r < 2; r++) {
      const dtable = rt.tensor([V, C], 'f32', 'dtable', true);
      rt.once(embeddingBackward(rt, { dtable, dout, ids: tIds, index: tIndex }));
      runs.push(new Uint32Array((await readF32(rt, dtable)).buffer));
      rt.free(dtable);
    }
    expectSameBits(runs[0], runs[1], 'dtable, run 1 vs run 2');
    rt.free(tIds, dout, tIndex);
    await expectNoGpuErrors(rt);
  });

  it('one dispatch, built once, serves batches with different ids (gradients accumulate)', async () => {
    const rt = await getRuntime();
    const B = 2, T = 9, V = 7, C = 20, n = B * T;
    const ids = rt.tensor([B, T], 'i32', 'ids'), index = rt.tensor(embeddingIndexShape(n), 'i32', 'index');
    const dout = rt.tensor([B, T, C], 'f32', 'dout'), dtable = rt.tensor([V, C], 'f32', 'dtable', true);
    const step = embeddingBackward(rt, { dtable, dout, ids, index });
    let expected = new Float64Array(V * C);
    for (let batch = 0; batch < 3; batch++) {
      const batchIds = randInt(n, 20 + batch, batch === 2 ? 2 : V), g = rand(n * C, 30 + batch);
      rt.write(ids, batchIds);
      rt.write(index, embeddingBackwardIndex(batchIds, V));
      rt.write(dout, g);
      rt.run(step);
      const ref = embeddingBackwardRef(batchIds, f64(g), V, C);
      expected = expected.map((v, i) => v + ref[i]);
    }
    rt.release(step);
    expectClose(await readF32(rt, dtable), expected, { atol: 1e-5 }, 'dtable after 3 batches'); // ≤ 3·18 adds of |v| < 1
    rt.free(ids, index, dout, dtable);
    await expectNoGpuErrors(rt);
  });

  it('embeddingBackwardIndex groups tokens by id in a fixed order', () => {
    const ids = Int32Array.from([3, 1, 3, -1, 7, 1, 3]);
    const n = ids.length;
    const index = embeddingBackwardIndex(ids, 5);
    expect(index.length).toBe(3 * n + 2);
    expect(index[0]).toBe(2);
    expect([...index.subarray(1, 3)]).toEqual([1, 3]);
    expect([...index.subarray(1 + n, 2 + 2 * n)]).toEqual([0, 2, 5, 5, 5, 5, 5, 5]);
    expect([...index.subarray(2 + 2 * n, 2 + 2 * n + 5)]).toEqual([1, 5, 0, 2, 6]);
  });

  it('reference backward matches finite differences', () => {
    const V = 4, C = 3, ids = [2, 0, 2, 3, 2];
    const table = f64(rand(V * C, 1)), g = f64(rand(ids.length * C, 2));
    const err = finiteDifferenceError(([t]) => embeddingRef(ids, t, V, C), (_, d) => [embeddingBackwardRef(ids, d, V, C)], [table], g);
    expect(err).toBeLessThan(1e-7); // linear in the table: exact up to rounding
  });

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const ids = rt.tensor([2, 3], 'i32', 'ids'), fids = rt.tensor([2, 3], 'f32', 'fids');
    const table = rt.tensor([10, 4], 'f32', 'table'), out = rt.tensor([2, 3, 4], 'f32', 'out'), out5 = rt.tensor([2, 3, 5], 'f32', 'out5');
    const index = rt.tensor([20], 'i32', 'index'), badIndex = rt.tensor([19], 'i32', 'bad');
    expect(() => embeddingForward(rt, { out, ids: fids, table })).toThrow(/embeddingForward: ids \(fids\) has dtype f32, expected i32/);
    expect(() => embeddingForward(rt, { out: out5, ids, table })).toThrow(/embeddingForward: out \(out5\) has shape \(2, 3, 5\), expected \(2, 3, 4\)/);
    expect(() => embeddingBackward(rt, { dtable: table, dout: out, ids, index: badIndex })).toThrow(/embeddingBackward: index \(bad\) has shape \(19\), expected \(20\)/);
    expect(() => embeddingBackward(rt, { dtable: table, dout: out5, ids, index })).toThrow(/embeddingBackward: dout \(out5\) has shape/);
    expect(() => embeddingForward(rt, { out: table, ids, table })).toThrow(/out \(table\) has shape \(10, 4\)/);
    rt.free(ids, fids, table, out, out5, index, badIndex);
    await expectNoGpuErrors(rt);
  });
});
