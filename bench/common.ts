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

/** Median of `reps` timings (ms) of `fn`, after `warmup` untimed calls. `fn` must await its GPU work. */
export async function timeIt(fn: () => Promise<void>, reps = 5, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    await fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
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
