// The training step on the toy architecture (test/train/toy-arch.ts) against a float64 torch-style
// training loop: loss normalisation over accumulated micro-batches, clipping, AdamW with weight
// decay and a schedule, frozen parameters, asynchronous metrics, non-finite steps, evaluation.
import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/gpu/runtime.ts';
import type { Batch } from '../../src/data/batch.ts';
import type { ScheduleConfig } from '../../src/optim/schedule.ts';
import { lmHead, type HeadSpec } from '../../src/train/head.ts';
import { TrainStep, type StepMetrics, type TrainConfig } from '../../src/train/step.ts';
import { expectClose, expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';
import { concatBatches, randomBatch, referenceTraining } from './step-helpers.ts';
import { toF64, toyStore, toyWeights, TOY_PARAMS } from './toy-arch.ts';

const V = 64;
const C = 32;
const T = 16;
const constant = (lr: number): ScheduleConfig => ({ lr, warmupSteps: 0, totalSteps: 100, kind: 'constant' });

function setup(rt: Runtime, config: TrainConfig, frozen: readonly string[] = []) {
  const toy = toyStore(rt, V, C, frozen);
  const trainer = new TrainStep(rt, toy.arch, toy.cfg, toy.store, config);
  return { ...toy, trainer, destroy: () => (trainer.destroy(), toy.store.destroy()) };
}

async function params(t: { store: { read(): Promise<Map<string, Float32Array>> } }): Promise<Map<string, Float32Array>> {
  return t.store.read();
}

function expectWeights(actual: Map<string, Float32Array>, expected: Map<string, Float64Array>, tol: { atol: number; rtol?: number }, what: string) {
  for (const name of TOY_PARAMS) expectClose(actual.get(name)!, expected.get(name)!, tol, `${what}: ${name}`);
}

describe('TrainStep on the toy model', () => {
  it('4 micro-batches of B equal one batch of 4B, normalised by the tokens of the whole step', async () => {
    const rt = await getRuntime();
    // Different masking per micro-batch: a per-micro-batch mean would weight them differently.
    const micro = [0.1, 0.5, 0.3, 0.8].map((masked, i) => randomBatch(2, T, V, 100 + 7 * i, masked));
    const common = { T, schedule: constant(1e-2), maxGradNorm: 0, weightDecay: 0.1 };
    const a = setup(rt, { ...common, B: 2, accumulation: 4 });
    const b = setup(rt, { ...common, B: 8 });
    const [ma, mb] = await Promise.all([a.trainer.step(micro).metrics, b.trainer.step([concatBatches(micro)]).metrics]);
    const ref = referenceTraining(toF64(toyWeights(V, C)), [micro], { V, C, schedule: constant(1e-2), maxGradNorm: 0, weightDecay: 0.1 });
    expect(ma.tokens).toBe(micro.reduce((n, x) => n + x.trainedTokens, 0));
    expect(ma.micro).toBe(4);
    // f32 sums in a different order (per micro-batch, then across): relative 1e-5.
    expect(ma.loss).toBeCloseTo(mb.loss, 5);
    expect(Math.abs(ma.gradNorm - mb.gradNorm) / mb.gradNorm).toBeLessThan(1e-5);
    expect(Math.abs(ma.loss - ref.losses[0])).toBeLessThan(1e-5);
    expect(Math.abs(ma.gradNorm - ref.norms[0]) / ref.norms[0]).toBeLessThan(1e-4);
    expect(ma.accuracy).toBeCloseTo(ref.accuracies[0], 6);
    // One AdamW step moves each element by about lr; gradients that differ by f32 rounding can
    // only change that where g is near 0 relative to eps, so 1e-5 absolute is several roundings.
    const [pa, pb] = await Promise.all([params(a), params(b)]);
    for (const name of TOY_PARAMS) expectClose(pa.get(name)!, pb.get(name)!, { atol: 2e-5 }, name);
    expectWeights(pa, ref.weights, { atol: 2e-5 }, 'vs float64');
    a.destroy();
    b.destroy();
    await expectNoGpuErrors(rt);
  });

  it('clips the gradient norm on the GPU, reporting the norm before clipping', async () => {
    const rt = await getRuntime();
    const batch = randomBatch(4, T, V, 5);
    const opts = { schedule: constant(1e-2), maxGradNorm: 0.05 };
    const t = setup(rt, { B: 4, T, ...opts });
    const m = await t.trainer.step([batch]).metrics;
    const ref = referenceTraining(toF64(toyWeights(V, C)), [[batch]], { V, C, ...opts });
    expect(ref.norms[0]).toBeGreaterThan(0.2); // clipping is really active
    expect(Math.abs(m.gradNorm - ref.norms[0]) / ref.norms[0]).toBeLessThan(1e-4);
    expect(m.clipScale).toBeCloseTo(0.05 / (ref.norms[0] + 1e-6), 5);
    // Clipping scales g and hence m and √v alike, so AdamW's first step hardly sees it; the bias
    // has gradients near eps where it does: 2e-5 covers f32 there.
    expectWeights(await params(t), ref.weights, { atol: 2e-5 }, 'clipped step');
    t.destroy();
    await expectNoGpuErrors(rt);
  });

  it('three AdamW steps with warmup, decay and clipping match a float64 reference', async () => {
    const rt = await getRuntime();
    const schedule: ScheduleConfig = { lr: 2e-2, warmupSteps: 1, totalSteps: 4, kind: 'cosine' };
    const steps = [0, 1, 2].map((s) => [randomBatch(3, T, V, 40 + 10 * s), randomBatch(3, T, V, 45 + 10 * s, 0.6)]);
    const opts = { schedule, weightDecay: 0.05, maxGradNorm: 1, betas: [0.9, 0.95] as [number, number], eps: 1e-6 };
    const t = setup(rt, { B: 3, T, accumulation: 2, ...opts });
    const got = steps.map((s) => t.trainer.step(s));
    const ms = await Promise.all(got.map((h) => h.metrics));
    const ref = referenceTraining(toF64(toyWeights(V, C)), steps, { V, C, ...opts });
    // Step 1 has lr 0 (warmup): the losses must still follow the reference through steps 2 and 3.
    expect(ms.map((m) => m.lr)).toEqual([0, 2e-2 * 1, 2e-2 * 0.5 * (1 + Math.cos(Math.PI / 3))].map((x) => expect.closeTo(x, 9)));
    expectClose(ms.map((m) => m.loss), ref.losses, { atol: 2e-5, rtol: 1e-5 }, 'losses');
    expectClose(ms.map((m) => m.gradNorm), ref.norms, { atol: 0, rtol: 2e-4 }, 'norms');
    expect(ms.map((m) => m.step)).toEqual([1, 2, 3]);
    // After three steps of ~lr each, f32 drift of a few 1e-6 per step: 5e-5 absolute.
    expectWeights(await params(t), ref.weights, { atol: 5e-5 }, 'after 3 steps');
    const state = await t.trainer.readOptimizerState();
    expect(state.adamStep).toBe(3);
    expect(state.m.get('proj.bias')!.length).toBe(C);
    t.destroy();
    await expectNoGpuErrors(rt);
  });

  it('leaves frozen parameters alone and excludes them from the norm', async () => {
    const rt = await getRuntime();
    const frozen = ['proj.weight'];
    const steps = [[randomBatch(2, T, V, 77)], [randomBatch(2, T, V, 78)]];
    const opts = { schedule: constant(1e-2), weightDecay: 0.1, maxGradNorm: 1, frozen };
    const t = setup(rt, { B: 2, T, ...opts }, frozen);
    expect(t.layout.trainableCount).toBe(2 * V * C + C);
    const ms = await Promise.all(steps.map((s) => t.trainer.step(s).metrics));
    const ref = referenceTraining(toF64(toyWeights(V, C)), steps, { V, C, ...opts });
    expectClose(ms.map((m) => m.gradNorm), ref.norms, { atol: 0, rtol: 2e-4 }, 'norms');
    const w = await params(t);
    expect(w.get('proj.weight')).toEqual(toyWeights(V, C).get('proj.weight'));
    expectWeights(w, ref.weights, { atol: 3e-5 }, 'frozen proj');
    t.destroy();
    await expectNoGpuErrors(rt);
  });

  it('overfits one batch', async () => {
    const rt = await getRuntime();
    // Each token's target is a fixed function of the token, so a bigram model can learn it exactly.
    const batch = randomBatch(4, T, V, 9, 0.2);
    for (let i = 0; i < batch.ids.length; i++) if (batch.targets[i] !== -100) batch.targets[i] = (batch.ids[i] * 7 + 3) % V;
    const t = setup(rt, { B: 4, T, schedule: constant(5e-2), maxGradNorm: 1 });
    let first: StepMetrics | undefined;
    let last: StepMetrics | undefined;
    for (let s = 0; s < 60; s++) {
      const h = t.trainer.step([batch]);
      if (s === 0) first = await h.metrics;
      else h.metrics.then((m) => (last = m));
    }
    await t.trainer.flush();
    expect(first!.loss).toBeGreaterThan(2);
    expect(last!.step).toBe(60);
    expect(last!.loss).toBeLessThan(0.05);
    expect(last!.accuracy).toBe(1);
    t.destroy();
    await expectNoGpuErrors(rt);
  });

  it('returns before the GPU finishes and delivers metrics later, in order', async () => {
    const rt = await getRuntime();
    const seen: number[] = [];
    const t = setup(rt, { B: 2, T, schedule: constant(1e-3), onMetrics: (m) => seen.push(m.step) });
    const batches = [1, 2, 3, 4, 5, 6].map((s) => randomBatch(2, T, V, s));
    let resolved = 0;
    const handles = batches.map((b) => {
      const h = t.trainer.step([b]);
      expect(h.metrics).toBeInstanceOf(Promise);
      h.metrics.then(() => resolved++);
      return h;
    });
    // All six steps were submitted without any of them having been read back.
    expect(resolved).toBe(0);
    expect(t.trainer.stagingBuffers).toBe(6);
    const all = await t.trainer.flush();
    expect(all.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await handles[5].metrics).loss).toBeGreaterThan(0);
    // In steady state (one step in flight at a time) no new staging buffer is made.
    for (let s = 0; s < 3; s++) await t.trainer.step([batches[s]]).metrics;
    expect(t.trainer.stagingBuffers).toBe(6);
    t.destroy();
    await expectNoGpuErrors(rt);
  });

  it('skips the update of a non-finite step without touching parameters or AdamW state', async () => {
    const rt = await getRuntime();
    const good = [randomBatch(2, T, V, 31), randomBatch(2, T, V, 32)];
    // A target outside [0, V) that is not -100 gives a NaN loss (cross_entropy.ts).
    const bad: Batch = randomBatch(2, T, V, 33, 0);
    bad.targets[5] = V + 3;
    const opts = { schedule: constant(1e-2), weightDecay: 0.1 };
    const t = setup(rt, { B: 2, T, ...opts });
    const m1 = await t.trainer.step([good[0]]).metrics;
    const before = await params(t);
    const stateBefore = await t.trainer.readOptimizerState();
    const m2 = await t.trainer.step([bad]).metrics;
    expect(m2.nonFinite).toBe(true);
    expect(m2.skipped).toBe(true);
    expect(m1.skipped || m1.nonFinite).toBe(false);
    const after = await params(t);
    for (const name of TOY_PARAMS) expect(after.get(name), name).toEqual(before.get(name));
    const stateAfter = await t.trainer.readOptimizerState();
    expect(stateAfter.adamStep).toBe(1);
    for (const name of TOY_PARAMS) expect(stateAfter.m.get(name), name).toEqual(stateBefore.m.get(name));
    // The next good step continues as if the bad one never happened (AdamW step 2, constant lr).
    const m3 = await t.trainer.step([good[1]]).metrics;
    expect(m3.skipped).toBe(false);
    const ref = referenceTraining(toF64(toyWeights(V, C)), [[good[0]], [good[1]]], { V, C, ...opts });
    expect(m3.loss).toBeCloseTo(ref.losses[1], 5);
    expectWeights(await params(t), ref.weights, { atol: 3e-5 }, 'after the skipped step');
    t.destroy();
    await expectNoGpuErrors(rt);
  });

  it('evaluates without updating, and pads smaller batches to the plan', async () => {
    const rt = await getRuntime();
    const t = setup(rt, { B: 4, T, schedule: constant(1e-2) });
    const small = randomBatch(3, T - 5, V, 55); // fewer rows and shorter rows than planned
    const e = await t.trainer.evaluate([small, randomBatch(4, T, V, 56)]);
    const ref = referenceTraining(toF64(toyWeights(V, C)), [[small, randomBatch(4, T, V, 56)]], { V, C, schedule: constant(1e-2) });
    expect(Math.abs(e.loss - ref.losses[0])).toBeLessThan(1e-5);
    expect(e.accuracy).toBeCloseTo(ref.accuracies[0], 6);
    expect(await params(t)).toEqual(toyWeights(V, C));
    // Training on the padded batch equals the reference on the unpadded one.
    const m = await t.trainer.step([small]).metrics;
    const r1 = referenceTraining(toF64(toyWeights(V, C)), [[small]], { V, C, schedule: constant(1e-2) });
    expect(Math.abs(m.loss - r1.losses[0])).toBeLessThan(1e-5);
    expectWeights(await params(t), r1.weights, { atol: 2e-5 }, 'padded');
    expect(() => t.trainer.step([randomBatch(5, T, V, 1)])).toThrow(/does not fit the planned \(B 4, T 16\)/);
    expect(() => t.trainer.step([small, small])).toThrow(/expected 1 to 1 \(accumulation\)/);
    t.destroy();
    await expectNoGpuErrors(rt);
  });

  it('resumes from read-back parameters and optimizer state with the same losses', async () => {
    const rt = await getRuntime();
    const schedule: ScheduleConfig = { lr: 2e-2, warmupSteps: 1, totalSteps: 4, kind: 'cosine' };
    const steps = [1, 2, 3].map((s) => randomBatch(2, T, V, 60 + s));
    const whole = setup(rt, { B: 2, T, schedule, weightDecay: 0.1 });
    const full = await Promise.all(steps.map((b) => whole.trainer.step([b]).metrics));
    const first = setup(rt, { B: 2, T, schedule, weightDecay: 0.1 });
    await first.trainer.step([steps[0]]).metrics;
    const [w, state] = await Promise.all([first.store.read(), first.trainer.readOptimizerState()]);
    first.destroy();
    const resumed = setup(rt, { B: 2, T, schedule, weightDecay: 0.1 });
    resumed.store.load(w);
    resumed.trainer.loadOptimizerState({ ...state, step: 1 });
    const rest = await Promise.all(steps.slice(1).map((b) => resumed.trainer.step([b]).metrics));
    // Same kernels on the same bits: the resumed run is bit-identical.
    expect(rest.map((m) => [m.step, m.lr, m.loss])).toEqual(full.slice(1).map((m) => [m.step, m.lr, m.loss]));
    expect(await resumed.store.read()).toEqual(await whole.store.read());
    whole.destroy();
    resumed.destroy();
    await expectNoGpuErrors(rt);
  });

  it('skips a step in which nothing carries loss', async () => {
    const rt = await getRuntime();
    const t = setup(rt, { B: 2, T, schedule: constant(1e-2), weightDecay: 0.5 });
    const m = await t.trainer.step([randomBatch(2, T, V, 3, 1)]).metrics;
    expect(m).toMatchObject({ step: 1, tokens: 0, skipped: true });
    expect(await params(t)).toEqual(toyWeights(V, C));
    t.destroy();
    await expectNoGpuErrors(rt);
  });

  it('takes a caller-provided head with its own loss normaliser', async () => {
    const rt = await getRuntime();
    const batch = randomBatch(2, T, V, 12);
    const lm = lmHead();
    // e.g. a sequence-level loss normalised per row of the batch instead of per token
    const perRow: HeadSpec = { ...lm, name: 'per-row', count: (b) => b.B };
    const a = setup(rt, { B: 2, T, schedule: constant(1e-2), maxGradNorm: 0 });
    const b = setup(rt, { B: 2, T, schedule: constant(1e-2), maxGradNorm: 0, head: perRow });
    const [ma, mb] = await Promise.all([a.trainer.step([batch]).metrics, b.trainer.step([batch]).metrics]);
    const ratio = batch.trainedTokens / batch.B;
    expect(mb.tokens).toBe(2);
    expect(mb.loss / ma.loss).toBeCloseTo(ratio, 4);
    expect(mb.gradNorm / ma.gradNorm).toBeCloseTo(ratio, 4);
    a.destroy();
    b.destroy();
    await expectNoGpuErrors(rt);
  });
});
