import { describe, it, expect } from 'vitest';
import { distillLoss, type DistillKind } from '../../src/ops/distill.ts';
import { IGNORE_INDEX } from '../../src/ops/cross_entropy.ts';
import { distillBackwardRef, distillRef, teacherTopK, type DistillRefOpts } from '../reference/distill.ts';
import { f64, finiteDifferenceError } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, randInt, readF32 } from '../helpers/gpu.ts';

// Tolerances. The CE part is the cross-entropy kernel's computation (sums of ≤ ceil(V/256) terms
// per invocation and a depth-8 tree) on logits |x| ≤ 4. D is a sum of K ≤ 20 terms
// p·(log p − log q) whose logs are O(|x|/τ + log K) ≤ ~8 and are differences of f32 values, each
// rounded to an ulp of their magnitude; the loss therefore carries an absolute error of a few ulps
// of (1 + amp + log K), and its own rounding (rtol). Gradients are probabilities (≤ 1) or
// q·(log-ratio differences), errors a few ulps of (1 + amp), times gradScale. We allow 8 such
// ulps: measured on lavapipe the worst element needs just under 2 (0.25 of the tolerance; with
// 1 ulp three cases fail), while a missed 1/τ, a swapped mixture or a dropped term is off by ≥ 1e-3.
const ULP = 2 ** -24;
const AMP = 4;
const lossTol = (K: number) => ({ atol: 8 * ULP * (1 + AMP + Math.log(K + 1)), rtol: 4 * ULP });
const gradTol = (scale: number) => ({ atol: 8 * ULP * (1 + AMP) * Math.abs(scale) });

interface Case {
  R: number;
  V: number;
  K: number;
  kind: DistillKind;
  beta?: number;
  alpha: number;
  temperature: number;
  seed: number;
  ignore?: number;
  scale?: number;
  evaluate?: boolean;
  /** Also write token accuracy (the _acc entry points); `ties` rounds the logits so many tie. */
  correct?: boolean;
  ties?: boolean;
}

/** Runs the op on seeded data and checks losses and dlogits against the float64 reference. */
async function checkDistill(c: Case) {
  const rt = await getRuntime();
  const { R, V, K } = c, N = R;
  const x = rand(R * V, c.seed, -AMP, AMP).map((v) => (c.ties ? Math.round(v) : v));
  const targets = randInt(N, c.seed + 1, V);
  const drop = rand(N, c.seed + 2, 0, 1);
  targets.forEach((_, i) => { if (drop[i] < (c.ignore ?? 0.25)) targets[i] = IGNORE_INDEX; });
  const { ids, lps } = teacherTopK(N, V, K, rand(N * (K + 1) * 2, c.seed + 3, 0, 1));
  const lps32 = Float32Array.from(lps);
  const scale = c.scale ?? 0.37;

  const logits = rt.upload(x, [R, V], 'f32', 'logits');
  const tTargets = rt.upload(targets, [N], 'i32', 'targets');
  const tIds = rt.upload(ids, [N, K], 'i32', 'teacherIds');
  const tLps = rt.upload(lps32, [N, K], 'f32', 'teacherLogprobs');
  const losses = rt.tensor([N], 'f32', 'losses');
  const gradScale = rt.upload([scale], [1], 'f32', 'gradScale');
  const correct = c.correct ? rt.upload(new Float32Array(N).fill(7), [N], 'f32', 'correct') : undefined;
  rt.once(distillLoss(rt, {
    logits, targets: tTargets, teacherIds: tIds, teacherLogprobs: tLps, rowOffset: 0, losses, correct,
    gradScale: c.evaluate ? undefined : gradScale, kind: c.kind, beta: c.beta, alpha: c.alpha, temperature: c.temperature, evaluate: c.evaluate,
  }));
  const loss = await readF32(rt, losses), grads = await readF32(rt, logits);
  if (correct) {
    // First index of the row's maximum, as torch.argmax; ignored rows count as not correct.
    const want = Array.from(targets, (t, r) => {
      const row = x.subarray(r * V, (r + 1) * V);
      return t !== IGNORE_INDEX && row.indexOf(Math.max(...row)) === t ? 1 : 0;
    });
    expect(Array.from(await readF32(rt, correct))).toEqual(want);
    rt.free(correct);
  }
  rt.free(logits, tTargets, tIds, tLps, losses, gradScale);
  await expectNoGpuErrors(rt);

  const o: DistillRefOpts = { V, K, kind: c.kind, beta: c.beta, alpha: c.alpha, temperature: c.temperature };
  const xd = f64(x), lpd = f64(lps32);
  const what = `R=${R} V=${V} K=${K} ${c.kind}${c.beta !== undefined ? `(beta ${c.beta})` : ''} alpha=${c.alpha} tau=${c.temperature}`;
  expectClose(loss, distillRef(xd, targets, ids, lpd, o), lossTol(K), `${what}: loss`);
  if (c.evaluate) expect(grads).toEqual(x);
  else expectClose(grads, distillBackwardRef(xd, targets, ids, lpd, o, new Float64Array(N).fill(scale)), gradTol(scale), `${what}: dlogits`);
  targets.forEach((t, r) => {
    if (t !== IGNORE_INDEX) return;
    expect(loss[r]).toBe(0);
    if (!c.evaluate) expect(grads.subarray(r * V, (r + 1) * V).every((g) => g === 0)).toBe(true);
  });
  return { loss, grads };
}

