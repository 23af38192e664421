import { describe, expect, it } from 'vitest';
import { lcsLength, maxRougeL, rougeL, RougePool, rougeTokenize } from '../../src/distill/rouge.ts';
import { Rng } from '../../src/data/synthetic/prng.ts';

describe('rouge', () => {
  it('tokenises like rouge_score', () => {
    expect(rougeTokenize("Hello, World! It's 3pm—déjà vu.")).toEqual(['hello', 'world', 'it', 's', '3pm', 'd', 'j', 'vu']);
    expect(rougeTokenize('  ...  ')).toEqual([]);
  });

  it('computes the LCS', () => {
    expect(lcsLength([...'ABCBDAB'], [...'BDCABA'])).toBe(4);
    expect(lcsLength([], [1, 2])).toBe(0);
    expect(lcsLength([1, 2, 3], [3, 2, 1])).toBe(1);
  });

  it('matches rouge_score on known examples', () => {
    // rouge_score README: target then prediction.
    const r = rougeL('The quick brown fox jumps over the lazy dog', 'The quick brown dog jumps on the log.');
    expect(r.precision).toBeCloseTo(0.625, 12);
    expect(r.recall).toBeCloseTo(0.5555555555555556, 12);
    expect(r.fmeasure).toBeCloseTo(0.5882352941176471, 12);
    // rouge_scorer_test: a one-word prediction of a three-word target.
    const s = rougeL('testing one two', 'testing');
    expect([s.precision, s.recall, s.fmeasure]).toEqual([1, 1 / 3, 0.5]);
  });

  it('matches hand-computed values', () => {
    // 6 and 7 tokens; LCS = "give three tips for healthy" = 5, so F = 2·5/(6+7).
    expect(rougeL('Give three tips for staying healthy.', 'Give three tips for a healthy life').fmeasure).toBeCloseTo(
      (2 * 5) / 13,
      12,
    );
    // LCS of a reversal is one token: p = r = 1/4.
    expect(rougeL('a b c d', 'd c b a').fmeasure).toBeCloseTo(0.25, 12);
    expect(rougeL('same words here', 'SAME, words... here!').fmeasure).toBe(1);
    expect(rougeL('', 'anything').fmeasure).toBe(0);
    expect(rougeL('alpha beta', 'gamma delta').fmeasure).toBe(0);
  });

  it('maxRougeL equals the brute-force maximum over a pool', () => {
    const rng = new Rng(7);
    const vocab = 'the a of to write give list explain three five tips ways short story poem about cats dogs health money'.split(' ');
    const sentence = () => Array.from({ length: rng.int(1, 12) }, () => rng.pick(vocab)).join(' ');
    const texts = Array.from({ length: 300 }, sentence);
    const pool = new RougePool(texts);
    for (let q = 0; q < 40; q++) {
      const cand = q === 0 ? 'unknown words only' : sentence();
      let best = 0;
      for (const t of texts) best = Math.max(best, rougeL(t, cand).fmeasure);
      const got = pool.max(cand);
      expect(got.score).toBeCloseTo(best, 12);
      if (best > 0) expect(rougeL(texts[got.index], cand).fmeasure).toBeCloseTo(best, 12);
      else expect(got.index).toBe(-1);
      const early = maxRougeL(cand, pool, { stopAbove: 0.7 });
      expect(early.score > 0.7).toBe(best > 0.7);
    }
    expect(maxRougeL('anything', []).score).toBe(0);
  });

  it('stays fast on a few thousand instructions', () => {
    const rng = new Rng(3);
    const words = Array.from({ length: 2000 }, (_, i) => `w${i.toString(36)}x`);
    const pool = new RougePool();
    const t0 = performance.now();
    for (let i = 0; i < 3000; i++) {
      const s = Array.from({ length: rng.int(5, 25) }, () => rng.pick(words)).join(' ');
      pool.max(s, { stopAbove: 0.7 });
      pool.add(s);
    }
    // ~4.5M pairs; the bounds skip almost all LCS work. Generous for a shared 2-core machine.
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
