// Chat with the student before fine-tuning: generate(…, { model: 'initial' }) reloads the initial
// weights into a second model, so its replies match what the untrained student said, during a
// run, after it, and after resuming it from storage (where the initial weights were never held).
import { describe, expect, it } from 'vitest';
import { Trainer } from '../../src/train/trainer.ts';
import { expectNoGpuErrors } from '../helpers/gpu.ts';
import { memoryEnv, tinyRun } from './trainer-helpers.ts';

const PROMPT = [{ role: 'user' as const, content: 'Calculate 35 + 2.' }];

// Greedy decoding: the same weights give the same token ids, so equality is exact.
async function reply(t: Trainer, model?: 'current' | 'initial'): Promise<number[]> {
  const g = t.generate(PROMPT, { maxNewTokens: 12, ...(model ? { model } : {}) });
  for await (const _ of g);
  return (await g.result).tokens;
}

describe('Trainer.generate with the initial weights', () => {
  it('replies as the untrained student did, after training and after a resume', async () => {
    const env = await memoryEnv();
    const config = tinyRun({ name: 'initial', train: { maxSteps: 24, lr: 1e-2 } });
    const t = await Trainer.create(env, config, { runId: 'initial' });
    const before = await reply(t);
    expect(before.length).toBeGreaterThan(0);
    expect(await reply(t, 'initial')).toEqual(before);
    await t.run();
    const after = await reply(t);
    // Training moved the weights (else this test could not tell the two models apart).
    expect(after).not.toEqual(before);
    expect(await reply(t, 'initial')).toEqual(before);
    expect(await reply(t, 'current')).toEqual(after);
    t.destroy();

    const r = await Trainer.create(env, null, { resume: 'initial' });
    expect(await reply(r)).toEqual(after);
    expect(await reply(r, 'initial')).toEqual(before);
    r.destroy();
    await expectNoGpuErrors(env.rt);
  });
});
