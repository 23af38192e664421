// Bytes → text → lines, one chunk at a time, so a large file is never held whole as bytes and as
// a string at once.

/** Slices of a string input, so string and stream inputs go through the same line splitter. */
const STRING_SLICE = 1 << 20;

export async function* decodeStream(
  stream: ReadableStream<Uint8Array>,
  onBytes?: (n: number) => void,
): AsyncGenerator<string> {
  // Non-fatal: a stray invalid byte becomes U+FFFD inside one record instead of losing the file.
  // The decoder drops a leading BOM itself and keeps split multi-byte characters across chunks.
  const decoder = new TextDecoder('utf-8');
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      onBytes?.(r.value.byteLength);
      const s = decoder.decode(r.value, { stream: true });
      if (s) yield s;
    }
    done = true;
    const tail = decoder.decode();
    if (tail) yield tail;
  } finally {
    // Reached when the consumer stops early (a `limit`): let the source close its file.
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

export async function* stringChunks(text: string): AsyncGenerator<string> {
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (let i = start; i < text.length; i += STRING_SLICE) yield text.slice(i, i + STRING_SLICE);
}

export interface Line {
  text: string;
  /** 1-based. */
  line: number;
}

/**
 * Lines of LF or CRLF text. A final line without a newline is still a line. Pieces of a long
 * line are joined once, at its end, so a 1 MB line in 1-byte chunks stays linear.
 */
export async function* splitLines(chunks: AsyncIterable<string>): AsyncGenerator<Line> {
  let parts: string[] = [];
  let line = 1;
  for await (const chunk of chunks) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl < 0) break;
      let text = chunk.slice(start, nl);
      if (parts.length > 0) {
        parts.push(text);
        text = parts.join('');
        parts = [];
      }
      yield { text: stripCR(text), line: line++ };
      start = nl + 1;
    }
    if (start < chunk.length) parts.push(start === 0 ? chunk : chunk.slice(start));
  }
  if (parts.length > 0) yield { text: stripCR(parts.join('')), line };
}

function stripCR(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}
