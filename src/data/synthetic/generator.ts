// Turns the task registry into train and test splits, deterministic from one seed.
//
// Hold-out: every test example uses one of its task's test-only templates, and (for tasks with
// open value spaces) a value tuple from a bucket reserved for test. The bucket depends on the
// task and the values only, not on the seed, so any two seeds agree on what is held out.
import { hash32, Rng } from './prng.ts';
import { render, taskId, type SyntheticRecord, type TaskSpec } from './spec.ts';
import { TASKS } from './tasks.ts';

export const DEFAULT_SEED = 42;
export const DEFAULT_TRAIN = 20_000;
export const DEFAULT_TEST = 1_000;
/** instruction + input + output, in bytes: the students see 128 to 256 byte-level tokens. */
export const MAX_EXAMPLE_BYTES = 200;
/** One value tuple in this many is reserved for the test split. */
export const TEST_VALUE_SHARE = 8;

export type Split = 'train' | 'test';

export interface GenerateOptions {
  seed?: number;
  train?: number;
  test?: number;
}

/** A record with what produced it: the tests and tooling need the template and values. */
export interface GeneratedItem {
  record: SyntheticRecord;
  /** Index into [...task.train, ...task.test]. */
  template: number;
  key: string;
  vars: Record<string, string>;
}

export function isTestValue(task: TaskSpec, key: string): boolean {
  if (!task.holdOutValues) return false;
  // FNV's low bits are weak; a murmur finaliser spreads the buckets evenly.
  let h = hash32(`${taskId(task)}|${key}`);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) % TEST_VALUE_SHARE === 0;
}

/** Largest-remainder apportionment: per-task counts are exact and stable, not sampled. */
export function allocate(n: number, weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (n * w) / total);
  const counts = exact.map(Math.floor);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let r = n - counts.reduce((a, b) => a + b, 0), j = 0; r > 0; r--, j++) counts[order[j][1]]++;
  return counts;
}

const bytes = (s: string): number => new TextEncoder().encode(s).length;

// Retries before accepting a repeat: closed domains (weekdays, planets) must repeat eventually.
const FRESH_TRIES = 30;
const MAX_TRIES = 100_000;

type Drawn = Omit<GeneratedItem, 'record'> & { instruction: string; input: string; answer: string };

function generateTask(task: TaskSpec, seed: number, split: Split, n: number): Drawn[] {
  const rng = Rng.from(seed, split, taskId(task));
  const templates = split === 'train' ? task.train : task.test;
  const offset = split === 'train' ? 0 : task.train.length;
  const seen = new Set<string>();
  const out: Drawn[] = [];
  let tries = 0, fresh = 0;
  while (out.length < n) {
    if (++tries > MAX_TRIES) throw new Error(`${taskId(task)}: cannot draw ${n} ${split} examples`);
    const s = task.sample(rng);
    if (task.holdOutValues && isTestValue(task, s.key) !== (split === 'test')) continue;
    const t = rng.int(0, templates.length - 1);
    const combo = `${t}|${s.key}`;
    if (seen.has(combo) && ++fresh < FRESH_TRIES) continue;
    const instruction = render(templates[t].instruction, s.vars);
    const input = templates[t].input === undefined ? '' : render(templates[t].input!, s.vars);
    if (bytes(instruction) + bytes(input) + bytes(s.answer) > MAX_EXAMPLE_BYTES) continue;
    seen.add(combo);
    fresh = 0;
    out.push({ template: offset + t, key: s.key, vars: s.vars, instruction, input, answer: s.answer });
  }
  return out;
}

function generateSplit(seed: number, split: Split, n: number): GeneratedItem[] {
  const counts = allocate(n, TASKS.map((t) => t.weight ?? 1));
  const items: GeneratedItem[] = [];
  TASKS.forEach((task, i) => {
    for (const g of generateTask(task, seed, split, counts[i])) {
      items.push({
        template: g.template, key: g.key, vars: g.vars,
        record: { instruction: g.instruction, input: g.input, output: g.answer, task: taskId(task), answer: g.answer, id: '' },
      });
    }
  });
  Rng.from(seed, split, 'order').shuffle(items);
  items.forEach((it, i) => (it.record.id = `${split}-${i}`));
  return items;
}

export function generateItems(opts: GenerateOptions = {}): { train: GeneratedItem[]; test: GeneratedItem[] } {
  const seed = opts.seed ?? DEFAULT_SEED;
  return {
    train: generateSplit(seed, 'train', opts.train ?? DEFAULT_TRAIN),
    test: generateSplit(seed, 'test', opts.test ?? DEFAULT_TEST),
  };
}

export function generateDataset(opts: GenerateOptions = {}): { train: SyntheticRecord[]; test: SyntheticRecord[] } {
  const { train, test } = generateItems(opts);
  return { train: train.map((g) => g.record), test: test.map((g) => g.record) };
}

/** Alpaca JSONL with a fixed key order, one record a line, newline-terminated. */
export function toJsonl(records: readonly SyntheticRecord[]): string {
  return records
    .map((r) => JSON.stringify({ instruction: r.instruction, input: r.input, output: r.output, task: r.task, answer: r.answer, id: r.id }) + '\n')
    .join('');
}
