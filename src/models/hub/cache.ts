// Where downloaded model files are kept so the second load needs no network. Keys are built by
// the loader from endpoint, repo, revision and file. The loader only calls `put` with a complete,
// verified file, and every implementation makes `put` all-or-nothing, so an interrupted download
// can never leave a partial file that a later (offline) load would trust.
//
// The Node folder cache lives in cache-node.ts so that browser bundles never see `node:fs`.

export interface FileCache {
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores the whole file or nothing. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<void>;
}

/** `endpoint|repo|revision|file`: distinct endpoints (mirrors, test servers) never share entries. */
export function cacheKey(endpoint: string, repo: string, revision: string, file: string): string {
  return [endpoint.replace(/\/+$/, ''), repo, revision, file].join('|');
}

export class MemoryCache implements FileCache {
  readonly entries = new Map<string, Uint8Array>();
  async get(key: string) {
    return this.entries.get(key);
  }
  async put(key: string, bytes: Uint8Array) {
    this.entries.set(key, bytes.slice());
  }
  async delete(key: string) {
    this.entries.delete(key);
  }
}

// The Cache API keys by Request, so each key becomes a synthetic same-origin-looking URL.
const CACHE_URL = 'https://pupil.cache/';

/** The browser's Cache API (pages and workers). A `cache.put` is atomic per entry. */
export class BrowserCache implements FileCache {
  private cache?: Promise<Cache>;
  constructor(readonly name = 'pupil-hub-v1') {}

  private open(): Promise<Cache> {
    return (this.cache ??= caches.open(this.name));
  }
  private url(key: string): string {
    return CACHE_URL + encodeURIComponent(key);
  }
  async get(key: string) {
    const res = await (await this.open()).match(this.url(key));
    return res ? new Uint8Array(await res.arrayBuffer()) : undefined;
  }
  async put(key: string, bytes: Uint8Array) {
    const body = new Blob([bytes as Uint8Array<ArrayBuffer>]);
    await (await this.open()).put(this.url(key), new Response(body, { headers: { 'content-length': String(bytes.length) } }));
  }
  async delete(key: string) {
    await (await this.open()).delete(this.url(key));
  }
}

/**
 * The Origin Private File System: one flat directory, file names from the encoded key. A
 * FileSystemWritableFileStream writes to a swap file and replaces the target only on close(), so
 * an interrupted put leaves the previous state.
 */
export class OpfsCache implements FileCache {
  private dir?: Promise<FileSystemDirectoryHandle>;
  constructor(readonly name = 'pupil-hub-v1') {}

  private open(): Promise<FileSystemDirectoryHandle> {
    return (this.dir ??= navigator.storage.getDirectory().then((root) => root.getDirectoryHandle(this.name, { create: true })));
  }
  async get(key: string) {
    try {
      const handle = await (await this.open()).getFileHandle(fileName(key));
      return new Uint8Array(await (await handle.getFile()).arrayBuffer());
    } catch (e) {
      if ((e as DOMException)?.name === 'NotFoundError') return undefined;
      throw e;
    }
  }
  async put(key: string, bytes: Uint8Array) {
    const handle = await (await this.open()).getFileHandle(fileName(key), { create: true });
    const w = await handle.createWritable();
    try {
      await w.write(bytes as Uint8Array<ArrayBuffer>);
      await w.close();
    } catch (e) {
      await w.abort().catch(() => undefined);
      throw e;
    }
  }
  async delete(key: string) {
    try {
      await (await this.open()).removeEntry(fileName(key));
    } catch (e) {
      if ((e as DOMException)?.name !== 'NotFoundError') throw e;
    }
  }
}

/** A reversible, file-name-safe spelling of a key (also used by the Node folder cache). */
export function fileName(key: string): string {
  return encodeURIComponent(key).replace(/\*/g, '%2A').replace(/^\./, '%2E');
}

/** OPFS where the page has it (large files, no quota prompt), else the Cache API, else memory. */
export function defaultBrowserCache(): FileCache {
  if (typeof navigator !== 'undefined' && typeof navigator.storage?.getDirectory === 'function') return new OpfsCache();
  if (typeof caches !== 'undefined') return new BrowserCache();
  return new MemoryCache();
}
