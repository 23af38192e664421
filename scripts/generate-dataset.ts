// Writes Pupil's bundled synthetic dataset: npx tsx scripts/generate-dataset.ts [--seed N]
// [--train N] [--test N] [--out DIR]. The defaults reproduce the shipped data/pupil-tasks/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEFAULT_SEED, DEFAULT_TEST, DEFAULT_TRAIN, datasetStats, generateDataset, toJsonl,
} from '../src/data/synthetic/index.ts';
import { datasetReadme } from '../src/data/synthetic/readme.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function count(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${flag} wants a non-negative integer, got "${value}"`);
    process.exit(2);
  }
  return n;
}

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    train: { type: 'string' },
    test: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: npx tsx scripts/generate-dataset.ts [--seed N] [--train N] [--test N] [--out DIR]');
  process.exit(0);
}

const seed = count('seed', values.seed, DEFAULT_SEED);
const out = resolve(values.out ?? join(root, 'data', 'pupil-tasks'));
const { train, test } = generateDataset({
  seed, train: count('train', values.train, DEFAULT_TRAIN), test: count('test', values.test, DEFAULT_TEST),
});

mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'train.jsonl'), toJsonl(train));
writeFileSync(join(out, 'test.jsonl'), toJsonl(test));
writeFileSync(join(out, 'README.md'), datasetReadme(seed, train, test));

for (const [name, records] of [['train', train], ['test', test]] as const) {
  const s = datasetStats(records);
  console.log(`${name}: ${s.records} records, mean ${s.meanBytes.toFixed(1)} bytes, max ${s.maxBytes}`);
}
console.log(`wrote ${out}`);
