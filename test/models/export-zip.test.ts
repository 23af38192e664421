// The store-only ZIP of an export: CRC-32 against its check value, a round trip through readZip,
// and an independent reader (Python's zipfile, or Info-ZIP's unzip) accepting the archive.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportHuggingFace } from '../../src/models/export.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { crc32, readZip, zip, zipParts } from '../../src/models/zip.ts';
import { makeFixture } from '../fixtures/hub/make-fixtures.ts';

function tool(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

describe('zip', () => {
  it('CRC-32 check values', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const a = new TextEncoder().encode('hello, '), b = new TextEncoder().encode('world');
    expect(crc32(b, crc32(a))).toBe(crc32(new TextEncoder().encode('hello, world')));
  });

  it('an exported model round-trips, and an independent reader accepts the archive', async () => {
    const fx = makeFixture('gpt2');
    const files = exportHuggingFace({ config: parseConfig(fx.hf).config, weights: fx.weights, tokenizerFiles: { 'tokenizer.json': '{}', 'notes/é.txt': 'ü' } });
    const bytes = zip(files, { folder: 'tiny-gpt2', date: new Date(2024, 4, 17, 12, 30, 10) });
    const back = readZip(bytes);
    expect([...back.keys()]).toEqual([...files.keys()].map((f) => `tiny-gpt2/${f}`));
    for (const [f, b] of files) expect(back.get(`tiny-gpt2/${f}`)).toEqual(b);
    expect(zipParts(files, { folder: 'tiny-gpt2', date: new Date(2024, 4, 17, 12, 30, 10) }).reduce((a, p) => a + p.length, 0)).toBe(bytes.length);

    const dir = await mkdtemp(join(tmpdir(), 'pupil-zip-'));
    try {
      const path = join(dir, 'model.zip');
      await writeFile(path, bytes);
      const py = tool('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print("\\n".join(i.filename + " " + str(i.date_time) for i in z.infolist()))', path]);
      const listing = py ?? tool('unzip', ['-tq', path]);
      if (listing === undefined) return; // no independent reader on this machine
      if (py) {
        expect(py).toContain('tiny-gpt2/model.safetensors (2024, 5, 17, 12, 30, 10)');
        expect(py).toContain('tiny-gpt2/notes/é.txt');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses unsafe names and detects damage', () => {
    expect(() => zip([['../x', new Uint8Array(1)]])).toThrow(/not a relative file name/);
    expect(() => zip([['a', new Uint8Array(1)], ['a', new Uint8Array(1)]])).toThrow(/listed twice/);
    const bytes = zip([['a.txt', new TextEncoder().encode('payload')]]);
    bytes[30 + 5 + 2] ^= 1; // local header, the name "a.txt", then the stored data
    expect(() => readZip(bytes)).toThrow('zip: a.txt: CRC mismatch (damaged archive)');
    expect(() => readZip(bytes.subarray(0, 20))).toThrow(/no end of central directory/);
  });
});
