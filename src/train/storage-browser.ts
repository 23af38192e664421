// Runs kept in the browser: each run's meta (config, state), its metrics history and its latest
// checkpoint, in the Origin Private File System, or IndexedDB where OPFS is missing (Safari before
// createWritable, Firefox private windows). Both sit behind one small file-like `BlobBackend`, so
// the save protocol below is written (and tested) once:
//
//   runs/<runId>/run.json            RunMeta, rewritten whole (small)
//   runs/<runId>/metrics.jsonl       one JSON row per line, appended
//   runs/<runId>/checkpoint.json     the pointer: which ckpt-* folder is current, its files' sizes
//   runs/<runId>/ckpt-<unique>/...   checkpoint files
//
// A checkpoint save writes a fresh ckpt-* folder, then replaces the pointer (a single atomic file
// write on both backends), and only then deletes the other ckpt-* folders. Until the pointer moves
// the old checkpoint is the one loaded; a save that dies part-way leaves an orphan folder that the
// next successful save deletes. This never needs a rename, which OPFS lacks in most browsers.

import { openDB, type IDBPDatabase } from 'idb';
import type { MetricRow, RunMeta, RunStorage } from './storage.ts';

/** A tiny file system. Paths are '/'-separated, relative, without '.' or '..' segments. */
export interface BlobBackend {
  readonly kind: 'opfs' | 'indexeddb' | 'memory';
  read(path: string): Promise<Uint8Array | undefined>;
  /** Replaces the whole file or leaves the old one: never a torn file. */
  write(path: string, bytes: Uint8Array): Promise<void>;
  append(path: string, bytes: Uint8Array): Promise<void>;
  /** Names directly under `dir` (files and folders), or [] when it does not exist. */
  list(dir: string): Promise<string[]>;
  /** Deletes a file or a whole folder; missing is fine. */
  remove(path: string): Promise<void>;
}

export class StorageFullError extends Error {
  constructor(readonly usage: number | undefined, readonly quota: number | undefined, cause?: unknown) {
    const mb = (n: number) => `${Math.round(n / 2 ** 20)} MB`;
    const figures = usage !== undefined && quota !== undefined ? `: ${mb(usage)} used of ${mb(quota)}` : '';
    super(`browser storage is full${figures}; delete old runs`, { cause });
    this.name = 'StorageFullError';
  }
}

function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: string })?.name;
  // Chromium's IndexedDB reports a full disk as an aborted transaction whose error is the quota one.
  return name === 'QuotaExceededError' || (name === 'AbortError' && /quota/i.test(String((e as Error).message)));
}

/** Rethrows quota errors as a StorageFullError that says how much is used and what to do. */
export async function explainQuota<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (!isQuotaError(e)) throw e;
    let est: StorageEstimate | undefined;
    try {
      est = await navigator.storage?.estimate?.();
    } catch {
      /* no figures then */
    }
    throw new StorageFullError(est?.usage, est?.quota, e);
  }
}

// ---------------------------------------------------------------------------------------------
// Backends

/** OPFS through createWritable, which writes a swap file and swaps it in on close(). */
export class OpfsBackend implements BlobBackend {
  readonly kind = 'opfs';
  constructor(private readonly root: FileSystemDirectoryHandle) {}

  static async open(name = 'pupil-runs'): Promise<OpfsBackend> {
    const root = await navigator.storage.getDirectory();
    return new OpfsBackend(await root.getDirectoryHandle(name, { create: true }));
  }

  private async dir(parts: string[], create: boolean): Promise<FileSystemDirectoryHandle | undefined> {
    let d = this.root;
    for (const p of parts) {
      try {
        d = await d.getDirectoryHandle(p, { create });
      } catch (e) {
        if (notFound(e)) return undefined;
        throw e;
      }
    }
    return d;
  }

  async read(path: string) {
    const parts = split(path);
    const d = await this.dir(parts.slice(0, -1), false);
    if (!d) return undefined;
    try {
      const file = await (await d.getFileHandle(parts.at(-1)!)).getFile();
      return new Uint8Array(await file.arrayBuffer());
    } catch (e) {
      if (notFound(e)) return undefined;
      throw e;
    }
  }

  async write(path: string, bytes: Uint8Array) {
    await this.writeAt(path, bytes, false);
  }

  async append(path: string, bytes: Uint8Array) {
    await this.writeAt(path, bytes, true);
  }

  private async writeAt(path: string, bytes: Uint8Array, append: boolean) {
    const parts = split(path);
    const d = (await this.dir(parts.slice(0, -1), true))!;
    const handle = await d.getFileHandle(parts.at(-1)!, { create: true });
    const w = await handle.createWritable({ keepExistingData: append });
    try {
      if (append) await w.seek((await handle.getFile()).size);
      await w.write(bytes as Uint8Array<ArrayBuffer>);
      await w.close();
    } catch (e) {
      await w.abort().catch(() => undefined);
      throw e;
    }
  }

