// Evaluation is greedy: the same model gives the same exact-match figure every time, and a model
// whose most likely answer is right scores 1 even when its distribution is nearly flat.
import { describe, expect, it } from 'vitest';
import { byteLevelTokenizer } from '../../src/data/byte-tokenizer.ts';
import { resolveRenderer } from '../../src/data/template.ts';
import type { CausalLM } from '../../src/generate/types.ts';
import { exactMatchEval, samples } from '../../src/train/evaluate.ts';

/** Always prefers `answer` then EOS, by a margin far below what sampling at temperature 1 respects. */
function nearlyFlatModel(answer: number[], eos: number, V: number): CausalLM {
  let produced = 0;
  const logits = () => {
    const l = new Float32Array(V);
    l[produced < answer.length ? answer[produced] : eos] = 0.05;
    return l;
  };
  return {
    vocabSize: V,
    maxLength: 512,
    get length() { return 0; },
    reset() { produced = 0; },
    async prefill() { produced = 0; return logits(); },
    async decode() { produced++; return logits(); },
  } as CausalLM;
}

describe('evaluation decodes greedily', () => {
  it('scores the argmax answer, the same on every run', async () => {
    const tokenizer = byteLevelTokenizer();
    const renderer = resolveRenderer('chatml', tokenizer);
    const answer = tokenizer.encode('42');
    const model = nearlyFlatModel(answer, tokenizer.eos[0], tokenizer.vocabSize);
    const tasks = Array.from({ length: 8 }, () => ({ messages: [{ role: 'user', content: 'What is 6 times 7?' }], task: 'arithmetic/multiply', answer: '42' }));
    for (let run = 0; run < 2; run++) {
      const r = await exactMatchEval({ model, renderer, tokenizer }, tasks, 16);
      expect(r.rate).toBe(1);
    }
    const [s] = await samples({ model, renderer, tokenizer }, ['What is 6 times 7?'], 16);
    expect(s.text).toBe('42');
  });
});
