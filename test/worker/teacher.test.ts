// The engine's teacher slot, in Node (lavapipe) with memory storage: a tiny run trained through the
// Engine is loaded as a teacher beside it; its greedy replies equal the trained model's own chat
// (same checkpoint, same generation path), deltas stream through the callback, the client's
// Teacher adapter drives regenerateResponses, cancelling ends a call, and a deleted run frees the
// slot and says so.
import type * as Comlink from 'comlink';
import { afterAll, describe, expect, it } from 'vitest';
import { regenerateResponses } from '../../src/distill/regenerate.ts';
import { EngineClient } from '../../src/worker/client.ts';
import { Engine } from '../../src/worker/engine.ts';
import type { EngineApi, EngineEvent } from '../../src/worker/protocol.ts';
import { expectNoGpuErrors, getRuntime } from '../helpers/gpu.ts';
import { tinyRun } from '../train/trainer-helpers.ts';

const PROMPT = [{ role: 'user' as const, content: 'Calculate 35 + 2.' }];
const engine = new Engine({ storage: 'memory' }, { runtime: () => getRuntime() });
afterAll(() => engine.unloadTeacher());

async function trainTinyRun(): Promise<string> {
  let resolve!: (e: EngineEvent) => void;
  const ended = new Promise<EngineEvent>((r) => (resolve = r));
  const sub = await engine.subscribe((e) => void ((e.type === 'done' || e.type === 'error') && resolve(e)));
  const runId = await engine.start(tinyRun({ name: 'teacher', train: { maxSteps: 4 } }));
  const end = await ended;
  await engine.unsubscribe(sub);
  expect(end.type, JSON.stringify(end)).toBe('done');
  return runId;
}

describe('Engine teacher slot', () => {
  it('loads a saved run as a teacher, generates like its chat, streams, cancels, and fails clearly once the run is gone', async () => {
    const t0 = Date.now();
    const runId = await trainTinyRun();
    await expect(engine.loadTeacher('nope')).rejects.toThrow(/teacher: no run nope in this browser's storage/);

    const info = await engine.loadTeacher(runId);
    expect(info).toMatchObject({ runId, name: `pupil:${runId}`, maxLength: 128, step: 4 });
    expect(info.label).toBe('teacher: llama C32 L1');

    // Greedy: the teacher (checkpoint reloaded into its own slot) says what the trained run says.
    const deltas: string[] = [];
    const r = await engine.teacherGenerate(PROMPT, { maxTokens: 12, temperature: 0 }, (d) => void deltas.push(d));
    let own = '';
    const g = await engine.generate(PROMPT, { maxNewTokens: 12, temperature: 0 }, (t) => void (own += t.text));
    expect(r.usage.completionTokens).toBeGreaterThan(0);
    expect(r.text).toBe(g.text);
    expect(own).toBe(g.text);
    expect(deltas.join('')).toBe(r.text);
    expect(r.usage.promptTokens).toBeGreaterThan(10);
    const lp = await engine.teacherGenerate(PROMPT, { maxTokens: 4, temperature: 0, topLogprobs: 3 });
    expect(lp.logprobs?.length).toBe(lp.usage.completionTokens);
    expect(lp.logprobs![0].top).toHaveLength(3);

    // The page's adapter: a Teacher the environment-neutral loops drive (calls queue in the Worker).
    const client = new EngineClient({ api: engine as unknown as Comlink.Remote<EngineApi>, terminate() {} });
    const teacher = client.runTeacher(info);
    const examples = [{ instruction: 'Calculate 35 + 2.', output: 'old' }, { instruction: 'Spell cat backwards.', input: '', output: 'old' }];
    const regen = await regenerateResponses(teacher, examples, { concurrency: 2, options: { maxTokens: 12, temperature: 1.5, seed: 1 } });
    expect(regen.failures).toEqual([]);
    expect(regen.records.map((x) => x.teacher)).toEqual([`pupil:${runId}`, `pupil:${runId}`]);
    expect(regen.progress.completionTokens).toBeGreaterThan(0);

    // Cancelling through the signal ends the call in the Worker.
    const ac = new AbortController();
    const long = teacher.generate(PROMPT, { maxTokens: 100, temperature: 1, seed: 3, signal: ac.signal, onText: () => ac.abort() });
    const cancelled = await long;
    expect(cancelled.finishReason).toBe('cancelled');
    expect(cancelled.usage!.completionTokens).toBeLessThan(100);

    // Deleting the run unloads its teacher; later calls say what to do.
    await engine.deleteRun(runId);
    await expect(engine.teacherGenerate(PROMPT, { maxTokens: 4 })).rejects.toThrow(/no run is loaded as a teacher/);
    await expect(engine.loadTeacher(runId)).rejects.toThrow(/no run .* pick another run/);
    await expectNoGpuErrors(await getRuntime());
    console.log(`engine teacher: ${Date.now() - t0} ms`);
  });
});
