import { describe, expect, it } from 'vitest';
import { epochBatches, paddingEfficiency } from '../../src/data/batch.ts';
import { packRows } from '../../src/data/pack.ts';
import { IGNORE, type TokenizedExample } from '../../src/data/mask.ts';

const source = { file: 'f', line: 1, record: 0 };
function example(n: number, base: number): TokenizedExample {
  const ids = Int32Array.from({ length: n }, (_, i) => base + i);
  const targets = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? base + i + 1 : IGNORE));
  return { ids, targets, trainedTokens: n - 1, source };
}
const lengths = [5, 3, 8, 2, 7, 4, 6, 1, 3, 5, 8, 2];
const examples = lengths.map((n, i) => example(n, i * 100));

describe('packing', () => {
  it('fits every example once, rows never longer than T', () => {
    const rows = packRows(examples, 10);
    expect(rows.flat()).toHaveLength(examples.length);
    expect(new Set(rows.flat())).toEqual(new Set(examples));
    for (const row of rows) expect(row.reduce((n, ex) => n + ex.ids.length, 0)).toBeLessThanOrEqual(10);
    expect(() => packRows([example(11, 0)], 10)).toThrow(/does not fit/);
  });

  it('gives each example its own segment, positions from 0, and no target across a boundary', () => {
    const T = 10;
    for (const batch of epochBatches(examples, { batchSize: 2, seqLen: T, pack: true, padId: -1, seed: 5 })) {
      for (let b = 0; b < batch.B; b++) {
        for (let t = 0; t < T; t++) {
          const i = b * T + t;
          const seg = batch.segmentIds[i];
          if (seg === 0) {
            expect([batch.ids[i], batch.targets[i]]).toEqual([-1, IGNORE]);
            continue;
          }
          const first = t === 0 || batch.segmentIds[i - 1] !== seg;
          expect(batch.positions[i]).toBe(first ? 0 : batch.positions[i - 1] + 1);
          if (!first) expect(seg).toBeGreaterThanOrEqual(batch.segmentIds[i - 1]);
          // the example's ids are base + position, so a segment is exactly one example
          expect(batch.ids[i] % 100).toBe(batch.positions[i]);
          const last = t === T - 1 || batch.segmentIds[i + 1] !== seg;
          expect(batch.targets[i]).toBe(last ? IGNORE : batch.ids[i + 1]);
        }
      }
    }
  });

  it('packs more densely than padding', () => {
    const packed = [...epochBatches(examples, { batchSize: 2, seqLen: 10, pack: true, padId: 0, seed: 5 })];
    const padded = [...epochBatches(examples, { batchSize: 2, seqLen: 10, fixedLength: true, padId: 0, seed: 5 })];
    const total = lengths.reduce((a, b) => a + b, 0);
    expect(paddingEfficiency(packed)).toBeCloseTo(total / (packed.length * 2 * 10));
    expect(paddingEfficiency(packed)).toBeGreaterThan(0.8);
    expect(paddingEfficiency(packed)).toBeGreaterThan(paddingEfficiency(padded));
    expect(packed.reduce((n, b) => n + b.trainedTokens, 0)).toBe(total - lengths.length);
  });
});
