import { describe, it, expect } from 'vitest';
import { countTargets, crossEntropy, IGNORE_INDEX } from '../../src/ops/cross_entropy.ts';
import { accuracyRef, crossEntropyBackwardRef, crossEntropyRef } from '../reference/cross_entropy.ts';
import { f64, finiteDifferenceError } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, randInt, readF32 } from '../helpers/gpu.ts';

// Tolerances. Each of the 256 invocations of a row (on GPUs; 8 or 16 on CPU adapters, whose
// longer per-invocation sums stay within the same bounds) adds L = ceil(V/256) terms exp(x − m)
// in f32, then a tree of depth 8 merges them. Rounding errors of such sums grow like √L + 8 ulps in
// practice (the worst case, L + 8, is ~30x looser than measured and would hide a dropped term at
// V = 50257), plus a few ulps from exp and log: we allow 4 ulps per step. The loss log(s) + m − x_t
// inherits that as an absolute error plus one rounding at the scale of |m| ≤ amp and of the loss
// itself. The gradient exp(x − m)/s − [j = t] inherits it relative to 1 (at the target), times
// gradScale. Measured on lavapipe with 256 lanes: errors used at most 0.3 of these tolerances.
const ULP = 2 ** -24;
const steps = (V: number) => Math.sqrt(Math.ceil(V / 256)) + 8;
const lossTol = (V: number, amp: number) => ({ atol: 4 * steps(V) * ULP + 2 * amp * ULP, rtol: 2 * ULP });
const gradTol = (V: number, scale: number) => ({ atol: 2 * steps(V) * ULP * Math.abs(scale) });

interface CEOpts {
  /** Rows per chunk: the chunks run one after the other on one reused logits buffer. */
  chunks: number[];
  V: number;
  seed: number;
  /** Logits are uniform in [−amp, amp). */
  amp?: number;
  /** Fraction of rows whose target is -100. */
  ignore?: number;
  /** 'mean' → 1 / countTargets, as the trainer does. */
  gradScale?: number | 'mean';
  correct?: boolean;
  evaluate?: boolean;
}

/** Runs the op chunk by chunk on seeded data and checks losses, accuracy and dlogits against the reference. */
async function checkCE(o: CEOpts) {
  const rt = await getRuntime();
  const { V, chunks } = o;
  const N = chunks.reduce((a, b) => a + b, 0), Rmax = Math.max(...chunks), amp = o.amp ?? 4;
  const x = rand(N * V, o.seed, -amp, amp);
  const targets = randInt(N, o.seed + 1, V);
  const drop = rand(N, o.seed + 2, 0, 1);
  targets.forEach((_, i) => { if (drop[i] < (o.ignore ?? 0)) targets[i] = IGNORE_INDEX; });
  const scale = o.gradScale === 'mean' ? 1 / Math.max(1, countTargets(targets)) : (o.gradScale ?? 1);

  const logits = rt.tensor([Rmax, V], 'f32', 'logits');
  const tTargets = rt.upload(targets, [N], 'i32', 'targets');
  const losses = rt.tensor([N], 'f32', 'losses');
  const correct = o.correct ? rt.tensor([N], 'f32', 'correct') : undefined;
  const gradScale = rt.upload([scale], [1], 'f32', 'gradScale');
  const grads = new Float32Array(N * V);
  let rowOffset = 0;
  for (const R of chunks) {
    const view = R === Rmax ? logits : { ...logits, shape: [R, V] }; // the first R rows of the buffer
    const chunk = x.subarray(rowOffset * V, (rowOffset + R) * V);
    rt.write(view, chunk);
    rt.once(crossEntropy(rt, { logits: view, targets: tTargets, rowOffset, losses, correct, gradScale: o.evaluate ? undefined : gradScale, evaluate: o.evaluate }));
    grads.set(await readF32(rt, view), rowOffset * V);
    rowOffset += R;
  }
  const loss = await readF32(rt, losses);
  const acc = correct ? await readF32(rt, correct) : undefined;
  rt.free(logits, tTargets, losses, gradScale, ...(correct ? [correct] : []));
  await expectNoGpuErrors(rt);

  const xd = f64(x);
  expectClose(loss, crossEntropyRef(xd, targets, V), lossTol(V, amp), 'loss');
  if (acc) expect(Array.from(acc)).toEqual(Array.from(accuracyRef(xd, targets, V)));
  if (o.evaluate) expect(grads).toEqual(x); // evaluation leaves the logits alone
  else expectClose(grads, crossEntropyBackwardRef(xd, targets, V, new Float64Array(N).fill(scale)), gradTol(V, scale), 'dlogits');
  // Ignored rows get exactly zero loss and gradient.
  targets.forEach((t, r) => {
    if (t !== IGNORE_INDEX) return;
    expect(loss[r]).toBe(0);
    if (!o.evaluate) expect(grads.subarray(r * V, (r + 1) * V).every((g) => g === 0)).toBe(true);
  });
  return { loss, grads, targets, scale };
}

