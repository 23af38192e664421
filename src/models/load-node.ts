// loadPretrained for Node: a local folder as a source, the Hub's environment conventions
// (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE) and a cache folder by default. Imported only by Node code.
import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FolderCache } from './hub/cache-node.ts';
import { DEFAULT_ENDPOINT } from './hub/hub.ts';
import { checkFileName, type FileSource } from './hub/sources.ts';
import { loadPretrained, type LoadOptions, type ModelSource, type Pretrained } from './load.ts';

/** `HF_HUB_OFFLINE=1` (also true/yes/on), as huggingface_hub reads it. */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

/** The Hub settings the environment gives; explicit options win over them. */
export function hubOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Pick<LoadOptions, 'endpoint' | 'token' | 'offline'> {
  return {
    endpoint: env.HF_ENDPOINT || DEFAULT_ENDPOINT,
    token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
    offline: envFlag(env.HF_HUB_OFFLINE),
  };
}

export function folderSource(dir: string): FileSource {
  return {
    label: dir,
    async read(file, ro = {}) {
      checkFileName(file, dir);
      let bytes: Uint8Array;
      try {
        const b = await readFile(join(dir, file));
        bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && ro.optional) return undefined;
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${dir}: ${file} is missing`);
        throw e;
      }
      ro.validate?.(bytes, file);
      ro.onProgress?.({ loaded: bytes.length, total: bytes.length, fraction: 1 });
      return bytes;
    },
  };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A string that names an existing folder is loaded from disk; any other string is a Hub repo id
 * (`owner/name` or `owner/name@revision`). Hub loads use a FolderCache unless `cache` is given.
 */
export async function loadPretrainedNode(source: ModelSource, opts: LoadOptions & { cacheDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Pretrained> {
  const { cacheDir, env, ...rest } = opts;
  if (typeof source === 'string' && (await isDirectory(source))) return loadPretrained(folderSource(source), rest);
  const fromEnv = hubOptionsFromEnv(env);
  const merged: LoadOptions = { ...fromEnv, ...stripUndefined(rest) };
  if (merged.cache === undefined) merged.cache = new FolderCache(cacheDir);
  return loadPretrained(source, merged);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