const SHAPES: [number, number, number][] = [[1, 3, 1], [7, 130, 5], [33, 1000, 20], [7, 3, 3], [33, 130, 1], [1, 1000, 20]];
const SETTINGS: [number, number][] = [[0, 1], [0, 2], [0.5, 2], [1, 1], [0.5, 1]];
const KINDS: [DistillKind, number | undefined][] = [['forward', undefined], ['reverse', undefined], ['jsd', 0.3]];

describe('distillLoss', () => {
  for (const [R, V, K] of SHAPES) {
    for (const [kind, beta] of KINDS) {
      it(`${kind} R=${R} V=${V} K=${K}, alpha 0 / 0.5 / 1, tau 1 / 2, ignored rows`, async () => {
        for (const [i, [alpha, temperature]] of SETTINGS.entries()) {
          await checkDistill({ R, V, K, kind, beta, alpha, temperature, seed: R * 7919 + V * 31 + K + i * 101 });
        }
      });
    }
  }

  it('token accuracy from the same pass (train and evaluate): argmax == target, first index on ties, 0 on ignored rows; loss and gradient as without it', async () => {
    for (const evaluate of [false, true]) {
      // Integer logits in [-4, 4] over V = 9: most rows have tied maxima, and targets often hit them.
      await checkDistill({ R: 33, V: 9, K: 3, kind: 'forward', alpha: 0.5, temperature: 1, seed: 11, correct: true, ties: true, evaluate });
      await checkDistill({ R: 7, V: 130, K: 5, kind: 'jsd', beta: 0.3, alpha: 0.5, temperature: 2, seed: 12, correct: true, evaluate });
    }
  });

  it('evaluate: loss only, logits untouched, no gradScale', () => checkDistill({ R: 7, V: 130, K: 5, kind: 'jsd', beta: 0.5, alpha: 0.5, temperature: 2, seed: 5, evaluate: true }).then(() => {}));

  it('JSD endpoints: beta 0 is forward KL and beta 1 reverse KL (as TRL), and the general formula approaches them', async () => {
    const base = { R: 7, V: 130, K: 5, alpha: 0, temperature: 2, seed: 42, ignore: 0 };
    const fwd = await checkDistill({ ...base, kind: 'forward' });
    const rev = await checkDistill({ ...base, kind: 'reverse' });
    const j0 = await checkDistill({ ...base, kind: 'jsd', beta: 0 });
    const j1 = await checkDistill({ ...base, kind: 'jsd', beta: 1 });
    expect(j0.loss).toEqual(fwd.loss);
    expect(j0.grads).toEqual(fwd.grads);
    expect(j1.loss).toEqual(rev.loss);
    expect(j1.grads).toEqual(rev.grads);
    // Through the general (mixture) path: JSD(beta) = beta·KL(p‖q) + O(beta²) and
    // JSD(1 − e) = e·KL(q‖p) + O(e²), so dividing by the small weight recovers the endpoints to
    // O(e) relative: e = 1e-3 gives ~0.1 %; we allow 2 %. Swapping the roles of beta and 1 − beta
    // in the mixture would miss by far more.
    const e = 1e-3;
    const jl = await checkDistill({ ...base, kind: 'jsd', beta: e });
    const jh = await checkDistill({ ...base, kind: 'jsd', beta: 1 - e });
    expectClose(jl.loss.map((v) => v / e), fwd.loss, { atol: 1e-3, rtol: 0.02 }, 'JSD(1e-3) / 1e-3 vs forward KL');
    expectClose(jh.loss.map((v) => v / e), rev.loss, { atol: 1e-3, rtol: 0.02 }, 'JSD(1 − 1e-3) / 1e-3 vs reverse KL');
    // The same in float64, tighter.
    const x = f64(rand(3 * 40, 9, -4, 4)), t = Int32Array.of(1, 2, 3), { ids, lps } = teacherTopK(3, 40, 6, rand(100, 10, 0, 1));
    const o = { V: 40, K: 6, alpha: 0, temperature: 1.5 };
    const f = distillRef(x, t, ids, lps, { ...o, kind: 'forward' }), r = distillRef(x, t, ids, lps, { ...o, kind: 'reverse' });
    const lo = distillRef(x, t, ids, lps, { ...o, kind: 'jsd', beta: 1e-6 }), hi = distillRef(x, t, ids, lps, { ...o, kind: 'jsd', beta: 1 - 1e-6 });
    expectClose(lo.map((v) => v / 1e-6), f, { atol: 0, rtol: 1e-4 }, 'reference JSD(1e-6) / 1e-6');
    expectClose(hi.map((v) => v / 1e-6), r, { atol: 0, rtol: 1e-4 }, 'reference JSD(1 − 1e-6) / 1e-6');
  });

  it('rowOffset: two chunks on one buffer equal one whole run', async () => {
    const rt = await getRuntime();
    const N = 9, V = 50, K = 4, x = rand(N * V, 77, -4, 4), t = randInt(N, 78, V);
    const { ids, lps } = teacherTopK(N, V, K, rand(200, 79, 0, 1));
    const common = () => ({ targets: rt.upload(t, [N], 'i32', 't'), teacherIds: rt.upload(ids, [N, K], 'i32', 'ids'), teacherLogprobs: rt.upload(Float32Array.from(lps), [N, K], 'f32', 'lps'), losses: rt.tensor([N], 'f32', 'losses'), gradScale: rt.upload([1], [1], 'f32', 'gs') });
    const run = async (chunks: number[]) => {
      const c = common(), buf = rt.tensor([Math.max(...chunks), V], 'f32', 'logits'), grads = new Float32Array(N * V);
      let off = 0;
      for (const R of chunks) {
        const view = { ...buf, shape: [R, V] };
        rt.write(view, x.subarray(off * V, (off + R) * V));
        rt.once(distillLoss(rt, { logits: view, ...c, rowOffset: off, kind: 'jsd', beta: 0.5, alpha: 0.5, temperature: 2 }));
        grads.set(await readF32(rt, view), off * V);
        off += R;
      }
      const loss = await readF32(rt, c.losses);
      rt.free(buf, c.targets, c.teacherIds, c.teacherLogprobs, c.losses, c.gradScale);
      return { loss, grads };
    };
    const a = await run([5, 4]), b = await run([9]);
    expect(a.loss).toEqual(b.loss);
    expect(a.grads).toEqual(b.grads);
    await expectNoGpuErrors(rt);
  });

  it('a teacher id or target outside [0, V) gives a NaN loss and zero gradient', async () => {
    const rt = await getRuntime();
    const V = 6, K = 2;
    const logits = rt.upload(rand(3 * V, 1), [3, V], 'f32', 'logits');
    const targets = rt.upload([1, 9, 2], [3], 'i32', 'targets');
    const teacherIds = rt.upload([0, 7, 1, 2, 3, 4], [3, K], 'i32', 'ids');
    const teacherLogprobs = rt.upload([-1, -2, -1, -2, -1, -2], [3, K], 'f32', 'lps');
    const losses = rt.tensor([3], 'f32', 'losses'), gradScale = rt.upload([1], [1], 'f32', 'gs');
    rt.once(distillLoss(rt, { logits, targets, teacherIds, teacherLogprobs, rowOffset: 0, losses, gradScale, kind: 'forward', alpha: 0.5, temperature: 1 }));
    const l = await readF32(rt, losses), g = await readF32(rt, logits);
    expect(Number.isNaN(l[0]) && Number.isNaN(l[1])).toBe(true);
    expect(Number.isFinite(l[2])).toBe(true);
    expect(Array.from(g.subarray(0, 2 * V))).toEqual(new Array(2 * V).fill(0));
    rt.free(logits, targets, teacherIds, teacherLogprobs, losses, gradScale);
    await expectNoGpuErrors(rt);
  });

  for (const [kind, beta] of [...KINDS, ['jsd', 0.8]] as [DistillKind, number | undefined][]) {
    it(`reference gradient matches finite differences (${kind}${beta !== undefined ? ` beta ${beta}` : ''})`, () => {
      const N = 4, V = 7, K = 3;
      const targets = Int32Array.of(2, IGNORE_INDEX, 0, 6);
      const x = f64(rand(N * V, 5, -3, 3));
      const { ids, lps } = teacherTopK(N, V, K, rand(50, 6, 0, 1));
      const o: DistillRefOpts = { V, K, kind, beta, alpha: 0.4, temperature: 1.7 };
      const err = finiteDifferenceError(
        ([l]) => distillRef(l, targets, ids, lps, o),
        ([l], d) => [distillBackwardRef(l, targets, ids, lps, o, d)],
        [x], f64(rand(N, 7, 0.5, 1.5)), { samples: N * V },
      );
      // Central differences with eps 1e-6 on smooth float64 functions: error ~1e-9.
      expect(err).toBeLessThan(1e-6);
    });
  }

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const logits = rt.tensor([4, 10], 'f32', 'logits'), targets = rt.tensor([6], 'i32', 'targets');
    const teacherIds = rt.tensor([6, 3], 'i32', 'ids'), teacherLogprobs = rt.tensor([6, 3], 'f32', 'lps');
    const losses = rt.tensor([6], 'f32', 'losses'), gradScale = rt.tensor([1], 'f32', 'gs');
    const ids5 = rt.tensor([5, 3], 'i32', 'ids5'), lps4 = rt.tensor([6, 4], 'f32', 'lps4'), fIds = rt.tensor([6, 3], 'f32', 'fids'), bigK = rt.tensor([6, 11], 'i32', 'bigK');
    const ok = { logits, targets, teacherIds, teacherLogprobs, rowOffset: 0, losses, gradScale, kind: 'forward' as DistillKind, alpha: 0.5, temperature: 1 };
    expect(() => distillLoss(rt, { ...ok, teacherIds: ids5 })).toThrow(/distillLoss: teacherIds \(ids5\) has shape \(5, 3\), expected \(6, \*\)/);
    expect(() => distillLoss(rt, { ...ok, teacherLogprobs: lps4 })).toThrow(/distillLoss: teacherLogprobs \(lps4\) has shape \(6, 4\), expected \(6, 3\)/);
    expect(() => distillLoss(rt, { ...ok, teacherIds: fIds })).toThrow(/distillLoss: teacherIds \(fids\) has dtype f32, expected i32/);
    expect(() => distillLoss(rt, { ...ok, teacherIds: bigK })).toThrow(/distillLoss: teacherIds \(bigK\) has K = 11 .* V = 10/);
    expect(() => distillLoss(rt, { ...ok, rowOffset: 3 })).toThrow(/distillLoss: rows \[3, 7\) of the chunk \(logits logits has R = 4\) do not fit in the N = 6 targets/);
    expect(() => distillLoss(rt, { ...ok, kind: 'jsd' })).toThrow(/distillLoss: kind 'jsd' needs beta in \[0, 1\], got undefined/);
    expect(() => distillLoss(rt, { ...ok, temperature: 0 })).toThrow(/distillLoss: temperature must be a positive number, got 0/);
    expect(() => distillLoss(rt, { ...ok, alpha: 1.5 })).toThrow(/distillLoss: alpha must be in \[0, 1\], got 1.5/);
    expect(() => distillLoss(rt, { ...ok, gradScale: undefined })).toThrow(/distillLoss: gradScale .* is required unless evaluate/);
    rt.free(logits, targets, teacherIds, teacherLogprobs, losses, gradScale, ids5, lps4, fIds, bigK);
    await expectNoGpuErrors(rt);
  });
});
