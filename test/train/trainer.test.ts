// The Trainer on a tiny scratch student and a slice of the bundled dataset: the loss falls, events
// come in order with their fields, evaluation scores held-out tasks and shows samples, chat and
// export work on the trained weights.
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { parseSafetensors } from '../../src/models/safetensors.ts';
import { tinyConfig } from '../../src/models/init.ts';
import { RunConfigError } from '../../src/train/config.ts';
import { MemoryPlanError } from '../../src/train/memory.ts';
import { Trainer } from '../../src/train/trainer.ts';
import { expectNoGpuErrors } from '../helpers/gpu.ts';
import { memoryEnv, recorder, tinyRun } from './trainer-helpers.ts';

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('Trainer', () => {
  it('trains: the loss falls, events come in order with their fields, metrics are stored', async () => {
    const env = await memoryEnv();
    const rec = recorder();
    const t = await Trainer.create(env, tinyRun({ train: { maxSteps: 40 }, eval: { every: 20 }, save: { every: 25 } }), { onEvent: rec.onEvent, runId: 'falls' });
    expect(t.totalSteps).toBe(40);
    const summary = await t.run();

    const steps = rec.of('step');
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    for (const s of steps) {
      expect(s.skipped).toBe(false);
      expect(Number.isFinite(s.loss) && Number.isFinite(s.gradNorm) && s.gradNorm > 0).toBe(true);
      expect(s.tokensPerSecond).toBeGreaterThan(0);
      expect(s.accuracy).toBeGreaterThanOrEqual(0);
      expect(s.accuracy).toBeLessThanOrEqual(1);
    }
    // Warmup from 0 (HF semantics), then cosine decay.
    expect(steps[0].lr).toBe(0);
    expect(Math.max(...steps.map((s) => s.lr))).toBeCloseTo(3e-3, 9);
    expect(steps[39].lr).toBeLessThan(steps[20].lr);
    for (let i = 1; i < steps.length; i++) expect(steps[i].tokensSeen).toBeGreaterThan(steps[i - 1].tokensSeen);
    expect(mean(steps.slice(-8).map((s) => s.loss))).toBeLessThan(mean(steps.slice(0, 8).map((s) => s.loss)) - 0.5);

    const evals = rec.of('eval');
    expect(evals.map((e) => e.step)).toEqual([20, 40]);
    expect(evals[1].valLoss!).toBeLessThan(evals[0].valLoss!);
    expect(evals[1].perplexity).toBeCloseTo(Math.exp(evals[1].valLoss!), 6);
    expect(rec.of('checkpoint').map((c) => c.step)).toEqual([25, 40]);

    // The order of everything: status, steps, eval after step 20, checkpoint after step 25, the end.
    const kinds = rec.events.map((e) => (e.type === 'status' ? `status:${e.state}` : e.type === 'step' ? `step` : `${e.type}@${(e as { step: number }).step}`));
    const squeezed = kinds.filter((k, i) => k !== 'step' || kinds[i - 1] !== 'step');
    expect(squeezed).toEqual(['status:loading', 'status:loading', 'status:loading', 'status:ready', 'status:running', 'step', 'eval@20', 'step', 'checkpoint@25', 'step', 'eval@40', 'checkpoint@40', 'status:done', 'done@undefined']);
    // The eval at 20 comes right after step 20's event, before step 21's.
    const at = rec.events.findIndex((e) => e.type === 'eval');
    expect(rec.events[at - 1]).toBe(steps[19]);

    expect(summary).toMatchObject({ runId: 'falls', steps: 40, totalSteps: 40, stopped: false, skippedSteps: 0, lastCheckpoint: 40 });
    expect(summary.tokensSeen).toBe(steps[39].tokensSeen);
    expect(rec.of('done')[0].summary).toEqual(summary);

    const rows = await env.storage.readMetrics('falls');
    expect(rows.filter((r) => r.kind === 'step').map((r) => r.step)).toEqual(steps.map((s) => s.step));
    expect(rows.filter((r) => r.kind === 'eval')).toHaveLength(2);
    expect(await env.storage.loadRun('falls')).toMatchObject({ status: 'done', step: 40, lastCheckpoint: 40, totalSteps: 40 });

    // The checkpoint is also a Hugging Face folder: config.json and the tokenizer beside the weights.
    const files = (await env.storage.loadCheckpoint('falls'))!;
    expect([...files.keys()].sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'optimizer.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json']);
    expect(loadTokenizer({ 'tokenizer.json': new TextDecoder().decode(files.get('tokenizer.json')) }).vocabSize).toBe(260);

    // Chat streams from the trained weights; export writes the same weights.
    const g = t.generate([{ role: 'user', content: 'Calculate 35 + 2.' }], { maxNewTokens: 6 });
    let text = '';
    let n = 0;
    for await (const ev of g) {
      text += ev.text;
      n++;
    }
    const r = await g.result;
    expect(r.text).toBe(text);
    expect(r.tokens).toHaveLength(n);
    const hf = await t.exportHuggingFace();
    const st = parseSafetensors(hf.get('model.safetensors')!, 'model.safetensors');
    const ck = parseSafetensors(files.get('model.safetensors')!, 'ck');
    expect([...st.tensors.keys()].sort()).toEqual([...ck.tensors.keys()].sort());
    t.destroy();
    await expectNoGpuErrors(env.rt);
  });

  it('evaluates exact match on held-out bundled tasks and samples the fixed prompts', async () => {
    const env = await memoryEnv();
    const rec = recorder();
    const prompts = ['Calculate 35 + 2.', 'Name the initial letter.\n\nwinter'];
    const t = await Trainer.create(env, tinyRun({ train: { maxSteps: 3 }, eval: { every: 2, atStart: true, exactMatch: 6, samples: prompts, maxNewTokens: 5 } }), { onEvent: rec.onEvent });
    await t.run();
    const evals = rec.of('eval');
    expect(evals.map((e) => e.step)).toEqual([0, 2, 3]);
    for (const e of evals) {
      expect(e.exactMatch!.total).toBe(6);
      expect(e.exactMatch!.rate).toBe(e.exactMatch!.correct / 6);
      expect(Object.values(e.exactMatch!.families).reduce((n, f) => n + f.total, 0)).toBe(6);
      expect(e.valLoss).toBeGreaterThan(0);
    }
    const samples = rec.of('sample');
    expect(samples.map((s) => `${s.step}:${s.prompt}`)).toEqual([0, 2, 3].flatMap((s) => prompts.map((p) => `${s}:${p}`)));
    // Samples follow their eval event.
    const i = rec.events.indexOf(evals[1]);
    expect(rec.events.slice(i + 1, i + 3)).toEqual(samples.slice(2, 4));
    t.destroy();
  });

  it('fails before training when the memory plan does not fit, with the plan message', async () => {
    const env = await memoryEnv();
    const rec = recorder();
    const err = await Trainer.create(env, tinyRun({ train: { memoryBudget: 256 * 1024 } }), { onEvent: rec.onEvent, runId: 'too-big' }).catch((e) => e);
    expect(err).toBeInstanceOf(MemoryPlanError);
    const e = rec.of('error');
    expect(e).toHaveLength(1);
    expect(e[0].message).toBe(err.message);
    expect(e[0].message).toMatch(/does not fit this device.*budget/);
    expect(rec.of('step')).toHaveLength(0);
    expect(await env.storage.loadRun('too-big')).toBeUndefined();
  });

  it('trains a qwen2 with a binding sliding window up to the window, and refuses longer sequences naming it', async () => {
    const env = await memoryEnv();
    const student = { config: tinyConfig('qwen2', { vocab: 260, hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 64, maxPositions: 128, use_sliding_window: true, sliding_window: 64, max_window_layers: 0 }) };
    const err = await Trainer.create(env, tinyRun({ student, train: { seqLen: 65, maxSteps: 2 } })).catch((e) => e);
    expect(err).toBeInstanceOf(RunConfigError);
    expect(err.message).toMatch(/^train\.seqLen: 65 exceeds the student's 64 positions \(layers 0 and on attend to the last 64 keys only, sliding_window/);
    const t = await Trainer.create(env, tinyRun({ student, train: { seqLen: 64, maxSteps: 2 } }));
    const summary = await t.run();
    expect(summary.steps).toBe(2);
    t.destroy();
  });
});
