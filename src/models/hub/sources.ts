// Where a model's files come from, behind one interface: the Hub (repo + revision), any URL base
// (a mirror, a static server), files the user picked in the browser, or (load-node.ts) a folder
// on disk. Remote sources go through the cache: a file is served from it when present and valid,
// else downloaded, validated, and only then stored.
import { cacheKey, type FileCache } from './cache.ts';
import { download, type DownloadOptions, type DownloadProgress } from './download.ts';
import { checkRepoId, DEFAULT_ENDPOINT, DEFAULT_REVISION, describe, HubError, HubNotFoundError, hubFileUrl, safeUrl, type HubErrorContext } from './hub.ts';

export interface ReadOptions {
  /** Absent optional files give undefined; absent required ones throw naming the file. */
  optional?: boolean;
  /** Throws if the bytes are not a whole, well-formed file; runs before anything is cached. */
  validate?: (bytes: Uint8Array, file: string) => void;
  onProgress?: (p: DownloadProgress) => void;
}

export interface FileSource {
  /** Names the source in messages: `owner/name@main`, a URL, `picked files`, a folder. */
  readonly label: string;
  read(file: string, opts?: ReadOptions): Promise<Uint8Array | undefined>;
}

export interface RemoteOptions extends Omit<DownloadOptions, 'onProgress' | 'context'> {
  /** Undefined: no cache. */
  cache?: FileCache;
  /** Cache only; a missing file is an error naming it (HF_HUB_OFFLINE in Node). */
  offline?: boolean;
  /** Told when a cache write fails (quota): the load goes on, uncached. */
  onWarning?: (message: string) => void;
}

// File names come from index files, i.e. from the network: `..` or an absolute path would let a
// hostile index address other files on the endpoint (with the token) or outside the cache.
const SAFE_NAME = /^(?!.*(?:^|\/)\.\.?(?:\/|$))[\w.@+-]+(?:\/[\w.@+-]+)*$/;

export function checkFileName(file: string, where: string): void {
  if (!SAFE_NAME.test(file) || file.length > 255) throw new HubError(`${where}: ${JSON.stringify(file)} is not an acceptable file name`, { file });
}

export function hubSource(repo: string, revision = DEFAULT_REVISION, opts: RemoteOptions & { endpoint?: string } = {}): FileSource {
  checkRepoId(repo);
  const loc = { endpoint: (opts.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, ''), repo, revision };
  return remoteSource(`${repo}@${revision}`, (f) => hubFileUrl(loc, f), (f) => cacheKey(loc.endpoint, repo, revision, f), (f) => ({ repo, revision, file: f }), opts);
}

/** `${base}/${file}`: a folder served over HTTP(S). */
export function urlSource(base: string, opts: RemoteOptions = {}): FileSource {
  const root = base.replace(/\/+$/, '');
  return remoteSource(safeUrl(root), (f) => `${root}/${f.split('/').map(encodeURIComponent).join('/')}`, (f) => cacheKey(root, '', '', f), (f) => ({ url: safeUrl(root), file: f }), opts);
}

function remoteSource(
  label: string,
  url: (file: string) => string,
  key: (file: string) => string,
  context: (file: string) => HubErrorContext,
  opts: RemoteOptions,
): FileSource {
  const { cache, offline, onWarning = (m) => console.warn(m), ...dl } = opts;
  return {
    label,
    async read(file, ro = {}) {
      checkFileName(file, label);
      const ctx = context(file);
      const k = key(file);
      const cached = await cache?.get(k);
      if (cached) {
        try {
          ro.validate?.(cached, file);
          ro.onProgress?.({ loaded: cached.length, total: cached.length, fraction: 1 });
          return cached;
        } catch (e) {
          // A file that no longer validates (disk corruption, an older writer) is dropped and refetched.
          await cache!.delete(k);
          if (offline) throw new HubError(`${describe(ctx)}: the cached copy is damaged (${(e as Error).message}) and offline mode forbids downloading it again`, ctx);
        }
      }
      if (offline) {
        if (ro.optional) return undefined;
        throw new HubError(`${describe(ctx)}: not in the cache, and offline mode (HF_HUB_OFFLINE) forbids downloading it`, ctx);
      }
      let bytes: Uint8Array;
      try {
        bytes = await download(url(file), { ...dl, context: ctx, onProgress: ro.onProgress });
      } catch (e) {
        if (e instanceof HubNotFoundError && ro.optional) return undefined;
        throw e;
      }
      ro.validate?.(bytes, file);
      if (cache) {
        try {
          await cache.put(k, bytes);
        } catch (e) {
          onWarning(`${describe(ctx)}: could not be cached (${(e as Error).message}); the next load will download it again`);
        }
      }
      return bytes;
    },
  };
}

/**
 * Files the user picked (an `<input type=file multiple webkitdirectory>` FileList or a drop),
 * matched by base name; with duplicates in sub-folders the shallowest path wins.
 */
export function pickedFilesSource(files: Iterable<File> | ArrayLike<File>): FileSource {
  const byName = new Map<string, { file: File; depth: number }>();
  for (const f of Array.from(files as ArrayLike<File>)) {
    const path = (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
    const depth = path.split('/').length;
    const prev = byName.get(f.name);
    if (!prev || depth < prev.depth) byName.set(f.name, { file: f, depth });
  }
  const label = 'the picked files';
  return {
    label,
    async read(file, ro = {}) {
      const base = file.split('/').pop()!;
      const hit = byName.get(base);
      if (!hit) {
        if (ro.optional) return undefined;
        throw new HubNotFoundError(`${file} is not among ${label} (${[...byName.keys()].sort().join(', ') || 'none'})`, { file });
      }
      const bytes = new Uint8Array(await hit.file.arrayBuffer());
      ro.validate?.(bytes, file);
      ro.onProgress?.({ loaded: bytes.length, total: bytes.length, fraction: 1 });
      return bytes;
    },
  };
}
