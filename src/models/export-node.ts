// Export to a folder on disk (Node): the files of exportHuggingFace, each written under a
// temporary name and renamed into place, so an interrupted export never leaves a half-written
// model.safetensors that looks complete.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { exportHuggingFace, type ExportInput } from './export.ts';
import { checkFileName } from './hub/sources.ts';

export async function writeFolder(dir: string, files: ReadonlyMap<string, Uint8Array>): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, bytes] of files) {
    checkFileName(name, dir);
    const target = join(dir, name);
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.partial-${randomBytes(4).toString('hex')}`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    written.push(target);
  }
  return written;
}

/** exportHuggingFace into `dir` (created if needed); returns the paths written. */
export async function exportHuggingFaceToFolder(dir: string, input: ExportInput): Promise<string[]> {
  return writeFolder(dir, exportHuggingFace(input));
}
