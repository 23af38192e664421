// Resume on a real model: train, write a checkpoint to bytes, rebuild everything from those bytes
// and continue; the later losses must equal those of the run that never stopped.
import { describe, expect, it } from 'vitest';
import type { Batch } from '../../src/data/batch.ts';
import { initialize, tinyConfig } from '../../src/models/init.ts';
import { ParamLayout, ParamStore } from '../../src/models/params.ts';
import { parseConfig } from '../../src/models/registry.ts';
import type { ScheduleConfig } from '../../src/optim/schedule.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.ts';
import { TrainStep } from '../../src/train/step.ts';
import { getRuntime } from '../helpers/gpu.ts';
import { randomBatch } from './step-helpers.ts';

const V = 96, T = 16, B = 2, STEPS = 6, CUT = 3;
const hf = tinyConfig('llama', { vocab: V, hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, maxPositions: 32 });
const schedule: ScheduleConfig = { lr: 3e-3, warmupSteps: 2, totalSteps: STEPS, kind: 'cosine' };
const batches: Batch[] = Array.from({ length: STEPS }, (_, s) => randomBatch(B, T, V, 100 + s));

async function fresh(weights: Map<string, Float32Array>) {
  const rt = await getRuntime();
  const { arch, config } = parseConfig(hf);
  const store = new ParamStore(rt, new ParamLayout(arch.parameters(config)));
  store.load(weights);
  const trainer = new TrainStep(rt, arch, config, store, { B, T, schedule, weightDecay: 0.1, maxGradNorm: 1 });
  return { store, trainer, arch, config };
}

describe('resume from a checkpoint (tiny llama)', () => {
  it('continues with exactly the losses of an uninterrupted run', async () => {
    const { arch, config } = parseConfig(hf);
    const init = initialize(arch.parameters(config), 7);

    const straight = await fresh(init);
    const expected = await Promise.all(batches.map((b) => straight.trainer.step([b]).metrics.then((m) => m.loss)));
    straight.trainer.destroy();
    straight.store.destroy();

    const first = await fresh(init);
    for (const b of batches.slice(0, CUT)) first.trainer.step([b]);
    await first.trainer.flush();
    const opt = await first.trainer.readOptimizerState();
    const files = encodeCheckpoint({
      params: await first.store.read(),
      m: opt.m,
      v: opt.v,
      state: { step: first.trainer.stepIndex, adamStep: opt.adamStep, epoch: 0, positionInEpoch: CUT, schedule, rng: { seed: 100 } },
    });
    first.trainer.destroy();
    first.store.destroy();

    const ck = decodeCheckpoint(files);
    expect(ck.state.step).toBe(CUT);
    const second = await fresh(ck.params);
    second.trainer.loadOptimizerState({ m: ck.m, v: ck.v, step: ck.state.step, adamStep: ck.state.adamStep });
    const resumed = await Promise.all(batches.slice(ck.state.positionInEpoch).map((b) => second.trainer.step([b]).metrics.then((m) => m.loss)));
    second.trainer.destroy();
    second.store.destroy();

    // Same adapter, same kernels, same order of operations: bit-identical, not merely close.
    expect(resumed).toEqual(expected.slice(CUT));
    expect(new Set(expected).size).toBe(STEPS); // the run really moved
  });
});