  async list(dir: string) {
    const d = await this.dir(split(dir), false);
    if (!d) return [];
    const names: string[] = [];
    for await (const name of (d as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    return names.sort();
  }

  async remove(path: string) {
    const parts = split(path);
    const d = await this.dir(parts.slice(0, -1), false);
    if (!d) return;
    try {
      await d.removeEntry(parts.at(-1)!, { recursive: true });
    } catch (e) {
      if (!notFound(e)) throw e;
    }
  }
}

// Appends are separate records `<path>\u0000<seq>` so that an append never rewrites the file;
// '\u0000' sorts before every other character, so a path's chunks sit right after it in key order.
const CHUNK = '\u0000';

/** IndexedDB: one object store of path → bytes. Each put is its own atomic transaction. */
export class IdbBackend implements BlobBackend {
  readonly kind = 'indexeddb';
  private seq = 0;
  constructor(private readonly db: IDBPDatabase) {}

  static async open(name = 'pupil-runs'): Promise<IdbBackend> {
    const db = await openDB(name, 1, { upgrade: (d) => void d.createObjectStore('files') });
    return new IdbBackend(db);
  }

  async read(path: string) {
    const tx = this.db.transaction('files');
    const whole = (await tx.store.get(path)) as Uint8Array | undefined;
    const chunks = (await tx.store.getAll(IDBKeyRange.bound(path + CHUNK, path + CHUNK + '\uffff'))) as Uint8Array[];
    if (!chunks.length) return whole;
    return concat(whole ? [whole, ...chunks] : chunks);
  }

  async write(path: string, bytes: Uint8Array) {
    const tx = this.db.transaction('files', 'readwrite');
    await tx.store.delete(IDBKeyRange.bound(path + CHUNK, path + CHUNK + '\uffff'));
    await tx.store.put(bytes.slice(), path);
    await tx.done;
  }

  async append(path: string, bytes: Uint8Array) {
    // Time first so chunks from an earlier page load (seq restarting at 0) still sort before.
    const key = `${path}${CHUNK}${Date.now().toString(36).padStart(10, '0')}-${(this.seq++).toString(36).padStart(6, '0')}`;
    await this.db.put('files', bytes.slice(), key);
  }

  async list(dir: string) {
    const prefix = dir ? dir.replace(/\/+$/, '') + '/' : '';
    const keys = (await this.db.getAllKeys('files', prefix ? IDBKeyRange.bound(prefix, prefix + '\uffff') : undefined)) as string[];
    const names = new Set<string>();
    for (const k of keys) names.add(k.slice(prefix.length).split(/[/\u0000]/)[0]);
    return [...names].sort();
  }

  async remove(path: string) {
    const tx = this.db.transaction('files', 'readwrite');
    await Promise.all([
      tx.store.delete(path),
      tx.store.delete(IDBKeyRange.bound(path + CHUNK, path + CHUNK + '\uffff')),
      tx.store.delete(IDBKeyRange.bound(path + '/', path + '/\uffff')),
    ]);
    await tx.done;
  }
}

/** For tests and for pages without any storage: forgets everything on reload. */
export class MemoryBackend implements BlobBackend {
  readonly kind = 'memory';
  readonly files = new Map<string, Uint8Array>();
  async read(path: string) {
    return this.files.get(path)?.slice();
  }
  async write(path: string, bytes: Uint8Array) {
    this.files.set(path, bytes.slice());
  }
  async append(path: string, bytes: Uint8Array) {
    const old = this.files.get(path);
    this.files.set(path, old ? concat([old, bytes]) : bytes.slice());
  }
  async list(dir: string) {
    const prefix = dir ? dir.replace(/\/+$/, '') + '/' : '';
    const names = new Set<string>();
    for (const k of this.files.keys()) if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split('/')[0]);
    return [...names].sort();
  }
  async remove(path: string) {
    for (const k of [...this.files.keys()]) if (k === path || k.startsWith(path + '/')) this.files.delete(k);
  }
}

/** OPFS when the browser has it with createWritable, else IndexedDB, else memory. */
export async function openBackend(prefer?: BlobBackend['kind']): Promise<BlobBackend> {
  const hasOpfs = typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function'
    && typeof FileSystemFileHandle !== 'undefined' && 'createWritable' in FileSystemFileHandle.prototype;
  if ((prefer === undefined || prefer === 'opfs') && hasOpfs) {
    try {
      return await OpfsBackend.open();
    } catch (e) {
      // Some private modes expose getDirectory but reject it.
      if (prefer === 'opfs') throw e;
    }
  }
  if ((prefer === undefined || prefer === 'indexeddb') && typeof indexedDB !== 'undefined') return IdbBackend.open();
  if (prefer && prefer !== 'memory') throw new Error(`run storage: ${prefer} is not available in this browser`);
  return new MemoryBackend();
}

// ---------------------------------------------------------------------------------------------
// Runs on a backend

const POINTER = 'checkpoint.json';
const META = 'run.json';
const METRICS = 'metrics.jsonl';
const SAFE = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

interface Pointer {
  dir: string;
  files: Record<string, number>;
  savedAt: number;
}

export class BrowserRunStorage implements RunStorage {
  constructor(readonly backend: BlobBackend) {}

