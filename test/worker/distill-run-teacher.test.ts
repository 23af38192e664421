// Token-level distillation from a saved run, as the Worker resolves it: `distill.teacher =
// "run:<runId>"` read by the browser env's loader from the run storage (memory here, lavapipe for
// the GPU). A tiny run is trained, then a second one distils from it through the same Trainer the
// Worker uses; a teacher that is gone, has no checkpoint, is the run itself or speaks another
// tokenizer is refused with its reason.
import { describe, expect, it } from 'vitest';
import { resolveRunConfig } from '../../src/train/config.ts';
import { MemoryStorage } from '../../src/train/storage.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { runOfPath } from '../../src/train/config.ts';
import { browserTrainerEnv, readRunModel } from '../../src/worker/env.ts';
import { expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';
import { recorder, tinyRun } from '../train/trainer-helpers.ts';

describe('distill.teacher = run:<runId> (browser env)', () => {
  it('names a saved run; the CLI meaning of distill.teacher (a folder) is unchanged', () => {
    expect(runOfPath('run:teacher-20260101-000000')).toBe('teacher-20260101-000000');
    expect(runOfPath('runs/teacher/checkpoint')).toBeUndefined();
    expect(resolveRunConfig({ distill: { teacher: 'run:abc' } }).distill).toEqual({ teacher: 'run:abc', loss: 'forward', alpha: 0.5, beta: 0.5, temperature: 1, topK: 16 });
  });

  it('refuses a missing run, a run without a checkpoint and the run itself, naming the teacher', async () => {
    const rt = await getRuntime();
    const storage = new MemoryStorage();
    const config = resolveRunConfig(tinyRun());
    await storage.saveRun({ runId: 'fresh', name: 'fresh', config, created: 0, updated: 0, status: 'running', step: 0, totalSteps: 12 });
    const load = browserTrainerEnv(rt, storage, { runId: 'me' }).loadPretrained!;
    await expect(load({ path: 'run:gone' })).rejects.toThrow(/^distillation teacher run:gone: no run gone in this browser's storage \(deleted, or saved in another browser or storage backend\): pick another run$/);
    await expect(load({ path: 'run:fresh' })).rejects.toThrow(/^distillation teacher run:fresh: run fresh has no checkpoint yet: train it until it saves one/);
    await expect(load({ path: 'run:me' })).rejects.toThrow(/run:me is the run being trained: a run cannot be its own teacher/);
    // Any other path is still a picked folder.
    await expect(load({ path: 'my-model' })).rejects.toThrow(/student\.path \(my-model\): the model's local files are not available/);
    await expect(readRunModel(storage, 'gone', 'teacher')).rejects.toThrow(/^teacher: no run gone/);
  });

  it('trains a student from a saved run; another tokenizer and a deleted teacher are refused', async () => {
    const t0 = Date.now();
    const rt = await getRuntime();
    const storage = new MemoryStorage();
    // The teacher: the tiny run itself, trained a few steps and saved at the end.
    const teacher = await Trainer.create(browserTrainerEnv(rt, storage, { runId: 'teacher' }), tinyRun({ name: 'teacher', train: { maxSteps: 3 } }), { runId: 'teacher' });
    await teacher.run();
    teacher.destroy();
    expect((await storage.loadRun('teacher'))?.lastCheckpoint).toBe(3);

    const distill = { teacher: 'run:teacher', alpha: 0.3, topK: 8 };
    const rec = recorder();
    const student = await Trainer.create(browserTrainerEnv(rt, storage, { runId: 'student' }), tinyRun({ name: 'student', train: { maxSteps: 3 }, distill }), { runId: 'student', onEvent: rec.onEvent });
    const summary = await student.run();
    student.destroy();
    expect(summary.steps).toBe(3);
    const details = rec.of('status').map((s) => s.detail ?? '');
    expect(details).toContain('distillation teacher');
    expect(details.find((d) => d.startsWith('distillation from'))).toBe(
      'distillation from run:teacher (top-8, online): forward KL, temperature 1; train loss = 0.3·CE + 0.7·D, validation loss = CE',
    );
    const steps = rec.of('step');
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3]);
    for (const s of steps) expect(Number.isFinite(s.loss) && s.loss > 0).toBe(true);
    // The run keeps its teacher reference, so resuming finds the same teacher.
    expect((await storage.loadRun('student'))?.config.distill).toEqual({ teacher: 'run:teacher', loss: 'forward', alpha: 0.3, beta: 0.5, temperature: 1, topK: 8 });

    // The same weights with another tokenizer.json: ids would not mean the same thing.
    const files = (await storage.loadCheckpoint('teacher'))!;
    const tok = JSON.parse(new TextDecoder().decode(files.get('tokenizer.json')!));
    files.set('tokenizer.json', new TextEncoder().encode(JSON.stringify({ ...tok, normalizer: { type: 'Lowercase' } })));
    await storage.saveRun({ ...(await storage.loadRun('teacher'))!, runId: 'other', name: 'other' });
    await storage.saveCheckpoint('other', files);
    const bad = recorder();
    await expect(Trainer.create(browserTrainerEnv(rt, storage, { runId: 'x' }), tinyRun({ name: 'x', distill: { teacher: 'run:other' } }), { runId: 'x', onEvent: bad.onEvent }))
      .rejects.toThrow(/distillation teacher run:other uses a different tokenizer \(fingerprint [0-9a-f]+\) from the student/);
    expect(bad.of('error')[0]?.message).toMatch(/different tokenizer/);

    // The teacher deleted: the student still opens (chat, evaluation, export), and training on
    // says which run is missing and what to do.
    await storage.deleteRun('teacher');
    const reopened = recorder();
    const t = await Trainer.create(browserTrainerEnv(rt, storage, { runId: 'student' }), null, { resume: 'student', onEvent: reopened.onEvent });
    expect(reopened.of('status').some((e) => /distillation teacher unavailable .*not trained further/.test(e.detail ?? ''))).toBe(true);
    const reply = t.generate([{ role: 'user', content: 'hi' }], { maxNewTokens: 2 });
    for await (const _ of reply) void _;
    expect((await reply.result).text).toBeTypeOf('string');
    expect(() => t.run()).toThrow(/trains with distillation, and its teacher cannot be loaded \(distillation teacher run:teacher: no run teacher in this browser's storage .*: pick another run\): it can be chatted with/);
    t.destroy();
    await expectNoGpuErrors(rt);
    console.log(`distill from a saved run: ${Date.now() - t0} ms`);
  });
});
