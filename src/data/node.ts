// Reading a dataset from a path in Node. Imported only by Node code (CLI, tests, benchmarks):
// it pulls in `node:fs`, which the page and the Worker cannot load.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { loadSource, type LoadOptions, type LoadResult } from './load.ts';
import { DatasetError } from './read/validate.ts';

export async function loadDatasetFile(path: string, opts: LoadOptions = {}): Promise<LoadResult> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new DatasetError(`${path}: cannot open the file (${(e as Error).message})`);
  }
  const { size } = await handle.stat();
  const read = async (start: number, end: number): Promise<ArrayBuffer> => {
    const buf = new Uint8Array(Math.max(0, Math.min(end, size) - start));
    let at = 0;
    while (at < buf.length) {
      const { bytesRead } = await handle.read(buf, at, buf.length - at, start + at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return buf.buffer.slice(0, at);
  };
  return loadSource(
    {
      name: basename(path),
      size,
      head: async (n) => new Uint8Array(await read(0, n)),
      // Large reads: fewer chunks through the decoder and the line splitter.
      stream: () => Readable.toWeb(createReadStream(path, { highWaterMark: 1 << 20 })) as unknown as ReadableStream<Uint8Array>,
      random: async () => ({ byteLength: size, slice: (s, e) => read(s, e ?? size) }),
      close: () => handle.close(),
    },
    opts,
  );
}
