// Where the distillation panel keeps what a teacher wrote: one IndexedDB record per generated set,
// rewritten as records arrive, so a reload, a crash or a cancelled run loses nothing already
// generated. Pages without IndexedDB (some private modes) keep the sets in memory and say so.
import { openDB, type IDBPDatabase } from 'idb';
import type { SyntheticRecord } from '../distill/self-instruct.ts';

/** An Alpaca record with its provenance, as regenerate.ts and self-instruct.ts write them (plus any extra fields of the source record). */
export interface GeneratedRecord extends SyntheticRecord {
  [field: string]: unknown;
}

export type DistillMode = 'regenerate' | 'self-instruct';

export interface GeneratedSet {
  id: string;
  /** The file name it is downloaded and trained as: `self-instruct-<teacher>-<date>.jsonl`. */
  name: string;
  mode: DistillMode;
  /** The teacher's provenance name (e.g. "openai:http://…/v1 model=qwen2.5"). */
  teacher: string;
  created: number;
  updated: number;
  records: GeneratedRecord[];
  /** How many were asked for. */
  target: number;
  rejected: number;
  /** 'running' while generating; a page closed mid-way leaves 'running', shown as interrupted. */
  status: 'running' | 'done' | 'cancelled' | 'failed';
  /** The set the studio trains on (the last one "used as training set"). */
  used?: boolean;
}

export interface DistillStore {
  readonly kind: 'indexeddb' | 'memory';
  /** Newest first. */
  list(): Promise<GeneratedSet[]>;
  save(set: GeneratedSet): Promise<void>;
  remove(id: string): Promise<void>;
}

class IdbStore implements DistillStore {
  readonly kind = 'indexeddb';
  constructor(private readonly db: IDBPDatabase) {}
  async list() {
    return ((await this.db.getAll('sets')) as GeneratedSet[]).sort((a, b) => b.created - a.created);
  }
  async save(set: GeneratedSet) {
    await this.db.put('sets', set);
  }
  async remove(id: string) {
    await this.db.delete('sets', id);
  }
}

class MemoryStore implements DistillStore {
  readonly kind = 'memory';
  private readonly sets = new Map<string, GeneratedSet>();
  async list() {
    return [...this.sets.values()].map((s) => structuredClone(s)).sort((a, b) => b.created - a.created);
  }
  async save(set: GeneratedSet) {
    this.sets.set(set.id, structuredClone(set));
  }
  async remove(id: string) {
    this.sets.delete(id);
  }
}

/** IndexedDB database `pupil-distill` (`name` for tests), or memory where there is none. */
export async function openDistillStore(name = 'pupil-distill'): Promise<DistillStore> {
  if (typeof indexedDB === 'undefined') return new MemoryStore();
  try {
    return new IdbStore(await openDB(name, 1, { upgrade: (d) => void d.createObjectStore('sets', { keyPath: 'id' }) }));
  } catch {
    return new MemoryStore();
  }
}

/** One JSON object per line, in the Alpaca format `loadDataset` reads back. */
export function toJsonl(records: readonly GeneratedRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : '');
}

/** `self-instruct-qwen2.5-7b-20250101-1200.jsonl`: mode, a short teacher name, the local time. */
export function setFileName(mode: DistillMode, teacherShort: string, when = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const date = `${when.getFullYear()}${p(when.getMonth() + 1)}${p(when.getDate())}-${p(when.getHours())}${p(when.getMinutes())}`;
  const slug = teacherShort.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'teacher';
  return `${mode === 'regenerate' ? 'regenerated' : 'self-instruct'}-${slug}-${date}.jsonl`;
}
