import { describe, expect, it } from 'vitest';
import { learningRate, lrFactor, ScheduleError, warmupStepsFromRatio, type ScheduleConfig } from '../../src/optim/schedule.ts';

// transformers/optimization.py, transliterated (Python float semantics are JS doubles).
const hf = {
  cosine: (s: number, W: number, S: number, minRate = 0) => {
    if (s < W) return s / Math.max(1, W);
    const progress = (s - W) / Math.max(1, S - W);
    const f = 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress));
    return Math.max(0, f * (1 - minRate) + minRate);
  },
  linear: (s: number, W: number, S: number) => (s < W ? s / Math.max(1, W) : Math.max(0, (S - s) / Math.max(1, S - W))),
  constant: (s: number, W: number) => (s < W ? s / Math.max(1, W) : 1),
};

const cfg = (kind: ScheduleConfig['kind'], extra: Partial<ScheduleConfig> = {}): ScheduleConfig => ({ lr: 1, warmupSteps: 10, totalSteps: 110, kind, ...extra });

describe('learning-rate schedules', () => {
  it('cosine with warmup: hand-computed points', () => {
    const c = cfg('cosine', { lr: 3e-4 });
    expect(learningRate(0, c)).toBe(0); // HF: the first update runs at rate 0 when warming up
    expect(learningRate(5, c)).toBeCloseTo(1.5e-4, 15);
    expect(learningRate(10, c)).toBe(3e-4);
    expect(learningRate(35, c)).toBeCloseTo(3e-4 * (0.5 + Math.SQRT2 / 4), 15); // a quarter of the way: ½(1 + cos π/4)
    expect(learningRate(60, c)).toBeCloseTo(1.5e-4, 15); // halfway
    expect(learningRate(110, c)).toBeCloseTo(0, 15);
    expect(learningRate(200, c)).toBeCloseTo(0, 15); // stays at the floor (HF would rise again)
  });

  it('linear and constant with warmup: hand-computed points', () => {
    expect([0, 5, 10, 60, 100, 110, 150].map((s) => lrFactor(s, cfg('linear')))).toEqual([0, 0.5, 1, 0.5, 0.1, 0, 0]);
    expect([0, 5, 10, 60, 110, 1e6].map((s) => lrFactor(s, cfg('constant')))).toEqual([0, 0.5, 1, 1, 1, 1]);
    expect(lrFactor(0, cfg('cosine', { warmupSteps: 0 }))).toBe(1);
    expect(lrFactor(0, cfg('constant', { warmupSteps: 0 }))).toBe(1);
  });

  it('minLrRatio sets the floor of cosine and linear decay but not of warmup', () => {
    const c = cfg('cosine', { minLrRatio: 0.1 });
    expect(lrFactor(5, c)).toBe(0.5);
    expect(lrFactor(10, c)).toBe(1);
    expect(lrFactor(60, c)).toBeCloseTo(0.55, 15);
    expect(lrFactor(110, c)).toBeCloseTo(0.1, 15);
    expect(lrFactor(500, c)).toBeCloseTo(0.1, 15);
    expect(lrFactor(60, cfg('linear', { minLrRatio: 0.2 }))).toBeCloseTo(0.6, 15);
    expect(lrFactor(200, cfg('linear', { minLrRatio: 0.2 }))).toBeCloseTo(0.2, 15);
  });

  it("matches HF's lr_lambda over a grid, including W = 0, W = S and tiny runs", () => {
    for (const [W, S] of [[0, 1], [0, 17], [3, 3], [3, 4], [5, 40], [7, 1000], [1, 2]]) {
      for (let s = 0; s <= S; s++) {
        expect(lrFactor(s, cfg('cosine', { warmupSteps: W, totalSteps: S }))).toBeCloseTo(hf.cosine(s, W, S), 14);
        expect(lrFactor(s, cfg('cosine', { warmupSteps: W, totalSteps: S, minLrRatio: 0.25 }))).toBeCloseTo(hf.cosine(s, W, S, 0.25), 14);
        expect(lrFactor(s, cfg('linear', { warmupSteps: W, totalSteps: S }))).toBe(hf.linear(s, W, S));
        expect(lrFactor(s, cfg('constant', { warmupSteps: W, totalSteps: S }))).toBe(hf.constant(s, W));
      }
      // Beyond the end HF's linear clamps at 0 too.
      expect(lrFactor(S + 5, cfg('linear', { warmupSteps: W, totalSteps: S }))).toBe(hf.linear(S + 5, W, S));
    }
  });

  it('is monotone: up during warmup, down after', () => {
    const c = cfg('cosine', { warmupSteps: 20, totalSteps: 300 });
    for (let s = 1; s <= 300; s++) {
      const [a, b] = [lrFactor(s - 1, c), lrFactor(s, c)];
      if (s <= 20) expect(b).toBeGreaterThan(a);
      else expect(b).toBeLessThanOrEqual(a);
    }
  });

  it('warmupStepsFromRatio rounds up exactly as HF (math.ceil of the double product)', () => {
    expect(warmupStepsFromRatio(0.1, 30)).toBe(3);
    expect(warmupStepsFromRatio(0.05, 1000)).toBe(50);
    expect(warmupStepsFromRatio(0, 100)).toBe(0);
    expect(warmupStepsFromRatio(0.1, 7)).toBe(1);
    expect(warmupStepsFromRatio(0.07, 100)).toBe(8); // 100 · 0.07 = 7.000000000000001 in Python too
    expect(warmupStepsFromRatio(1, 12)).toBe(12);
    expect(() => warmupStepsFromRatio(1.5, 10)).toThrow(/warmup ratio must be in \[0, 1\], got 1.5/);
    expect(() => warmupStepsFromRatio(0.1, 2.5)).toThrow(/totalSteps must be an integer/);
  });

  it('rejects bad configurations with the field named', () => {
    expect(() => learningRate(0, cfg('cosine', { lr: -1 }))).toThrow(ScheduleError);
    expect(() => learningRate(0, cfg('cosine', { lr: NaN }))).toThrow(/lr must be a finite number >= 0, got NaN/);
    expect(() => learningRate(0, cfg('cosine', { warmupSteps: 1.5 }))).toThrow(/warmupSteps must be an integer >= 0, got 1.5/);
    expect(() => learningRate(0, cfg('cosine', { totalSteps: -3 }))).toThrow(/totalSteps/);
    expect(() => learningRate(0, cfg('cosine', { minLrRatio: 2 }))).toThrow(/minLrRatio must be in \[0, 1\], got 2/);
    expect(() => learningRate(0, { ...cfg('cosine'), kind: 'exp' as 'cosine' })).toThrow(/kind must be one of cosine, linear, constant, got "exp"/);
    expect(() => learningRate(-1, cfg('cosine'))).toThrow(/step must be an integer >= 0, got -1/);
  });
});
