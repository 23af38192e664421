// Checkpoint folders on disk (Node only). A save never damages the last good checkpoint: files go
// to a fresh sibling `<dir>.partial-*` folder and are fsynced, then the old folder is renamed to
// `<dir>.previous`, the new one renamed into place, and only then is `.previous` deleted. A crash
// at any point leaves either `<dir>` complete or `<dir>.previous` complete, and
// loadCheckpointDir falls back to `.previous` when `<dir>` is missing.

import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from './checkpoint.ts';

export type WriteFileFn = (path: string, bytes: Uint8Array) => Promise<void>;

/** Writes and fsyncs one new file. */
export async function durableWriteFile(path: string, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'wx');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(path: string): Promise<void> {
  // Makes the renames durable on POSIX; some platforms cannot open a directory, which is fine.
  try {
    const fh = await open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Atomically replaces the checkpoint folder `dir` with `files` (name → bytes, flat).
 * `writeFile` is replaceable so tests can inject a failure in the middle of a save.
 */
export async function saveCheckpointDir(dir: string, files: ReadonlyMap<string, Uint8Array>, opts: { writeFile?: WriteFileFn } = {}): Promise<void> {
  for (const name of files.keys()) if (!SAFE_NAME.test(name)) throw new CheckpointError(`file name ${JSON.stringify(name)} is not a plain file name`);
  const writeFile = opts.writeFile ?? durableWriteFile;
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `${basename(dir)}.partial-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`);
  const previous = `${dir}.previous`;
  await mkdir(tmp);
  try {
    for (const [name, bytes] of files) await writeFile(join(tmp, name), bytes);
    await syncDir(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw e;
  }
  // `dir` only ever appears by renaming a complete folder, so if it exists it is good and becomes
  // the fallback; if it does not (an earlier save died between the renames), `.previous` already is.
  if (await exists(dir)) {
    await rm(previous, { recursive: true, force: true });
    await rename(dir, previous);
  }
  await rename(tmp, dir);
  await syncDir(parent);
  await rm(previous, { recursive: true, force: true });
}

/** Reads the files of the checkpoint at `dir`, or of `<dir>.previous` if a save was interrupted. */
export async function loadCheckpointDir(dir: string): Promise<Map<string, Uint8Array>> {
  const previous = `${dir}.previous`;
  const from = (await exists(dir)) ? dir : (await exists(previous)) ? previous : undefined;
  if (!from) throw new CheckpointError(`no checkpoint at ${dir}`);
  const files = new Map<string, Uint8Array>();
  for (const entry of await readdir(from, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const b = await readFile(join(from, entry.name));
    files.set(entry.name, new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  }
  return files;
}
