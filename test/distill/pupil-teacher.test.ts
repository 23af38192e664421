// PupilTeacher on a tiny scratch checkpoint: greedy replies are chat()'s, log-probabilities are a
// normalised log-softmax of the logits each token came from, stop strings cut the text, calls are
// serialised (same replies concurrently as one by one), and aborting ends a call cleanly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudent } from '../../src/cli/commands/chat.ts';
import { PupilTeacher } from '../../src/distill/teachers/pupil.ts';
import { tokenLogprobs } from '../../src/distill/teacher.ts';
import { resolveRenderer } from '../../src/data/template.ts';
import { GpuCausalLM } from '../../src/generate/index.ts';
import { chat, promptIds } from '../../src/train/evaluate.ts';
import { getRuntime } from '../helpers/gpu.ts';
import { tinyCheckpoint } from './tiny-checkpoint.ts';

const MESSAGES = [{ role: 'user' as const, content: 'Say hi.' }];
let teacher: PupilTeacher;

beforeAll(async () => {
  const dir = await tinyCheckpoint('pupil-teacher-');
  teacher = PupilTeacher.fromModel(await loadStudent(dir, { rt: await getRuntime() }), { name: `pupil:${dir}`, owns: true });
});

afterAll(() => teacher?.destroy());

describe('PupilTeacher', () => {
  it('greedy text is what chat() gives, with usage and a finish reason', async () => {
    const r = await teacher.generate(MESSAGES, { maxTokens: 12, temperature: 0 });
    const model = (teacher as unknown as { tap: GpuCausalLM }).tap;
    const g = chat({ model, tokenizer: teacher.tokenizer, renderer: teacher.renderer }, MESSAGES, { maxNewTokens: 12, sampling: { temperature: 0 } });
    for await (const _ of g);
    const want = await g.result;
    expect(want.text.length).toBeGreaterThan(0);
    expect(r.text).toBe(want.text);
    expect(r.usage).toEqual({ promptTokens: promptIds(resolveRenderer('auto', teacher.tokenizer), teacher.tokenizer, MESSAGES).length, completionTokens: want.tokens.length });
    expect(r.finishReason).toBe(want.finishReason === 'eos' ? 'stop' : want.finishReason);
    expect(r.logprobs).toBeUndefined();
    expect(teacher.name).toMatch(/^pupil:.*ckpt$/);
  });

  it('top-k log-probabilities: sorted, the greedy token first, spelling the reply, normalised', async () => {
    const deltas: string[] = [];
    const r = await teacher.generate(MESSAGES, { maxTokens: 6, temperature: 0, topLogprobs: 5, onText: (d) => deltas.push(d) });
    expect(deltas.join('')).toBe(r.text);
    const lp = r.logprobs!;
    expect(lp.length).toBe(r.usage.completionTokens - (r.result.finishReason === 'eos' ? 1 : 0));
    expect(lp.map((t) => t.token).join('')).toBe(r.text);
    for (const t of lp) {
      expect(t.top.length).toBe(5);
      for (let i = 1; i < 5; i++) expect(t.top[i].logprob).toBeLessThanOrEqual(t.top[i - 1].logprob);
      expect(t.logprob).toBeCloseTo(t.top[0].logprob, 6);
      expect(t.top[0].token).toBe(t.token);
      // Probabilities of distinct tokens: their sum cannot pass 1 (f32 logits: 1e-5 slack).
      expect(t.top.reduce((a, x) => a + Math.exp(x.logprob), 0)).toBeLessThanOrEqual(1 + 1e-5);
      expect(t.logprob).toBeLessThan(0);
    }
    // Over the whole vocabulary the probabilities sum to 1 (float64 sum of f32 values: 1e-6).
    const logits = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i * 1.7) * 6);
    const all = tokenLogprobs(logits, 3, 20, String);
    expect(all.top.map((t) => Number(t.token))).toEqual([...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 20));
    const full = tokenLogprobs(logits, 3, 0, String);
    expect(full.top).toEqual([]);
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += Math.exp(tokenLogprobs(logits, i, 0, String).logprob);
    expect(sum).toBeCloseTo(1, 6);
    const none = await teacher.generate(MESSAGES, { maxTokens: 3, temperature: 0, topLogprobs: 0 });
    expect(none.logprobs!.every((t) => t.top.length === 0)).toBe(true);
  });

  it('stops at a stop string; serialises concurrent calls', async () => {
    const full = (await teacher.generate(MESSAGES, { maxTokens: 12, temperature: 1, seed: 7 })).text;
    const stop = full.slice(3, 5);
    const cut = await teacher.generate(MESSAGES, { maxTokens: 12, temperature: 1, seed: 7, stop: [stop] });
    expect(cut.text).toBe(full.slice(0, full.indexOf(stop)));
    expect(cut.finishReason).toBe('stop');
    const seeds = [1, 2, 3];
    const together = await Promise.all(seeds.map((seed) => teacher.generate(MESSAGES, { maxTokens: 10, temperature: 1, seed })));
    for (const [i, seed] of seeds.entries()) expect(together[i].text).toBe((await teacher.generate(MESSAGES, { maxTokens: 10, temperature: 1, seed })).text);
  });

  it('abort: mid-generation ends with "cancelled" and the text so far; while queued rejects', async () => {
    const ctl = new AbortController();
    let n = 0;
    const r = await teacher.generate(MESSAGES, { maxTokens: 40, temperature: 1, seed: 3, signal: ctl.signal, onToken: () => ++n === 3 && ctl.abort() });
    expect(r.finishReason).toBe('cancelled');
    expect(r.usage.completionTokens).toBe(3);
    const full = await teacher.generate(MESSAGES, { maxTokens: 40, temperature: 1, seed: 3 });
    expect(full.text.startsWith(r.text)).toBe(true);
    expect(full.usage.completionTokens).toBeGreaterThan(3);

    const queued = new AbortController();
    const first = teacher.generate(MESSAGES, { maxTokens: 8, temperature: 0 });
    const second = teacher.generate(MESSAGES, { maxTokens: 8, temperature: 0, signal: queued.signal });
    queued.abort(new Error('gave up waiting'));
    await expect(second).rejects.toThrow('gave up waiting');
    expect((await first).text.length).toBeGreaterThan(0);
    // The queue goes on after a rejected call.
    expect((await teacher.generate(MESSAGES, { maxTokens: 2, temperature: 0 })).usage.completionTokens).toBeGreaterThan(0);
  });
});
