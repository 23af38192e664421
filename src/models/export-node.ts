// Export to a folder on disk (Node): the files of exportHuggingFace, each written under a
// temporary name and renamed into place, so an interrupted export never leaves a half-written
// model.safetensors that looks complete.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { exportHuggingFace, type ExportInput } from './export.ts';
import { checkFileName } from './hub/sources.ts';
import { writeFileAtomic } from './write-atomic-node.ts';

export async function writeFolder(dir: string, files: ReadonlyMap<string, Uint8Array>): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, bytes] of files) {
    checkFileName(name, dir);
    const target = join(dir, name);
    await writeFileAtomic(target, bytes);
    written.push(target);
  }
  return written;
}

/** exportHuggingFace into `dir` (created if needed); returns the paths written. */
export async function exportHuggingFaceToFolder(dir: string, input: ExportInput): Promise<string[]> {
  return writeFolder(dir, exportHuggingFace(input));
}
