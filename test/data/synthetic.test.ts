import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  generateDataset, generateItems, isTestValue, MAX_EXAMPLE_BYTES, taskId, TASK_FAMILIES, TASKS,
  toJsonl, type GeneratedItem,
} from '../../src/data/synthetic/index.ts';
import { datasetReadme } from '../../src/data/synthetic/readme.ts';
import { CAPITALS, OPPOSITES } from '../../src/data/synthetic/lexicon.ts';
import { Rng } from '../../src/data/synthetic/prng.ts';
import { checkAnswer } from './synthetic-checks.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');
const size = (g: GeneratedItem): number => bytes(g.record.instruction) + bytes(g.record.input) + bytes(g.record.output);

let full: { train: GeneratedItem[]; test: GeneratedItem[] };
beforeAll(() => {
  full = generateItems();
});

describe('synthetic dataset: generation', () => {
  it('is deterministic for a seed and changes with it', () => {
    const a = toJsonl(generateDataset({ seed: 7, train: 1500, test: 150 }).train);
    const b = toJsonl(generateDataset({ seed: 7, train: 1500, test: 150 }).train);
    const c = toJsonl(generateDataset({ seed: 8, train: 1500, test: 150 }).train);
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    // Not just a reshuffle: the drawn values differ too.
    expect(new Set(c.split('\n').map((l) => l.replace(/"id":"[^"]*"/, '')))).not.toEqual(
      new Set(a.split('\n').map((l) => l.replace(/"id":"[^"]*"/, ''))),
    );
  });

  it('has the requested sizes, ids in order and every task in both splits', () => {
    expect(full.train).toHaveLength(20_000);
    expect(full.test).toHaveLength(1_000);
    const small = generateDataset({ seed: 3, train: 123, test: 51 });
    expect(small.train).toHaveLength(123);
    expect(small.test).toHaveLength(51);
    full.train.forEach((g, i) => expect(g.record.id).toBe(`train-${i}`));
    full.test.forEach((g, i) => expect(g.record.id).toBe(`test-${i}`));
    for (const split of [full.train, full.test]) {
      const tasks = new Set(split.map((g) => g.record.task));
      expect([...tasks].sort()).toEqual(TASKS.map(taskId).sort());
    }
    expect(TASK_FAMILIES).toEqual(['arithmetic', 'comparison', 'strings', 'counting', 'sorting', 'formatting', 'units', 'dates', 'facts']);
  });

  it('writes Alpaca JSONL with a fixed key order and output equal to answer', () => {
    const lines = toJsonl(full.test.map((g) => g.record)).split('\n');
    expect(lines.pop()).toBe('');
    for (const line of lines) {
      const r = JSON.parse(line);
      expect(Object.keys(r)).toEqual(['instruction', 'input', 'output', 'task', 'answer', 'id']);
      for (const v of Object.values(r)) expect(typeof v).toBe('string');
      expect(r.output).toBe(r.answer);
      expect(r.output).not.toBe('');
    }
  });

  it('keeps examples short, ASCII and fully rendered', () => {
    for (const split of [full.train, full.test]) {
      const sizes = split.map(size);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_EXAMPLE_BYTES);
      expect(sizes.reduce((a, b) => a + b, 0) / sizes.length).toBeLessThan(70);
      expect(sizes.filter((s) => s > 120).length / sizes.length).toBeLessThan(0.01);
      // One expect per record would dominate the run time: collect offenders instead.
      const bad = split.map((g) => g.record).filter((r) =>
        !/^[\n\x20-\x7e]*$/.test(r.instruction + r.input + r.output)
        || /\{\w+\}/.test(r.instruction + r.input)
        || r.instruction.trim() !== r.instruction);
      expect(bad).toEqual([]);
    }
  });

  it('uses every template of the split it belongs to, and some data in `input`', () => {
    for (const task of TASKS) {
      expect(task.train.length).toBeGreaterThanOrEqual(6);
      expect(task.test.length).toBeGreaterThanOrEqual(2);
      expect(task.train.some((t) => t.input) && task.train.some((t) => !t.input)).toBe(true);
      const id = taskId(task);
      const used = (split: GeneratedItem[]) => new Set(split.filter((g) => g.record.task === id).map((g) => g.template));
      expect([...used(full.train)].sort()).toEqual(task.train.map((_, i) => i));
      if (task.weight === undefined || task.weight >= 1) {
        expect([...used(full.test)].sort()).toEqual(task.test.map((_, i) => task.train.length + i));
      }
    }
  });
});

describe('synthetic dataset: held out', () => {
  it('test phrasings are never training phrasings', () => {
    for (const task of TASKS) {
      const text = (ts: typeof task.train) => new Set(ts.map((t) => `${t.instruction}\u0000${t.input ?? ''}`));
      const train = text(task.train);
      for (const t of text(task.test)) expect(train.has(t)).toBe(false);
    }
    for (const g of full.test) {
      const task = TASKS.find((t) => taskId(t) === g.record.task)!;
      expect(g.template).toBeGreaterThanOrEqual(task.train.length);
    }
    const trainTemplates = new Set(full.train.map((g) => `${g.record.task}#${g.template}`));
    for (const g of full.test) expect(trainTemplates.has(`${g.record.task}#${g.template}`)).toBe(false);
  });

  it('test value tuples never occur in training (except closed fact tables)', () => {
    const trainKeys = new Set(full.train.map((g) => `${g.record.task}#${g.key}`));
    const trainPairs = new Set(full.train.map((g) => `${g.record.instruction}\u0000${g.record.input}`));
    let heldOut = 0;
    for (const g of full.test) {
      const task = TASKS.find((t) => taskId(t) === g.record.task)!;
      expect(trainPairs.has(`${g.record.instruction}\u0000${g.record.input}`)).toBe(false);
      if (task.holdOutValues) {
        expect(trainKeys.has(`${g.record.task}#${g.key}`)).toBe(false);
        expect(isTestValue(task, g.key)).toBe(true);
        heldOut++;
      }
    }
    expect(TASKS.filter((t) => !t.holdOutValues).every((t) => t.family === 'facts')).toBe(true);
    expect(heldOut).toBeGreaterThan(900);
  });

  it('reserves about one value tuple in eight, whatever the seed', () => {
    const add = TASKS.find((t) => taskId(t) === 'arithmetic/add')!;
    let reserved = 0;
    for (let a = 0; a < 100; a++) for (let b = 0; b < 100; b++) if (isTestValue(add, `${a},${b}`)) reserved++;
    expect(reserved / 10_000).toBeGreaterThan(0.11);
    expect(reserved / 10_000).toBeLessThan(0.14);
    const other = generateItems({ seed: 99, train: 0, test: 200 }).test;
    for (const g of other) {
      const task = TASKS.find((t) => taskId(t) === g.record.task)!;
      if (task.holdOutValues) expect(isTestValue(task, g.key)).toBe(true);
    }
  });
});

describe('synthetic dataset: answers', () => {
  it('every answer matches an independent computation from the values', () => {
    const checked = new Set<string>();
    for (const g of [...full.train, ...full.test]) {
      const expected = checkAnswer(g.record.task, g.vars);
      if (expected === undefined) throw new Error(`no independent check for ${g.record.task}`);
      if (expected !== g.record.answer) {
        throw new Error(`${g.record.id} ${g.record.task}: answer ${JSON.stringify(g.record.answer)}, expected ${JSON.stringify(expected)}`);
      }
      checked.add(g.record.task);
    }
    expect(checked.size).toBe(TASKS.length);
  });

  it('the values the answer depends on appear in the prompt', () => {
    for (const g of full.test) {
      const text = `${g.record.instruction}\n${g.record.input}`;
      for (const part of g.key.split(/[,=]/)) {
        // Numeric parts of dates and months are rendered as names or padded ISO fields.
        if (g.record.task.startsWith('dates/')) continue;
        expect(text.toLowerCase()).toContain(part.toLowerCase());
      }
    }
  });

  it('fact tables are consistent: one answer per question, opposites symmetric', () => {
    const seen = new Map<string, string>();
    for (const g of [...full.train, ...full.test].filter((x) => x.record.task.startsWith('facts/'))) {
      const k = `${g.record.task}#${g.key}`;
      expect(seen.get(k) ?? g.record.answer).toBe(g.record.answer);
      seen.set(k, g.record.answer);
    }
    expect(seen.get('facts/capital#France')).toBe('Paris');
    expect(seen.get('facts/capital#Japan')).toBe('Tokyo');
    expect(seen.get('facts/country-of-capital#Ottawa')).toBe('Canada');
    const words = OPPOSITES.flat();
    expect(new Set(words).size).toBe(words.length);
    expect(new Set(CAPITALS.map((c) => c[0])).size).toBe(CAPITALS.length);
    expect(new Set(CAPITALS.map((c) => c[1])).size).toBe(CAPITALS.length);
  });

  it('the PRNG is uniform enough and reproducible', () => {
    const r = new Rng(1), s = new Rng(1);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const x = r.int(0, 9);
      expect(x).toBe(s.int(0, 9));
      counts[x]++;
    }
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
  });
});

describe('synthetic dataset: shipped files', () => {
  it('data/pupil-tasks equals a fresh generation with the default seed, byte for byte', () => {
    const dir = join(ROOT, 'data', 'pupil-tasks');
    const train = full.train.map((g) => g.record), test = full.test.map((g) => g.record);
    // Compare as strings rather than with toEqual: a mismatch should not print 3 MB.
    const same = (file: string, want: string): void => {
      const got = readFileSync(join(dir, file), 'utf8');
      if (got !== want) throw new Error(`${file} differs from the generator: run npx tsx scripts/generate-dataset.ts`);
    };
    same('train.jsonl', toJsonl(train));
    same('test.jsonl', toJsonl(test));
    same('README.md', datasetReadme(42, train, test));
  });
});
