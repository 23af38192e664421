// Resume: a run stopped after k steps and continued by a new Trainer from its checkpoint gives
// exactly the later losses of an uninterrupted run; so does one whose device was lost.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeGPU } from '../../src/gpu/node.ts';
import { Runtime } from '../../src/gpu/runtime.ts';
import { FolderStorage } from '../../src/train/storage-node.ts';
import { MemoryStorage } from '../../src/train/storage.ts';
import { Trainer, type StepEvent } from '../../src/train/trainer.ts';
import { getRuntime } from '../helpers/gpu.ts';
import { memoryEnv, recorder, tinyRun } from './trainer-helpers.ts';

// A few steps per epoch (60 examples), so 20 steps cross epoch boundaries; accumulation 2 as well.
const RUN = tinyRun({ data: { limit: 60, validation: 8 }, train: { maxSteps: 20, accumulation: 2, batchSize: 2 }, save: { every: 4 } });
const losses = (steps: StepEvent[]) => steps.map((s) => [s.step, s.loss, s.gradNorm, s.epoch, s.tokensSeen]);

describe('Trainer resume', () => {
  it('continues after stop() with exactly the losses of an uninterrupted run (folder storage)', async () => {
    const rt = await getRuntime();
    const straight = recorder();
    const a = await Trainer.create({ rt, storage: new MemoryStorage() }, RUN, { onEvent: straight.onEvent });
    await a.run();
    a.destroy();
    expect(new Set(straight.of('step').map((s) => s.epoch)).size).toBeGreaterThan(1);

    const root = await mkdtemp(join(tmpdir(), 'pupil-trainer-'));
    try {
      const storage = new FolderStorage(root);
      const first = recorder();
      const b = await Trainer.create({ rt, storage }, RUN, { onEvent: first.onEvent, runId: 'r1' });
      // Stop after step 7: the step in flight finishes and a checkpoint is written at the stop.
      b.on((e) => void (e.type === 'step' && e.step === 7 && b.stop()));
      const sb = await b.run();
      b.destroy();
      expect(sb.stopped).toBe(true);
      const cut = sb.steps;
      expect(cut).toBeGreaterThanOrEqual(7);
      expect(cut).toBeLessThan(20);
      expect(first.of('checkpoint').map((c) => c.step)).toEqual([4, cut]);
      expect((await storage.loadRun('r1'))!.status).toBe('stopped');

      const second = recorder();
      const c = await Trainer.create({ rt, storage }, null, { resume: 'r1', onEvent: second.onEvent });
      expect(c.status()).toMatchObject({ step: cut, lastCheckpoint: cut, totalSteps: 20 });
      await c.run();
      c.destroy();
      // Bit-identical: same kernels, same order of operations, same data order.
      expect(losses(second.of('step'))).toEqual(losses(straight.of('step')).slice(cut));
      expect(losses(first.of('step'))).toEqual(losses(straight.of('step')).slice(0, cut));
      // The metrics file holds each step once.
      const rows = await storage.readMetrics('r1');
      expect(rows.filter((r) => r.kind === 'step').map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect((await storage.loadRun('r1'))!.status).toBe('done');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('reports a lost device with the last checkpoint, and resumes from it exactly', async () => {
    const shared = await getRuntime();
    const straight = recorder();
    const a = await Trainer.create({ rt: shared, storage: new MemoryStorage() }, RUN, { onEvent: straight.onEvent });
    await a.run();
    a.destroy();

    // A runtime of its own, since this test destroys its device.
    const doomed = await Runtime.create({ gpu: await nodeGPU() });
    const env = await memoryEnv();
    const rec = recorder();
    const b = await Trainer.create({ rt: doomed, storage: env.storage }, RUN, { onEvent: rec.onEvent, runId: 'lost' });
    b.on((e) => void (e.type === 'checkpoint' && e.step === 8 && doomed.device.destroy()));
    await expect(b.run()).rejects.toThrow(/device was lost.*checkpoint at step 8/);
    const err = rec.of('error');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatchObject({ lastCheckpoint: 8, runId: 'lost' });
    expect((await env.storage.loadRun('lost'))!.status).toBe('error');

    const again = recorder();
    const c = await Trainer.create({ rt: shared, storage: env.storage }, RUN, { resume: 'lost', onEvent: again.onEvent });
    await c.run();
    c.destroy();
    expect(losses(again.of('step'))).toEqual(losses(straight.of('step')).slice(8));
  });

  it('refuses to resume with a different training config, or without a checkpoint', async () => {
    const env = await memoryEnv();
    const t = await Trainer.create(env, tinyRun({ train: { maxSteps: 2 } }), { runId: 'x' });
    await t.run();
    t.destroy();
    await expect(Trainer.create(env, tinyRun({ train: { maxSteps: 2, lr: 1e-2 } }), { resume: 'x' })).rejects.toThrow(/^train: differs from the run being resumed/);
    await expect(Trainer.create(env, null, { resume: 'nope' })).rejects.toThrow(/run nope has no checkpoint/);
  });
});