  /** The best storage this browser has (see openBackend). */
  static async open(prefer?: BlobBackend['kind']): Promise<BrowserRunStorage> {
    return new BrowserRunStorage(await openBackend(prefer));
  }

  get kind(): BlobBackend['kind'] {
    return this.backend.kind;
  }

  private run(runId: string, ...rest: string[]): string {
    if (!SAFE.test(runId)) throw new Error(`run storage: ${JSON.stringify(runId)} is not a valid run id`);
    return ['runs', runId, ...rest].join('/');
  }

  async saveRun(meta: RunMeta): Promise<void> {
    await explainQuota(() => this.backend.write(this.run(meta.runId, META), json(meta)));
  }

  async loadRun(runId: string): Promise<RunMeta | undefined> {
    const b = await this.backend.read(this.run(runId, META));
    return b ? (parse(b) as RunMeta) : undefined;
  }

  async listRuns(): Promise<RunMeta[]> {
    const out: RunMeta[] = [];
    for (const id of await this.backend.list('runs')) {
      if (!SAFE.test(id)) continue;
      // A run whose meta is unreadable is skipped rather than hiding every other run.
      try {
        const meta = await this.loadRun(id);
        if (meta) out.push(meta);
      } catch {
        /* skipped */
      }
    }
    return out.sort((a, b) => b.created - a.created);
  }

  async deleteRun(runId: string): Promise<void> {
    await this.backend.remove(this.run(runId));
  }

  async appendMetrics(runId: string, rows: readonly MetricRow[]): Promise<void> {
    if (!rows.length) return;
    await explainQuota(() => this.backend.append(this.run(runId, METRICS), jsonl(rows)));
  }

  async truncateMetrics(runId: string, step: number): Promise<void> {
    const rows = (await this.readMetrics(runId)).filter((r) => r.step <= step);
    await explainQuota(() => this.backend.write(this.run(runId, METRICS), jsonl(rows)));
  }

  async readMetrics(runId: string): Promise<MetricRow[]> {
    const b = await this.backend.read(this.run(runId, METRICS));
    if (!b) return [];
    const rows: MetricRow[] = [];
    // A torn last line (a crash mid-append on a backend that allows it) is dropped, not fatal.
    for (const line of new TextDecoder().decode(b).split('\n')) {
      if (!line.trim()) continue;
      try {
        rows.push(JSON.parse(line));
      } catch {
        /* torn */
      }
    }
    return rows;
  }

  async saveCheckpoint(runId: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    for (const name of files.keys()) if (!SAFE.test(name)) throw new Error(`run storage: checkpoint file name ${JSON.stringify(name)} is not a plain file name`);
    const dir = `ckpt-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const sizes: Record<string, number> = {};
    await explainQuota(async () => {
      try {
        for (const [name, bytes] of files) {
          await this.backend.write(this.run(runId, dir, name), bytes);
          sizes[name] = bytes.length;
        }
        const pointer: Pointer = { dir, files: sizes, savedAt: Date.now() };
        await this.backend.write(this.run(runId, POINTER), json(pointer));
      } catch (e) {
        await this.backend.remove(this.run(runId, dir)).catch(() => undefined);
        throw e;
      }
    });
    // The new checkpoint is current; old ones (and orphans of interrupted saves) can go.
    for (const name of await this.backend.list(this.run(runId))) {
      if (name.startsWith('ckpt-') && name !== dir) await this.backend.remove(this.run(runId, name)).catch(() => undefined);
    }
  }

  async loadCheckpoint(runId: string): Promise<Map<string, Uint8Array> | undefined> {
    const p = await this.backend.read(this.run(runId, POINTER));
    if (!p) return undefined;
    const pointer = parse(p) as Pointer;
    const files = new Map<string, Uint8Array>();
    for (const [name, size] of Object.entries(pointer.files)) {
      const bytes = await this.backend.read(this.run(runId, pointer.dir, name));
      if (!bytes) throw new Error(`run storage: checkpoint of run ${runId} lacks ${name} (${pointer.dir})`);
      if (bytes.length !== size) throw new Error(`run storage: checkpoint file ${name} of run ${runId} has ${bytes.length} bytes, expected ${size}`);
      files.set(name, bytes);
    }
    return files;
  }

  async hasCheckpoint(runId: string): Promise<boolean> {
    return (await this.backend.read(this.run(runId, POINTER))) !== undefined;
  }
}

function split(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  if (!parts.length || parts.some((p) => p === '.' || p === '..')) throw new Error(`run storage: bad path ${JSON.stringify(path)}`);
  return parts;
}

function notFound(e: unknown): boolean {
  const name = (e as { name?: string })?.name;
  return name === 'NotFoundError' || name === 'TypeMismatchError';
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function json(x: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(x));
}

function jsonl(rows: readonly unknown[]): Uint8Array {
  return new TextEncoder().encode(rows.map((r) => JSON.stringify(r) + '\n').join(''));
}

function parse(b: Uint8Array): unknown {
  return JSON.parse(new TextDecoder().decode(b));
}
