// Runs as folders on disk (Node): <root>/<runId>/run.json, metrics.jsonl and checkpoint/ (written
// atomically by saveCheckpointDir, so an interrupted save leaves the previous checkpoint loadable).
// A checkpoint folder also holds config.json and the tokenizer files, so it loads as a Hugging Face
// folder (loadPretrainedNode) for chat and eval.
import { appendFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from './checkpoint.ts';
import { loadCheckpointDir, saveCheckpointDir } from './checkpoint-node.ts';
import type { MetricRow, RunMeta, RunStorage } from './storage.ts';

const SAFE_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export class FolderStorage implements RunStorage {
  constructor(readonly root: string) {}

  runDir(runId: string): string {
    if (!SAFE_ID.test(runId)) throw new Error(`run id ${JSON.stringify(runId)} is not a plain folder name`);
    return join(this.root, runId);
  }

  checkpointDir(runId: string): string {
    return join(this.runDir(runId), 'checkpoint');
  }

  metricsFile(runId: string): string {
    return join(this.runDir(runId), 'metrics.jsonl');
  }

  async saveRun(meta: RunMeta): Promise<void> {
    const dir = this.runDir(meta.runId);
    await mkdir(dir, { recursive: true });
    // Written beside and renamed, so a crash never leaves a half-written run.json.
    const tmp = join(dir, `run.json.partial-${process.pid}`);
    await writeFile(tmp, JSON.stringify(meta, null, 2) + '\n');
    await rename(tmp, join(dir, 'run.json'));
  }

  async loadRun(runId: string): Promise<RunMeta | undefined> {
    try {
      return JSON.parse(await readFile(join(this.runDir(runId), 'run.json'), 'utf8')) as RunMeta;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async listRuns(): Promise<RunMeta[]> {
    let names: string[];
    try {
      names = (await readdir(this.root, { withFileTypes: true })).filter((d) => d.isDirectory() && SAFE_ID.test(d.name)).map((d) => d.name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const metas = await Promise.all(names.map((n) => this.loadRun(n).catch(() => undefined)));
    return metas.filter((m): m is RunMeta => m !== undefined).sort((a, b) => b.created - a.created);
  }

  async deleteRun(runId: string): Promise<void> {
    await rm(this.runDir(runId), { recursive: true, force: true });
  }

  async saveCheckpoint(runId: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    await saveCheckpointDir(this.checkpointDir(runId), files);
  }

  async loadCheckpoint(runId: string): Promise<Map<string, Uint8Array> | undefined> {
    try {
      return await loadCheckpointDir(this.checkpointDir(runId));
    } catch (e) {
      if (e instanceof CheckpointError && /no checkpoint at/.test(e.message)) return undefined;
      throw e;
    }
  }

  async appendMetrics(runId: string, rows: readonly MetricRow[]): Promise<void> {
    if (!rows.length) return;
    await mkdir(this.runDir(runId), { recursive: true });
    await appendFile(this.metricsFile(runId), rows.map((r) => JSON.stringify(r) + '\n').join(''));
  }

  async readMetrics(runId: string): Promise<MetricRow[]> {
    let text: string;
    try {
      text = await readFile(this.metricsFile(runId), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const rows: MetricRow[] = [];
    // A crash mid-append can leave a torn last line: it is dropped, not fatal.
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        rows.push(JSON.parse(line) as MetricRow);
      } catch {
        /* torn line */
      }
    }
    return rows;
  }

  async truncateMetrics(runId: string, step: number): Promise<void> {
    const rows = (await this.readMetrics(runId)).filter((r) => r.step <= step);
    const file = this.metricsFile(runId);
    const tmp = `${file}.partial-${process.pid}`;
    await mkdir(this.runDir(runId), { recursive: true });
    await writeFile(tmp, rows.map((r) => JSON.stringify(r) + '\n').join(''));
    await rename(tmp, file);
  }
}
