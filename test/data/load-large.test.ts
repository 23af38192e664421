// A large file goes through in chunks: memory grows with what is kept, not with the file.
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/load.ts';

const FILE_BYTES = 50 << 20;
const PAD = 'x'.repeat(4000);

/** ~50 MB of JSONL made on demand; 99 of 100 records are rejected, so little is kept. */
function generated(): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let made = 0;
  let i = 0;
  return new ReadableStream({
    pull(ctrl) {
      if (made >= FILE_BYTES) return ctrl.close();
      let s = '';
      for (let k = 0; k < 16; k++, i++) {
        const rec = i % 100 === 0 ? { instruction: `q${i} é🙂`, output: `a${i}` } : { instruction: PAD, output: ' ' };
        s += JSON.stringify(rec) + '\r\n';
      }
      const b = enc.encode(s);
      made += b.byteLength;
      ctrl.enqueue(b);
    },
  });
}

describe('a 50 MB JSONL stream', () => {
  it('is read in chunks with bounded memory', async () => {
    const before = process.memoryUsage().heapUsed;
    let peak = 0;
    const t0 = performance.now();
    const r = await loadDataset(generated(), {
      name: 'big.jsonl',
      onProgress: () => (peak = Math.max(peak, process.memoryUsage().heapUsed - before)),
    });
    const seconds = (performance.now() - t0) / 1000;
    expect(r.summary.read).toBeGreaterThan(12_000);
    expect(r.summary.kept).toBe(Math.ceil(r.summary.read / 100));
    expect(r.summary.rejected['empty-response']).toBe(r.summary.read - r.summary.kept);
    expect(r.examples.at(-1)?.source.line).toBe(r.summary.read - ((r.summary.read - 1) % 100));
    // Holding the file once as text would alone be 50 MB (100 MB as UTF-16).
    expect(peak).toBeLessThan(FILE_BYTES * 0.6);
    expect(seconds).toBeLessThan(10);
  });
});
