// Where runs live: their config and status, metrics history and latest checkpoint. The trainer
// only talks to this interface, so the same loop persists to a Node folder (storage-node.ts),
// OPFS / IndexedDB in the browser (storage-browser.ts) or memory (tests).
import type { RunConfig } from './config.ts';

export type RunStatus = 'running' | 'paused' | 'stopped' | 'done' | 'error';

export interface RunMeta {
  runId: string;
  name: string;
  config: RunConfig;
  /** ms since the epoch. */
  created: number;
  updated: number;
  status: RunStatus;
  /** Optimizer steps completed (as of the last save of this record). */
  step: number;
  totalSteps: number;
  /** Step of the latest complete checkpoint. */
  lastCheckpoint?: number;
  error?: string;
}

/** One line of metrics history: a step or eval event without its `type` key moved to `kind`. */
export type MetricRow = { kind: 'step' | 'eval'; step: number } & Record<string, unknown>;

export interface RunStorage {
  saveRun(meta: RunMeta): Promise<void>;
  loadRun(runId: string): Promise<RunMeta | undefined>;
  /** Newest first. */
  listRuns(): Promise<RunMeta[]>;
  deleteRun(runId: string): Promise<void>;
  /**
   * Replaces the run's checkpoint with `files` (flat names → bytes). Must be atomic: if the write
   * is interrupted, loadCheckpoint still returns the previous complete checkpoint.
   */
  saveCheckpoint(runId: string, files: ReadonlyMap<string, Uint8Array>): Promise<void>;
  loadCheckpoint(runId: string): Promise<Map<string, Uint8Array> | undefined>;
  appendMetrics(runId: string, rows: readonly MetricRow[]): Promise<void>;
  readMetrics(runId: string): Promise<MetricRow[]>;
  /** Drops rows with step > `step` (resuming from that step's checkpoint writes them again). */
  truncateMetrics(runId: string, step: number): Promise<void>;
}

/** Everything in memory (tests; a page without persistent storage). Bytes are copied in and out. */
export class MemoryStorage implements RunStorage {
  private readonly runs = new Map<string, RunMeta>();
  private readonly checkpoints = new Map<string, Map<string, Uint8Array>>();
  private readonly metrics = new Map<string, MetricRow[]>();

  async saveRun(meta: RunMeta): Promise<void> {
    this.runs.set(meta.runId, structuredClone(meta));
  }

  async loadRun(runId: string): Promise<RunMeta | undefined> {
    const m = this.runs.get(runId);
    return m && structuredClone(m);
  }

  async listRuns(): Promise<RunMeta[]> {
    return [...this.runs.values()].sort((a, b) => b.created - a.created).map((m) => structuredClone(m));
  }

  async deleteRun(runId: string): Promise<void> {
    this.runs.delete(runId);
    this.checkpoints.delete(runId);
    this.metrics.delete(runId);
  }

  async saveCheckpoint(runId: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    this.checkpoints.set(runId, new Map([...files].map(([k, v]) => [k, v.slice()])));
  }

  async loadCheckpoint(runId: string): Promise<Map<string, Uint8Array> | undefined> {
    const c = this.checkpoints.get(runId);
    return c && new Map([...c].map(([k, v]) => [k, v.slice()]));
  }

  async appendMetrics(runId: string, rows: readonly MetricRow[]): Promise<void> {
    const list = this.metrics.get(runId) ?? [];
    list.push(...rows.map((r) => structuredClone(r)));
    this.metrics.set(runId, list);
  }

  async readMetrics(runId: string): Promise<MetricRow[]> {
    return (this.metrics.get(runId) ?? []).map((r) => structuredClone(r));
  }

  async truncateMetrics(runId: string, step: number): Promise<void> {
    const list = this.metrics.get(runId);
    if (list) this.metrics.set(runId, list.filter((r) => r.step <= step));
  }
}

/** A run id from the name and the time: `name-YYYYMMDD-HHMMSS`, safe as a folder name. */
export function makeRunId(name: string, now = Date.now()): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 40) || 'run';
  const d = new Date(now);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${slug}-${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}
