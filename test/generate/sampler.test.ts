import { describe, it, expect } from 'vitest';
import { Rng } from '../../src/generate/rng.ts';
import { applyRepetitionPenalty, sample, samplingDistribution, type SamplingOptions } from '../../src/generate/sampler.ts';

const logitsOf = (probs: number[]) => Float32Array.from(probs, Math.log);

/** Empirical frequencies of `n` draws. */
function frequencies(logits: Float32Array, opts: SamplingOptions, n: number, seed = 1, history: number[] = []): number[] {
  const rng = new Rng(seed);
  const f = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) f[sample(logits, opts, rng, history)] += 1 / n;
  return f;
}

/** The draws' support, and frequencies within 4 standard errors of `want` (n = 20000: se <= 0.0036). */
function expectDistribution(f: number[], want: number[]): void {
  want.forEach((p, i) => {
    if (p === 0) expect(f[i], `token ${i} must never be drawn`).toBe(0);
    else expect(Math.abs(f[i] - p), `token ${i}: frequency ${f[i]}, probability ${p}`).toBeLessThan(0.015);
  });
}

const normalise = (x: number[]) => x.map((v) => v / x.reduce((a, b) => a + b, 0));

describe('rng', () => {
  it('is xoshiro128** (reference outputs from state 1, 2, 3, 4)', () => {
    const r = new Rng([1, 2, 3, 4]);
    expect(Array.from({ length: 6 }, () => r.nextU32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('serialises its state and resumes the same stream; seeds give different streams', () => {
    const a = new Rng(42);
    a.uniform();
    const saved = a.state();
    const first = Array.from({ length: 5 }, () => a.uniform());
    const b = new Rng(saved);
    expect(Array.from({ length: 5 }, () => b.uniform())).toEqual(first);
    expect(new Rng(43).uniform()).not.toBe(new Rng(42).uniform());
    expect(new Rng(42).uniform()).toBe(new Rng(42).uniform());
    const u = Array.from({ length: 10000 }, () => a.uniform());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(u.reduce((x, y) => x + y) / u.length - 0.5)).toBeLessThan(0.01);
    expect(() => new Rng([0, 0, 0, 0])).toThrow(/all-zero state/);
  });
});

describe('sampler', () => {
  const probs = [0.5, 0.3, 0.15, 0.05];
  const logits = logitsOf(probs);

  it('greedy: temperature 0 or doSample false take the first argmax and draw nothing', () => {
    const rng = new Rng(3);
    const before = rng.state();
    expect(sample(Float32Array.of(1, 5, 5, 2), { temperature: 0 }, rng)).toBe(1);
    expect(sample(Float32Array.of(1, 2, 7, -Infinity), { doSample: false, temperature: 0.7 }, rng)).toBe(2);
    expect(rng.state()).toEqual(before);
  });

  it('repetition penalty follows HF: positive logits divided, negative multiplied, each id once', () => {
    const s = Float64Array.of(2, -1, 0.5, 3, 0);
    applyRepetitionPenalty(s, 2, [0, 1, 1, 4, 0]);
    expect(Array.from(s)).toEqual([1, -2, 0.5, 3, 0]);
    // Without the penalty token 0 wins; with it (3 / 2 < 2.5) token 3 does.
    const l = Float32Array.of(3, -1, 0.5, 2.5);
    expect(sample(l, { temperature: 0 }, new Rng(0), [0])).toBe(0);
    expect(sample(l, { temperature: 0, repetitionPenalty: 2 }, new Rng(0), [0])).toBe(3);
    // A penalty < 1 favours repeats.
    expect(sample(Float32Array.of(1, 1.5), { temperature: 0, repetitionPenalty: 0.5 }, new Rng(0), [0])).toBe(0);
  });

  it('plain sampling draws from softmax(logits / temperature)', () => {
    expectDistribution(frequencies(logits, {}, 20000), probs);
    expectDistribution(frequencies(logits, { temperature: 0.5 }, 20000), normalise(probs.map((p) => p ** 2)));
  });

  it('top-k keeps the k most likely (ties with the k-th kept)', () => {
    expectDistribution(frequencies(logits, { topK: 2 }, 20000), normalise([0.5, 0.3, 0, 0]));
    const tied = Float32Array.of(2, 1, 1, 0);
    const f = frequencies(tied, { topK: 2 }, 2000);
    expect(f[1]).toBeGreaterThan(0);
    expect(f[2]).toBeGreaterThan(0);
    expect(f[3]).toBe(0);
  });

  it('top-p keeps the smallest most-likely set reaching p', () => {
    expectDistribution(frequencies(logits, { topP: 0.4 }, 2000), [1, 0, 0, 0]);
    expectDistribution(frequencies(logits, { topP: 0.7 }, 20000), normalise([0.5, 0.3, 0, 0]));
    expectDistribution(frequencies(logits, { topP: 0.9 }, 20000), normalise([0.5, 0.3, 0.15, 0]));
  });

  it('top-k and top-p on larger random vocabularies keep exactly the sets a full sort defines', () => {
    const V = 300;
    const r = new Rng(11);
    const support = (p: Float64Array | number) => new Set([...(p as Float64Array).keys()].filter((i) => (p as Float64Array)[i] > 0));
    // Flat (logits in [0, 2]) and wide (in [0, 12]: probabilities spanning 1e5) vocabularies.
    for (const [width, topP] of [[2, 0.3], [12, 0.95], [12, 0.5]]) {
      const l = Float32Array.from({ length: V }, () => width * r.uniform());
      const byLogit = [...l.keys()].sort((a, b) => l[b] - l[a]);
      expect(support(samplingDistribution(l, { topK: 7 }))).toEqual(new Set(byLogit.slice(0, 7)));
      // Nucleus by the definition: most likely first, kept while the mass before it is below p.
      const z = l.reduce((a, x) => a + Math.exp(x), 0);
      const kept = new Set<number>();
      let before = 0;
      for (const i of byLogit) {
        if (before >= topP) break;
        kept.add(i);
        before += Math.exp(l[i]) / z;
      }
      expect(kept.size).toBeGreaterThan(5);
      const p = samplingDistribution(l, { topP }) as Float64Array;
      expect(support(p)).toEqual(kept);
      for (const i of kept) expect(p[i]).toBeCloseTo(Math.exp(l[i]) / [...kept].reduce((a, j) => a + Math.exp(l[j]), 0), 12);
    }
  });

  it('temperature applies before top-p (HF order)', () => {
    // At temperature 3 the probabilities flatten to about (0.34, 0.28, 0.22, 0.16): top-p 0.7 now needs three tokens.
    const t = normalise(probs.map((p) => p ** (1 / 3)));
    expectDistribution(frequencies(logits, { temperature: 3, topP: 0.7 }, 20000), normalise([t[0], t[1], t[2], 0]));
  });

  it('min-p drops tokens below minP times the top probability', () => {
    expectDistribution(frequencies(logits, { minP: 0.2 }, 20000), normalise([0.5, 0.3, 0.15, 0]));
    expectDistribution(frequencies(logits, { minP: 0.5 }, 20000), normalise([0.5, 0.3, 0, 0]));
  });

  it('is deterministic given the seed and never writes the logits', () => {
    const l = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i * 12.9898) * 3);
    const copy = l.slice();
    const opts = { temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1.3 };
    const run = (seed: number) => { const r = new Rng(seed); return Array.from({ length: 50 }, (_, i) => sample(l, opts, r, [i, 2 * i])); };
    expect(run(7)).toEqual(run(7));
    expect(run(7)).not.toEqual(run(8));
    expect(l).toEqual(copy);
  });

  it('rejects NaN logits and bad options, naming them', () => {
    expect(() => sample(Float32Array.of(0, NaN), {}, new Rng())).toThrow(/logit 1 of 2 is NaN/);
    expect(() => sample(Float32Array.of(-Infinity, -Infinity), {}, new Rng())).toThrow(/all 2 logits are -Infinity/);
    expect(() => sample(new Float32Array(0), {}, new Rng())).toThrow(/empty logits/);
  });
});
