// A store-only ZIP (no compression) for the browser download of an exported folder: safetensors
// weights hardly compress, and storing keeps the writer small and lets the parts reference the
// file bytes without copying (new Blob(zipParts(files))). Classic ZIP only: no ZIP64, so each
// file and the whole archive stay under 4 GiB, and at most 65535 entries. readZip reads back
// what zipParts writes (and any other store-only archive), checking every CRC.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as ZIP and PNG use it). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const LIMIT = 0xffffffff;
const UTF8_NAMES = 0x0800;

export class ZipError extends Error {
  constructor(message: string) {
    super(`zip: ${message}`);
    this.name = 'ZipError';
  }
}

/** MS-DOS time and date, the only timestamp classic ZIP headers hold (2-second resolution). */
function dosTime(d: Date): { time: number; date: number } {
  const y = Math.min(Math.max(d.getFullYear(), 1980), 2107);
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((y - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

/** The archive as a list of chunks (headers and the files' own bytes, uncopied), in order. */
export function zipParts(files: Iterable<readonly [string, Uint8Array]>, opts: { date?: Date; folder?: string } = {}): Uint8Array[] {
  const { time, date } = dosTime(opts.date ?? new Date());
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  let count = 0;
  const seen = new Set<string>();
  for (const [rawName, data] of files) {
    const name = opts.folder ? `${opts.folder.replace(/\/+$/, '')}/${rawName}` : rawName;
    if (!name || name.startsWith('/') || name.split('/').some((s) => s === '..' || s === '')) throw new ZipError(`${JSON.stringify(name)} is not a relative file name`);
    if (seen.has(name)) throw new ZipError(`${name} is listed twice`);
    seen.add(name);
    if (data.length > LIMIT) throw new ZipError(`${name} is ${data.length} bytes: files over 4 GiB need ZIP64, which this writer does not do (export to a folder, or shard smaller)`);
    if (++count > 0xffff) throw new ZipError('more than 65535 files');
    const nameBytes = enc.encode(name);
    const crc = crc32(data);
    const local = new Uint8Array(30 + nameBytes.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 10, true); // version needed: 1.0, stored
    l.setUint16(6, UTF8_NAMES, true);
    l.setUint16(8, 0, true); // method: stored
    l.setUint16(10, time, true);
    l.setUint16(12, date, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, data.length, true);
    l.setUint32(22, data.length, true);
    l.setUint16(26, nameBytes.length, true);
    local.set(nameBytes, 30);

    const cd = new Uint8Array(46 + nameBytes.length);
    const c = new DataView(cd.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, (3 << 8) | 20, true); // made by: Unix, 2.0 (so the mode below is honoured)
    c.setUint16(6, 10, true);
    c.setUint16(8, UTF8_NAMES, true);
    c.setUint16(12, time, true);
    c.setUint16(14, date, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, data.length, true);
    c.setUint32(24, data.length, true);
    c.setUint16(28, nameBytes.length, true);
    c.setUint32(38, (0o100644 << 16) >>> 0, true); // a regular file, rw-r--r--
    c.setUint32(42, offset, true);
    cd.set(nameBytes, 46);
    central.push(cd);

    parts.push(local, data);
    offset += local.length + data.length;
    if (offset > LIMIT) throw new ZipError('the archive would pass 4 GiB, which needs ZIP64: export to a folder instead');
  }
  const cdSize = central.reduce((a, b) => a + b.length, 0);
  if (offset + cdSize > LIMIT) throw new ZipError('the archive would pass 4 GiB, which needs ZIP64: export to a folder instead');
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, count, true);
  e.setUint16(10, count, true);
  e.setUint32(12, cdSize, true);
  e.setUint32(16, offset, true);
  return [...parts, ...central, end];
}

/** One contiguous archive (for Node, or tests); in a page prefer `new Blob(zipParts(files))`. */
export function zip(files: Iterable<readonly [string, Uint8Array]>, opts: { date?: Date; folder?: string } = {}): Uint8Array {
  const parts = zipParts(files, opts);
  const out = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The files of a store-only archive, CRCs checked; entries are views into `bytes`. */
export function readZip(bytes: Uint8Array): Map<string, Uint8Array> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  // The end record is the last 22 bytes plus a comment of at most 65535 bytes.
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('no end of central directory record: not a ZIP file, or truncated');
  const count = dv.getUint16(eocd + 10, true);
  let at = dv.getUint32(eocd + 16, true);
  const dec = new TextDecoder();
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || dv.getUint32(at, true) !== 0x02014b50) throw new ZipError(`central directory entry ${i} is damaged`);
    const method = dv.getUint16(at + 10, true);
    const crc = dv.getUint32(at + 16, true);
    const size = dv.getUint32(at + 20, true);
    const nameLen = dv.getUint16(at + 28, true);
    const extraLen = dv.getUint16(at + 30, true);
    const commentLen = dv.getUint16(at + 32, true);
    const localAt = dv.getUint32(at + 42, true);
    const name = dec.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    if (method !== 0) throw new ZipError(`${name} is compressed (method ${method}); only stored entries are read`);
    if (localAt + 30 > bytes.length || dv.getUint32(localAt, true) !== 0x04034b50) throw new ZipError(`${name}: local header is damaged`);
    const start = localAt + 30 + dv.getUint16(localAt + 26, true) + dv.getUint16(localAt + 28, true);
    if (start + size > bytes.length) throw new ZipError(`${name}: data runs past the end of the archive`);
    const data = bytes.subarray(start, start + size);
    if (crc32(data) !== crc) throw new ZipError(`${name}: CRC mismatch (damaged archive)`);
    out.set(name, data);
    at += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}
