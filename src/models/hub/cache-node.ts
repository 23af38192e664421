// The Node cache: a folder, one sub-folder per key part (endpoint, repo, revision, file), each part
// escaped so no key can climb out of the root. Files are written under a temporary name and
// renamed into place, which is atomic on one file system: a crash mid-write leaves no entry.
import { readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../write-atomic-node.ts';
import { fileName, type FileCache } from './cache.ts';

/** PUPIL_HUB_CACHE, else $XDG_CACHE_HOME/pupil/hub, else ~/.cache/pupil/hub. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PUPIL_HUB_CACHE) return env.PUPIL_HUB_CACHE;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'pupil', 'hub');
}

export class FolderCache implements FileCache {
  constructor(readonly root: string = defaultCacheDir()) {}

  path(key: string): string {
    return join(this.root, ...key.split('|').map(fileName));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const b = await readFile(this.path(key));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(this.path(key), bytes);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}
