// Pause, resume and stop between steps; a run of non-finite steps stops with an error naming the
// last checkpoint; the loop keeps a bounded number of steps in flight.
import { describe, expect, it } from 'vitest';
import { Trainer, MAX_IN_FLIGHT } from '../../src/train/trainer.ts';
import { memoryEnv, recorder, tinyRun } from './trainer-helpers.ts';

describe('Trainer control', () => {
  it('pauses between steps, resumes, and stops gracefully with a checkpoint', async () => {
    const env = await memoryEnv();
    const rec = recorder();
    const t = await Trainer.create(env, tinyRun({ train: { maxSteps: 200 } }), { onEvent: rec.onEvent, runId: 'ctl' });
    let pausedAt = -1;
    const paused = new Promise<void>((res) => t.on((e) => void (e.type === 'step' && e.step === 5 && t.pause().then(res))));
    const running = t.run();
    await paused;
    pausedAt = t.status().step;
    expect(t.status().state).toBe('paused');
    // Every submitted step has reported; nothing moves while paused.
    expect(rec.of('step').at(-1)!.step).toBe(pausedAt);
    await new Promise((r) => setTimeout(r, 150));
    expect(rec.of('step').at(-1)!.step).toBe(pausedAt);
    expect((await env.storage.loadRun('ctl'))!.status).toBe('paused');

    t.resume();
    await new Promise<void>((res) => t.on((e) => void (e.type === 'step' && e.step === pausedAt + 3 && res())));
    await t.stop();
    const summary = await running;
    expect(summary.stopped).toBe(true);
    expect(summary.steps).toBeLessThan(200);
    expect(summary.steps).toBeLessThanOrEqual(pausedAt + 3 + MAX_IN_FLIGHT);
    const states = rec.of('status').map((s) => s.state);
    expect(states.slice(-2)).toEqual(['stopping', 'done']);
    expect(states).toEqual(expect.arrayContaining(['running', 'paused', 'stopping', 'done']));
    expect(states.indexOf('paused')).toBeLessThan(states.lastIndexOf('running'));
    expect(rec.of('checkpoint').map((c) => c.step)).toEqual([summary.steps]);
    expect(rec.of('step').map((s) => s.step)).toEqual(Array.from({ length: summary.steps }, (_, i) => i + 1));
    expect((await env.storage.loadRun('ctl'))!).toMatchObject({ status: 'stopped', lastCheckpoint: summary.steps });
    t.destroy();
  });

  it('skips non-finite steps, and stops after too many in a row naming the last checkpoint', async () => {
    const env = await memoryEnv();
    const rec = recorder();
    // A target outside the vocabulary makes the loss NaN (cross_entropy.ts): steps 3 and 9.. are bad.
    const poison = (step: number, batches: { targets: Int32Array }[]) => {
      if (step === 3 || step >= 9) batches[0].targets[batches[0].targets.findIndex((x) => x >= 0)] = 100_000;
    };
    const t = await Trainer.create(env, tinyRun({ train: { maxSteps: 40, maxNonFinite: 4 }, save: { every: 6 } }), { onEvent: rec.onEvent, beforeStep: poison, runId: 'nan' });
    const err = await t.run().catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    const steps = rec.of('step');
    expect(steps[2]).toMatchObject({ step: 3, skipped: true });
    expect(Number.isNaN(steps[2].loss)).toBe(true);
    expect(steps[3].skipped).toBe(false); // one bad step does not stop the run
    expect(steps.slice(8, 12).every((s) => s.skipped)).toBe(true);
    const e = rec.of('error');
    expect(e).toHaveLength(1);
    expect(e[0].message).toMatch(/4 non-finite steps in a row.*last at step 12.*last checkpoint is at step 6/);
    expect(e[0].lastCheckpoint).toBe(6);
    expect(rec.of('status').at(-1)!.state).toBe('error');
    expect(rec.of('done')).toHaveLength(0);
    expect(steps.length).toBeLessThanOrEqual(12 + MAX_IN_FLIGHT);
    // Skipped steps wrote null losses into the metrics history.
    const rows = await env.storage.readMetrics('nan');
    expect(rows.find((r) => r.step === 3 && r.kind === 'step')!.loss).toBeNull();
    t.destroy();
  });
});
