// Where the bytes come from. Text formats read a stream once; Parquet needs random access
// (its index is at the end), which a Blob or a file gives cheaply and a stream only by buffering.
import type { AsyncBuffer } from 'hyparquet';

export interface ByteSource {
  name?: string;
  size?: number;
  /** The first `n` bytes (fewer at the end of the data), without consuming them. */
  head(n: number): Promise<Uint8Array>;
  /** The whole content, once. */
  stream(): ReadableStream<Uint8Array>;
  random(): Promise<AsyncBuffer>;
  close?(): Promise<void>;
}

export function blobSource(blob: Blob): ByteSource {
  const name = (blob as Partial<File>).name;
  return {
    name: typeof name === 'string' && name ? name : undefined,
    size: blob.size,
    head: async (n) => new Uint8Array(await blob.slice(0, n).arrayBuffer()),
    stream: () => blob.stream() as ReadableStream<Uint8Array>,
    random: async () => ({ byteLength: blob.size, slice: (s, e) => blob.slice(s, e).arrayBuffer() }),
  };
}

/** A one-shot stream made peekable: chunks read for `head` are replayed by `stream`. */
export function streamSource(input: ReadableStream<Uint8Array>): ByteSource {
  const reader = input.getReader();
  const buffered: Uint8Array[] = [];
  let bufferedBytes = 0;
  let ended = false;
  let taken = false;

  const take = (): void => {
    if (taken) throw new Error('the stream has already been read');
    taken = true;
  };

  return {
    async head(n) {
      while (bufferedBytes < n && !ended) {
        const r = await reader.read();
        if (r.done) ended = true;
        else {
          buffered.push(r.value);
          bufferedBytes += r.value.byteLength;
        }
      }
      return concat(buffered, Math.min(n, bufferedBytes));
    },
    stream() {
      take();
      return new ReadableStream<Uint8Array>({
        async pull(ctrl) {
          const next = buffered.shift();
          if (next) return ctrl.enqueue(next);
          if (ended) return ctrl.close();
          const r = await reader.read();
          if (r.done) ctrl.close();
          else ctrl.enqueue(r.value);
        },
        cancel: (why) => reader.cancel(why),
      });
    },
    async random() {
      take();
      while (!ended) {
        const r = await reader.read();
        if (r.done) ended = true;
        else buffered.push(r.value);
      }
      const total = buffered.reduce((a, b) => a + b.byteLength, 0);
      const all = concat(buffered, total);
      buffered.length = 0;
      return { byteLength: all.byteLength, slice: (s, e) => all.slice(s, e).buffer };
    },
    close: () => reader.cancel().catch(() => undefined),
  };
}

function concat(chunks: Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    if (at >= n) break;
    const part = c.subarray(0, n - at);
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
