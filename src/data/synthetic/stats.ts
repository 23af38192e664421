// Size figures for the README and the tests: the byte-level students care about length first.
import type { SyntheticRecord } from './spec.ts';

export interface DatasetStats {
  records: number;
  families: Record<string, number>;
  tasks: Record<string, number>;
  /** Bytes of instruction + input + output (UTF-8). */
  meanBytes: number;
  maxBytes: number;
  /** Share of records whose data is in `input` rather than inlined in the instruction. */
  withInput: number;
}

export function exampleBytes(r: Pick<SyntheticRecord, 'instruction' | 'input' | 'output'>): number {
  const enc = new TextEncoder();
  return enc.encode(r.instruction).length + enc.encode(r.input).length + enc.encode(r.output).length;
}

export function datasetStats(records: readonly SyntheticRecord[]): DatasetStats {
  const families: Record<string, number> = {}, tasks: Record<string, number> = {};
  let sum = 0, max = 0, withInput = 0;
  for (const r of records) {
    const b = exampleBytes(r);
    sum += b;
    max = Math.max(max, b);
    if (r.input !== '') withInput++;
    tasks[r.task] = (tasks[r.task] ?? 0) + 1;
    const f = r.task.split('/')[0];
    families[f] = (families[f] ?? 0) + 1;
  }
  const n = records.length;
  return { records: n, families, tasks, meanBytes: n ? sum / n : 0, maxBytes: max, withInput: n ? withInput / n : 0 };
}
