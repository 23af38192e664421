// A run's data with a separate validation source: every training example is kept, the validation
// set is all of the other source (never limited), and a bad validation source is named.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { byteLevelTokenizer } from '../../src/data/byte-tokenizer.ts';
import { resolveRunConfig } from '../../src/train/config.ts';
import { loadRunData } from '../../src/train/data.ts';
import { loadDataNode } from '../../src/train/node.ts';

const dir = mkdtempSync(join(tmpdir(), 'pupil-run-data-'));
const file = (name: string, n: number) => {
  const path = join(dir, name);
  writeFileSync(path, Array.from({ length: n }, (_, i) => JSON.stringify({ instruction: `${name} task ${i}`, output: `answer ${i}` })).join('\n') + '\n');
  return path;
};
const train = file('train.jsonl', 40);
const valid = file('valid.jsonl', 7);
const config = (data: Record<string, unknown>, seqLen = 64) => resolveRunConfig({ student: { scratch: {} }, data, train: { seqLen } });

describe('run data', () => {
  it('validates on all of validationSource and trains on every example', async () => {
    const d = await loadRunData(config({ source: { path: train }, validationSource: { path: valid }, limit: 30 }), byteLevelTokenizer(), loadDataNode);
    expect(d.train).toHaveLength(30);
    expect(d.validation).toHaveLength(7);
    expect(d.validation.every((ex) => ex.source.file.endsWith('valid.jsonl'))).toBe(true);
    expect(d.summary).toContain(`30 train, 7 validation examples (from ${valid})`);
  });

  it('without it, splits the training data (as before)', async () => {
    const d = await loadRunData(config({ source: { path: train }, validation: 4 }), byteLevelTokenizer(), loadDataNode);
    expect([d.train.length, d.validation.length]).toEqual([36, 4]);
  });

  it("'bundled' validates on the bundled held-out test set", async () => {
    const d = await loadRunData(config({ source: { path: train }, validationSource: 'bundled' }, 128), byteLevelTokenizer(), loadDataNode);
    expect(d.validation.length).toBeGreaterThan(950); // of 1000: a few exceed 128 tokens
    expect(d.validation[0].source.file).toBe('pupil-tasks/test.jsonl');
  });

  it('names a bad validation source', async () => {
    expect(() => config({ validationSource: { file: 'x' } })).toThrow(/data\.validationSource/);
    await expect(loadRunData(config({ source: { path: train }, validationSource: { path: join(dir, 'missing.jsonl') } }), byteLevelTokenizer(), loadDataNode)).rejects.toThrow(/missing\.jsonl/);
  });
});
