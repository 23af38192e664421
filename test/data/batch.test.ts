import { describe, expect, it } from 'vitest';
import { epochBatches, iterateBatches, mulberry32, paddingEfficiency, rowsToBatch, shuffled, splitTrainValidation } from '../../src/data/batch.ts';
import { IGNORE, type TokenizedExample } from '../../src/data/mask.ts';

const source = { file: 'f', line: 1, record: 0 };
/** An example of n tokens whose ids are base, base+1, ... and whose last token is trained. */
function example(n: number, base = 0): TokenizedExample {
  const ids = Int32Array.from({ length: n }, (_, i) => base + i);
  const targets = new Int32Array(n).fill(IGNORE);
  if (n > 1) targets[n - 2] = ids[n - 1];
  return { ids, targets, trainedTokens: n > 1 ? 1 : 0, source };
}

describe('seeded shuffle and split', () => {
  it('mulberry32 is deterministic and uniform-ish', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(Math.abs(xs.reduce((s, x) => s + x, 0) / 1000 - 0.5)).toBeLessThan(0.05);
  });

  it('shuffles deterministically per seed, as a permutation', () => {
    const items = [...Array(50).keys()];
    expect(shuffled(items, 1)).toEqual(shuffled(items, 1));
    expect(shuffled(items, 1)).not.toEqual(shuffled(items, 2));
    expect([...shuffled(items, 1)].sort((x, y) => x - y)).toEqual(items);
  });

  it('splits by fraction or count, deterministically and disjointly, keeping order', () => {
    const items = [...Array(100).keys()];
    const a = splitTrainValidation(items, { validation: 0.1, seed: 7 });
    expect(a).toEqual(splitTrainValidation(items, { validation: 0.1, seed: 7 }));
    expect(a.validation).toHaveLength(10);
    expect([...a.train, ...a.validation].sort((x, y) => x - y)).toEqual(items);
    expect(a.train).toEqual([...a.train].sort((x, y) => x - y));
    expect(splitTrainValidation(items, { validation: 0.1, seed: 8 }).validation).not.toEqual(a.validation);
    expect(splitTrainValidation(items, { validation: 25, seed: 7 }).validation).toHaveLength(25);
    expect(splitTrainValidation([1, 2, 3], { validation: 0.01, seed: 7 }).validation).toHaveLength(1);
    expect(splitTrainValidation(items, { validation: 0, seed: 7 }).train).toHaveLength(100);
  });
});

describe('padded batches', () => {
  it('pads to the longest row with pad id, -100 targets and segment 0', () => {
    const batch = rowsToBatch([[example(3, 10)], [example(5, 20)]], 2, 5, 99);
    expect(Array.from(batch.ids)).toEqual([10, 11, 12, 99, 99, 20, 21, 22, 23, 24]);
    expect(Array.from(batch.targets)).toEqual([IGNORE, 12, IGNORE, IGNORE, IGNORE, IGNORE, IGNORE, IGNORE, 24, IGNORE]);
    expect(Array.from(batch.segmentIds)).toEqual([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]);
    expect(Array.from(batch.positions)).toEqual([0, 1, 2, 0, 0, 0, 1, 2, 3, 4]);
    expect([batch.tokens, batch.trainedTokens, batch.examples]).toEqual([8, 2, 2]);
    expect(paddingEfficiency([batch])).toBeCloseTo(0.8);
  });

  it('keeps a pad id equal to a trained EOS id as a target', () => {
    const ex = example(3, 0);
    ex.ids[2] = 7;
    ex.targets[1] = 7; // EOS trained, pad is also 7
    const batch = rowsToBatch([[ex]], 1, 5, 7);
    expect(batch.targets[1]).toBe(7);
    expect(batch.targets[3]).toBe(IGNORE);
  });

  it('fills the last batch with empty rows to keep B, or drops it', () => {
    const exs = [example(2), example(3), example(4)];
    const batches = [...epochBatches(exs, { batchSize: 2, padId: 0, seed: 1 })];
    expect(batches.map((b) => [b.B, b.examples])).toEqual([
      [2, 2],
      [2, 1],
    ]);
    expect([...epochBatches(exs, { batchSize: 2, padId: 0, seed: 1, dropLast: true })]).toHaveLength(1);
  });

  it('iterates epochs with a different, reproducible order each epoch', () => {
    const exs = Array.from({ length: 8 }, (_, i) => example(2, i * 10));
    const order = (seed: number) => [...iterateBatches(exs, { batchSize: 8, padId: 0, seed, epochs: 2 })].map((s) => Array.from(s.batch.ids.filter((_, i) => i % 2 === 0)));
    const [e0, e1] = order(3);
    expect(order(3)).toEqual([e0, e1]);
    expect(e0).not.toEqual(e1);
    expect([...e0].sort((a, b) => a - b)).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
  });
});
