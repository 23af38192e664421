// Shared by the benchmarks: the device (Node, same adapter as the peers), timing, result rows.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** One row of bench/results/kernels.json. */
export interface KernelRow {
  name: string;
  shape: string;
  ours_gflops: number;
  peer: string;
  peer_gflops: number;
  ratio: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Best milliseconds per run of `submit` (which only enqueues GPU work; `wait` awaits all of it),
 * over `rounds` batches of repeats sized to `budgetMs`. Each batch sleeps through most of its
 * expected time before awaiting: awaiting GPU work in Node keeps a core busy that a software
 * adapter needs, and that would slow down whatever is measured.
 */
export async function timeRuns(submit: () => void, wait: () => Promise<void>, o: { budgetMs?: number; rounds?: number; maxReps?: number } = {}): Promise<number> {
  const { budgetMs = 1200, rounds = 1, maxReps = 20 } = o;
  submit();
  await wait(); // warm-up: compiles pipelines
  let t = performance.now();
  submit();
  await wait();
  let best = performance.now() - t;
  const reps = Math.max(2, Math.min(maxReps, Math.round(budgetMs / rounds / best)));
  for (let k = 0; k < rounds; k++) {
    t = performance.now();
    for (let i = 0; i < reps; i++) submit();
    await sleep(0.7 * reps * best);
    await wait();
    best = Math.min(best, (performance.now() - t) / reps);
  }
  return best;
}

export function writeJson(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(data, null, 2) + '\n');
}

export function printTable(rows: Record<string, unknown>[]): void {
  if (!rows.length) return;
  const cols = Object.keys(rows[0]);
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v));
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  console.log(cols.map((c, i) => c.padEnd(w[i])).join('  '));
  for (const r of rows) console.log(cols.map((c, i) => cell(r[c]).padEnd(w[i])).join('  '));
}