describe('crossEntropy', () => {
  // V % 4 == 0 (4, 132, and the larger ones below) takes the vec4 entry points, the others the scalar ones.
  for (const [R, V] of [[1, 1], [7, 3], [33, 130], [1, 50_257], [5, 4], [9, 132]]) {
    it(`R=${R} V=${V}, ignored rows, accuracy`, () => checkCE({ chunks: [R], V, seed: R * 1000 + V, ignore: 0.25, correct: true, gradScale: 0.37 }).then(() => {}));
  }

  it('V=151936 (Qwen2 vocabulary), 2 rows', () => checkCE({ chunks: [2], V: 151_936, seed: 4, correct: true }).then(() => {}));

  for (const V of [130, 132]) {
    it(`large logits stay finite (online max), V=${V}`, () => checkCE({ chunks: [7], V, seed: 8, amp: 200, correct: true }).then(() => {}));
  }

  it('3 chunks on one reused buffer equal the unchunked mean loss and gradient (gradScale = 1/count)', async () => {
    const chunked = await checkCE({ chunks: [7, 7, 6], V: 130, seed: 21, ignore: 0.3, gradScale: 'mean', correct: true });
    const whole = await checkCE({ chunks: [20], V: 130, seed: 21, ignore: 0.3, gradScale: 'mean' });
    // Rows are independent: chunking must not change a single bit.
    expect(chunked.loss).toEqual(whole.loss);
    expect(chunked.grads).toEqual(whole.grads);
    // Mean over the unmasked tokens of the whole batch: Σ loss · gradScale, and Σ of the gradients
    // of the reference mean loss (which the elementwise check above already compared).
    const count = countTargets(chunked.targets);
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(20);
    expect(chunked.scale).toBe(1 / count);
    const refMean = crossEntropyRef(f64(rand(20 * 130, 21, -4, 4)), chunked.targets, 130).reduce((a, b) => a + b, 0) / count;
    const gpuMean = chunked.loss.reduce((a, b) => a + b, 0) * chunked.scale;
    expectClose([gpuMean], [refMean], { atol: 1e-5 }, 'mean loss (20 rows, each within lossTol)');
  });

  it('evaluate: loss and accuracy only, logits untouched, no gradScale', () => checkCE({ chunks: [5, 4], V: 300, seed: 31, ignore: 0.2, correct: true, evaluate: true }).then(() => {}));

  it('accuracy: ties go to the first index, as torch.argmax (train and evaluate)', async () => {
    const rt = await getRuntime();
    const V = 600;
    // With 256 invocations: maxima at j = 260 (invocation 4) and j = 10 (invocation 10): the tree
    // merges a later column from a lower invocation; j = 10 and 266 share invocation 10. V = 600
    // takes the vec4 path: rows 4 and 5 tie inside one vec4 (261, 262 and 262, 263).
    const ties = [[260, 10], [10, 266], [260, 10], [261, 262], [262, 263]], t = [10, 10, 260, 261, 263];
    const R = ties.length;
    const x = rand(R * V, 12, -1, 1);
    ties.forEach((js, r) => js.forEach((j) => (x[r * V + j] = 5)));
    for (const evaluate of [false, true]) {
      const logits = rt.upload(x, [R, V], 'f32', 'logits'), targets = rt.upload(t, [R], 'i32', 'targets');
      const losses = rt.tensor([R], 'f32', 'losses'), correct = rt.tensor([R], 'f32', 'correct'), gradScale = rt.upload([1], [1], 'f32', 'gs');
      rt.once(crossEntropy(rt, { logits, targets, rowOffset: 0, losses, correct, gradScale, evaluate }));
      expect(Array.from(await readF32(rt, correct)), evaluate ? 'evaluate' : 'train').toEqual([1, 1, 0, 1, 0]);
      rt.free(logits, targets, losses, correct, gradScale);
    }
    expect(Array.from(accuracyRef(f64(x), Int32Array.from(t), V))).toEqual([1, 1, 0, 1, 0]);
    await expectNoGpuErrors(rt);
  });

  for (const V of [5, 8]) it(`a target outside [0, V) gives a NaN loss and zero gradient, V=${V}`, async () => {
    const rt = await getRuntime();
    const logits = rt.upload(rand(3 * V, 1), [3, V], 'f32', 'logits');
    const targets = rt.upload([V + 2, -3, 2], [3], 'i32', 'targets');
    const losses = rt.tensor([3], 'f32', 'losses'), correct = rt.tensor([3], 'f32', 'correct'), gradScale = rt.upload([1], [1], 'f32', 'gs');
    rt.once(crossEntropy(rt, { logits, targets, rowOffset: 0, losses, correct, gradScale }));
    const l = await readF32(rt, losses), g = await readF32(rt, logits), c = await readF32(rt, correct);
    expect(Number.isNaN(l[0]) && Number.isNaN(l[1])).toBe(true);
    expect(Number.isFinite(l[2])).toBe(true);
    expect(Array.from(g.subarray(0, 2 * V))).toEqual(new Array(2 * V).fill(0));
    expect(c[0] + c[1]).toBe(0);
    rt.free(logits, targets, losses, correct, gradScale);
    await expectNoGpuErrors(rt);
  });

  for (const V of [2, 4]) it(`more than 65535 rows in one chunk (2D grid), V=${V}`, async () => {
    const rt = await getRuntime();
    const R = 65_537;
    const x = rand(R * V, 3);
    const t = randInt(R, 4, V);
    const logits = rt.upload(x, [R, V], 'f32', 'logits'), targets = rt.upload(t, [R], 'i32', 'targets');
    const losses = rt.tensor([R], 'f32', 'losses'), gradScale = rt.upload([1], [1], 'f32', 'gs');
    rt.once(crossEntropy(rt, { logits, targets, rowOffset: 0, losses, gradScale }));
    const l = await readF32(rt, losses);
    const ref = crossEntropyRef(f64(x), t, V);
    expectClose([l[0], l[R - 1]], [ref[0], ref[R - 1]], lossTol(V, 1), 'first and last row');
    rt.free(logits, targets, losses, gradScale);
    await expectNoGpuErrors(rt);
  });

  it('deterministic: bit-identical loss and gradient twice', async () => {
    const a = await checkCE({ chunks: [3], V: 5000, seed: 77, gradScale: 0.01 });
    const b = await checkCE({ chunks: [3], V: 5000, seed: 77, gradScale: 0.01 });
    expect(new Uint32Array(b.loss.buffer)).toEqual(new Uint32Array(a.loss.buffer));
    expect(new Uint32Array(b.grads.buffer)).toEqual(new Uint32Array(a.grads.buffer));
  });

  it('reference gradient matches finite differences', () => {
    const V = 6, N = 4;
    const targets = Int32Array.of(2, IGNORE_INDEX, 0, 5);
    const x = f64(rand(N * V, 5, -3, 3));
    const dloss = f64(rand(N, 6));
    const err = finiteDifferenceError(
      ([l]) => crossEntropyRef(l, targets, V),
      ([l], d) => [crossEntropyBackwardRef(l, targets, V, d)],
      [x], dloss, { samples: N * V },
    );
    // Central differences with eps 1e-6 on smooth float64 functions: error ~1e-9.
    expect(err).toBeLessThan(1e-6);
  });

  it('countTargets counts rows that are not -100', () => {
    expect(countTargets(Int32Array.of(1, -100, 0, -100, 7))).toBe(3);
    expect(countTargets(new Int32Array(0))).toBe(0);
  });

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const logits = rt.tensor([4, 10], 'f32', 'logits'), targets = rt.tensor([6], 'i32', 'targets');
    const losses = rt.tensor([6], 'f32', 'losses'), gradScale = rt.tensor([1], 'f32', 'gs');
    const fTargets = rt.tensor([6], 'f32', 'ftargets'), shortLosses = rt.tensor([5], 'f32', 'short'), gs2 = rt.tensor([2], 'f32', 'gs2');
    const ok = { logits, targets, rowOffset: 0, losses, gradScale };
    expect(() => crossEntropy(rt, { ...ok, rowOffset: 3 })).toThrow(/crossEntropy: rows \[3, 7\) of the chunk \(logits logits has R = 4\) do not fit in the N = 6 targets/);
    expect(() => crossEntropy(rt, { ...ok, targets: fTargets })).toThrow(/crossEntropy: targets \(ftargets\) has dtype f32, expected i32/);
    expect(() => crossEntropy(rt, { ...ok, losses: shortLosses })).toThrow(/crossEntropy: losses \(short\) has shape \(5\), expected \(6\)/);
    expect(() => crossEntropy(rt, { ...ok, gradScale: undefined })).toThrow(/crossEntropy: gradScale .* is required unless evaluate/);
    expect(() => crossEntropy(rt, { ...ok, gradScale: gs2 })).toThrow(/crossEntropy: gradScale \(gs2\) has shape \(2\), expected \(1\)/);
    expect(() => crossEntropy(rt, { ...ok, logits: { ...logits, shape: [40] } })).toThrow(/crossEntropy: logits \(logits\) has shape \(40\), expected rank 2/);
    rt.free(logits, targets, losses, gradScale, fTargets, shortLosses, gs2);
    await expectNoGpuErrors(rt);
  });
});
