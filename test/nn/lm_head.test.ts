import { describe, expect, it } from 'vitest';
import { lmHeadChunkRows, lmHeadLoss, lmHeadScratchShape } from '../../src/nn/lm_head.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32 } from '../helpers/gpu.ts';

/** f64 reference: per-row CE, dh = (softmax − onehot)·scale·W, dW = Σ rows. */
function ref(h: Float32Array, W: Float32Array, targets: Int32Array, N: number, C: number, V: number, scale: number) {
  const losses = new Float64Array(N), dh = new Float64Array(N * C), dW = new Float64Array(V * C);
  for (let r = 0; r < N; r++) {
    const z = new Float64Array(V);
    for (let v = 0; v < V; v++) for (let c = 0; c < C; c++) z[v] += h[r * C + c] * W[v * C + c];
    if (targets[r] === -100) continue;
    const m = Math.max(...z);
    const s = z.reduce((a, x) => a + Math.exp(x - m), 0);
    losses[r] = m + Math.log(s) - z[targets[r]];
    for (let v = 0; v < V; v++) {
      const g = (Math.exp(z[v] - m) / s - (v === targets[r] ? 1 : 0)) * scale;
      for (let c = 0; c < C; c++) {
        dh[r * C + c] += g * W[v * C + c];
        dW[v * C + c] += g * h[r * C + c];
      }
    }
  }
  return { losses, dh, dW };
}

describe('lmHeadLoss (chunked LM head + cross-entropy)', () => {
  it('chunk rows keep every chunk 256-byte aligned and fit the budget', () => {
    expect(lmHeadChunkRows(1024, 256, 49152, 32 << 20)).toBe(160); // 170 fit; a multiple of the matmul's 32-row tile
    expect(lmHeadChunkRows(1024, 256, 49152, 4 * 49152 * 20)).toBe(20); // under one tile: aligned units only
    expect(lmHeadChunkRows(1024, 33, 50, 64 * 50 * 4 * 3)).toBe(192); // C = 33: units of 64 rows
    expect(lmHeadChunkRows(1024, 33, 50, 383 * 50 * 4)).toBe(320); // units of 64 rows are whole tiles
    expect(lmHeadChunkRows(10, 32, 50, 1)).toBe(2); // at least one aligned unit
    expect(lmHeadChunkRows(10, 32, 50)).toBe(10); // all rows when they fit
    for (const [N, C, V] of [[1024, 576, 49152], [77, 48, 260], [4096, 2048, 128256]]) {
      const R = lmHeadChunkRows(N, C, V);
      expect(R === N || (R * C * 4) % 256 === 0).toBe(true);
    }
    expect(lmHeadScratchShape(77, 48, 260)).toEqual([77, 260]);
  });

  // f32 over C = 40 products and V = 70 exponentials, in another order than f64: ~1e-6 relative.
  const TOL = { atol: 2e-6, rtol: 1e-5 };
  // C = 40: chunks come in units of 8 rows (8·40·4 = 1280 bytes, a multiple of 256).
  for (const R of [64, 16, 8]) {
    it(`N 37 rows, budget ${R} rows: losses, dhidden, dweight (+=) and evaluate mode`, async () => {
      const rt = await getRuntime();
      const N = 37, C = 40, V = 70;
      const h = rand(N * C, 1), W = rand(V * C, 2, -0.5, 0.5), dW0 = rand(V * C, 3);
      const targets = Int32Array.from({ length: N }, (_, i) => (i % 5 === 0 ? -100 : (i * 7) % V));
      const scale = 1 / targets.filter((t) => t !== -100).length;
      const th = rt.upload(h, [N, C], 'f32', 'h'), tW = rt.upload(W, [V, C], 'f32', 'W'), tdW = rt.upload(dW0, [V, C], 'f32', 'dW');
      const tt = rt.upload(targets, [N], 'i32', 'targets'), tdh = rt.tensor([N, C], 'f32', 'dh');
      const losses = rt.tensor([N], 'f32', 'losses'), correct = rt.tensor([N], 'f32', 'correct');
      const gs = rt.upload([scale], [1], 'f32', 'gradScale');
      const logits = rt.tensor(lmHeadScratchShape(N, C, V, R * V * 4), 'f32', 'logits');
      expect(logits.shape[0]).toBe(Math.min(N, R));
      rt.once(lmHeadLoss(rt, { hidden: th, dhidden: tdh, weight: tW, dweight: tdW, targets: tt, losses, correct, gradScale: gs, logits }));
      const r = ref(h, W, targets, N, C, V, scale);
      expectClose(await readF32(rt, losses), r.losses, TOL, 'losses');
      expectClose(await readF32(rt, tdh), r.dh, TOL, 'dhidden');
      expectClose(await readF32(rt, tdW), r.dW.map((x, i) => x + dW0[i]), TOL, 'dweight');
      const trained = await readF32(rt, losses);
      rt.once(lmHeadLoss(rt, { hidden: th, weight: tW, targets: tt, losses, logits, evaluate: true }));
      expect(await readF32(rt, losses)).toEqual(trained);
      rt.free(th, tW, tdW, tt, tdh, losses, correct, gs, logits);
      await expectNoGpuErrors(rt);
    });
  }

  it('rejects misaligned chunks and mismatched shapes', async () => {
    const rt = await getRuntime();
    const h = rt.tensor([10, 40], 'f32', 'h'), W = rt.tensor([7, 40], 'f32', 'W'), t = rt.tensor([10], 'i32', 't'), l = rt.tensor([10], 'f32', 'l');
    const bad = rt.tensor([3, 7], 'f32', 'logits');
    expect(() => lmHeadLoss(rt, { hidden: h, weight: W, targets: t, losses: l, logits: bad, evaluate: true })).toThrow(/lmHeadLoss: chunks of R = 3 rows of C = 40 floats do not start on 256-byte boundaries/);
    const wrongV = rt.tensor([2, 8], 'f32', 'logits8');
    expect(() => lmHeadLoss(rt, { hidden: h, weight: W, targets: t, losses: l, logits: wrongV, evaluate: true })).toThrow(/lmHeadLoss: logits \(logits8\) has shape \(2, 8\), expected \(R, 7\)/);
    rt.free(h, W, t, l, bad, wrongV);
  });
});
