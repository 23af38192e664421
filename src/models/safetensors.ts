// safetensors, to the spec (https://github.com/huggingface/safetensors#format): an 8-byte
// little-endian u64 N, N bytes of UTF-8 JSON header starting with `{` (right-padded with spaces),
// then the byte buffer. Header: { name: { dtype, shape, data_offsets: [begin, end] }, ...,
// "__metadata__"?: { string: string } }; offsets are relative to the buffer, which the tensors
// must cover exactly (no holes, no overlaps).
//
// Files come from the network and from users, so the reader treats every byte as hostile: sizes are
// checked against the real byte length before anything is allocated from them, the JSON header is
// read by a small strict parser (JSON.parse silently keeps the last of duplicated keys and turns
// big integers into inexact floats), and every failure is a SafetensorsError naming the file, the
// tensor and the problem. Pure TypeScript: no Node or GPU imports, so it runs in pages and workers.

import { f16BitsToF32, f32ToF16Bits } from '../gpu/half.ts';

/** In the library's order of increasing alignment, which is also the writer's sort key. */
const DTYPES = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'C64', 'F64', 'I64', 'U64'] as const;
export type Dtype = (typeof DTYPES)[number];

export const DTYPE_SIZE: Readonly<Record<Dtype, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, C64: 8, F64: 8, I64: 8, U64: 8,
};

/** The reference implementation's limit; real headers are tens of kilobytes. */
export const MAX_HEADER_BYTES = 100_000_000;
const MAX_JSON_DEPTH = 32;

export class SafetensorsError extends Error {
  constructor(
    readonly problem: string,
    readonly file?: string,
    readonly tensor?: string,
  ) {
    super(`${file ?? 'safetensors'}${tensor !== undefined ? `: tensor ${JSON.stringify(tensor)}` : ''}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

export interface TensorInfo {
  dtype: Dtype;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the byte buffer. */
  dataOffsets: [number, number];
}

export interface TensorEntry {
  dtype: Dtype;
  shape: number[];
  /** A view into the file's bytes (not a copy): copy it if the file buffer will be reused. */
  bytes: Uint8Array;
}

export interface SafetensorsHeader {
  /** N, the JSON header's length in bytes. */
  headerLength: number;
  /** 8 + N: where the byte buffer starts in the file. */
  dataOffset: number;
  /** End of the last tensor: the byte buffer's length. */
  dataLength: number;
  /** In file (offset) order. */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
}

export interface Safetensors {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * 8 + N from the first 8 bytes of a file: how many bytes `readSafetensorsHeader` needs. For a
 * streamed or ranged load (sharded Hub checkpoints), fetch these bytes first.
 */
export function safetensorsHeaderSize(first: Uint8Array, file?: string, fileSize?: number): number {
  if (first.length < 8) throw new SafetensorsError(`${first.length} bytes is too short: a safetensors file starts with an 8-byte header length`, file);
  const lo = first[0] | (first[1] << 8) | (first[2] << 16) | (first[3] << 24);
  const hi = first[4] | (first[5] << 8) | (first[6] << 16) | (first[7] << 24);
  if (hi !== 0 || lo >>> 0 > MAX_HEADER_BYTES) {
    const n = BigInt(hi >>> 0) * 2n ** 32n + BigInt(lo >>> 0);
    throw new SafetensorsError(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupted file?)`, file);
  }
  const n = lo >>> 0;
  if (fileSize !== undefined && 8 + n > fileSize) throw new SafetensorsError(`header length ${n} runs past the end of the ${fileSize}-byte file (truncated?)`, file);
  return 8 + n;
}

/**
 * Parses and validates the header from the first 8 + N bytes (more is fine). With `fileSize`,
 * also checks that the tensors cover the whole rest of the file; without it, only that they cover
 * [0, dataLength) with no holes or overlaps.
 */
export function readSafetensorsHeader(bytes: Uint8Array, opts: { file?: string; fileSize?: number } = {}): SafetensorsHeader {
  const { file, fileSize } = opts;
  const start = safetensorsHeaderSize(bytes, file, fileSize);
  if (bytes.length < start) throw new SafetensorsError(`header needs ${start} bytes but only ${bytes.length} were given (truncated?)`, file);
  const n = start - 8;
  if (n === 0 || bytes[8] !== 0x7b) throw new SafetensorsError('header does not start with "{"', file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, start));
  } catch {
    throw new SafetensorsError('header is not valid UTF-8', file);
  }
  let root: Json;
  try {
    root = new StrictJson(text).document();
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new SafetensorsError(`header is not valid JSON: ${e.message}`, file);
    throw e;
  }
  if (!(root instanceof Map)) throw new SafetensorsError('header is not a JSON object', file);

  const metadata: Record<string, string> = Object.create(null);
  const infos: [string, TensorInfo][] = [];
  for (const [name, value] of root) {
    if (name === '__metadata__') {
      if (!(value instanceof Map)) throw new SafetensorsError('__metadata__ must be an object of strings', file);
      for (const [k, v] of value) {
        if (typeof v !== 'string') throw new SafetensorsError(`__metadata__ value of ${JSON.stringify(k)} must be a string`, file);
        metadata[k] = v;
      }
      continue;
    }
    infos.push([name, tensorInfo(value, file, name)]);
  }

  // The spec fixes no order in the header, so coverage is checked in offset order.
  infos.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let end = 0;
  let prev: string | undefined;
  for (const [name, info] of infos) {
    const [b, e] = info.dataOffsets;
    if (b > end) throw new SafetensorsError(`data_offsets [${b}, ${e}] leave a hole: the buffer before byte ${b} is not covered${prev === undefined ? '' : ` (previous tensor ${JSON.stringify(prev)} ends at ${end})`}`, file, name);
    if (b < end) throw new SafetensorsError(`data_offsets [${b}, ${e}] overlap tensor ${JSON.stringify(prev)}, which ends at ${end}`, file, name);
    end = e;
    prev = name;
  }
  if (fileSize !== undefined) {
    const available = fileSize - start;
    if (end > available) throw new SafetensorsError(`tensors need ${end} bytes of data but the file has ${available} after the header (truncated?)`, file, prev);
    if (end < available) throw new SafetensorsError(`${available - end} bytes after the last tensor are not covered by any tensor`, file);
  }
  return { headerLength: n, dataOffset: start, dataLength: end, tensors: new Map(infos), metadata };
}

function tensorInfo(value: Json, file: string | undefined, name: string): TensorInfo {
  const fail = (problem: string): never => {
    throw new SafetensorsError(problem, file, name);
  };
  if (!(value instanceof Map)) return fail('entry must be an object with dtype, shape and data_offsets');
  const dtype = value.get('dtype');
  if (typeof dtype !== 'string') return fail('dtype is missing or not a string');
  if (!(DTYPES as readonly string[]).includes(dtype)) return fail(`unknown dtype ${JSON.stringify(dtype)}`);
  const shapeJson = value.get('shape');
  if (!Array.isArray(shapeJson)) return fail('shape is missing or not an array');
  const shape = shapeJson.map((d, i) => safeInt(d) ?? fail(`shape[${i}] is not a non-negative integer`));
  const offsJson = value.get('data_offsets');
  if (!Array.isArray(offsJson) || offsJson.length !== 2) return fail('data_offsets must be an array [begin, end]');
  const [b, e] = offsJson.map((o, i) => safeInt(o) ?? fail(`data_offsets[${i}] is not a non-negative integer`));
  if (e < b) fail(`data_offsets [${b}, ${e}] end before they begin`);
  // Multiply in doubles but stop once past 2^53: a zero dimension still makes the tensor empty.
  let count = 1;
  if (!shape.includes(0)) {
    for (const d of shape) {
      count *= d;
      if (count > Number.MAX_SAFE_INTEGER) fail(`shape [${shape}] has too many elements`);
    }
  } else count = 0;
  const nbytes = count * DTYPE_SIZE[dtype as Dtype];
  if (nbytes > Number.MAX_SAFE_INTEGER) fail(`shape [${shape}] of ${dtype} is too large`);
  if (e - b !== nbytes) fail(`data_offsets [${b}, ${e}] hold ${e - b} bytes but shape [${shape}] of ${dtype} needs ${nbytes}`);
  return { dtype: dtype as Dtype, shape, dataOffsets: [b, e] };
}

function safeInt(v: Json): number | undefined {
  return typeof v === 'bigint' && v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/** Parses and validates a whole file; tensors are views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array, file?: string): Safetensors {
  const h = readSafetensorsHeader(bytes, { file, fileSize: bytes.length });
  const tensors = new Map<string, TensorEntry>();
  for (const [name, info] of h.tensors) {
    const [b, e] = info.dataOffsets;
    tensors.set(name, { dtype: info.dtype, shape: info.shape, bytes: bytes.subarray(h.dataOffset + b, h.dataOffset + e) });
  }
  return { tensors, metadata: h.metadata };
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** A tensor's values as a new Float32Array (f16/bf16 widened, f64 and integers converted). */
export function toFloat32(entry: TensorEntry, name?: string): Float32Array {
  const { dtype, bytes } = entry;
  const n = bytes.length / DTYPE_SIZE[dtype];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
      else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16BitsToF32(dv.getUint16(2 * i, true));
      return out;
    case 'BF16': {
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return out;
    }
    case 'F64': for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true); return out;
    case 'I64': for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, true)); return out;
    case 'U64': for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(8 * i, true)); return out;
    case 'I32': for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true); return out;
    case 'U32': for (let i = 0; i < n; i++) out[i] = dv.getUint32(4 * i, true); return out;
    case 'I16': for (let i = 0; i < n; i++) out[i] = dv.getInt16(2 * i, true); return out;
    case 'U16': for (let i = 0; i < n; i++) out[i] = dv.getUint16(2 * i, true); return out;
    case 'I8': for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); return out;
    case 'U8': case 'BOOL': out.set(bytes); return out;
    default:
      throw new SafetensorsError(`cannot convert ${dtype} to float32`, undefined, name);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

type NumericArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | readonly number[];

/**
 * What to write for one tensor: `data` is converted to `dtype` (f32 values are rounded to nearest
 * even for F16/BF16; a Uint16Array for F16/BF16 is taken as raw bits; BigInt64Array for I64/U64),
 * or `bytes` are written as they are (little-endian, row-major).
 */
export type WriteTensor =
  | { dtype: Dtype; shape: readonly number[]; data: NumericArray | BigInt64Array | BigUint64Array }
  | { dtype: Dtype; shape: readonly number[]; bytes: Uint8Array };

/** float32 → bfloat16 bits, round to nearest even (as torch does); NaN stays a quiet NaN. */
export function f32ToBf16Bits(value: number): number {
  F32[0] = value;
  const x = U32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * Serialises tensors the way the reference library does, so that the same input gives the same
 * bytes: sorted by decreasing dtype alignment then by name (every tensor starts aligned to its
 * element size, since the header is padded to a multiple of 8), `__metadata__` first, compact JSON.
 */
export function writeSafetensors(
  tensors: ReadonlyMap<string, WriteTensor> | Iterable<readonly [string, WriteTensor]>,
  metadata?: Readonly<Record<string, string>>,
  file?: string,
): Uint8Array {
  const list = [...tensors].map(([name, t]) => [name, t] as const);
  const seen = new Set<string>();
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" is reserved and cannot name a tensor', file);
    if (seen.has(name)) throw new SafetensorsError('listed twice', file, name);
    if (!wellFormed(name)) throw new SafetensorsError('name contains a lone UTF-16 surrogate', file, name);
    seen.add(name);
    if (!(DTYPES as readonly string[]).includes(t.dtype)) throw new SafetensorsError(`unknown dtype ${JSON.stringify(t.dtype)}`, file, name);
    for (const d of t.shape) if (!Number.isSafeInteger(d) || d < 0) throw new SafetensorsError(`shape [${t.shape}] must be non-negative integers`, file, name);
  }
  const rank = (d: Dtype) => DTYPES.indexOf(d);
  list.sort((a, b) => rank(b[1].dtype) - rank(a[1].dtype) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

  const parts: string[] = [];
  if (metadata) {
    const meta: string[] = [];
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`__metadata__ value of ${JSON.stringify(k)} must be a string`, file);
      if (!wellFormed(k) || !wellFormed(v)) throw new SafetensorsError(`__metadata__ entry ${JSON.stringify(k)} contains a lone UTF-16 surrogate`, file);
      meta.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`"__metadata__":{${meta.join(',')}}`);
  }
  let offset = 0;
  const placed: { name: string; t: WriteTensor; at: number; nbytes: number }[] = [];
  for (const [name, t] of list) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    const nbytes = count * DTYPE_SIZE[t.dtype];
    const given = 'bytes' in t ? t.bytes.length : t.data.length;
    const expected = 'bytes' in t ? nbytes : count;
    if (given !== expected) throw new SafetensorsError(`shape [${t.shape}] of ${t.dtype} needs ${expected} ${'bytes' in t ? 'bytes' : 'values'}, got ${given}`, file, name);
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + nbytes}]}`);
    placed.push({ name, t, at: offset, nbytes });
    offset += nbytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  if (n > MAX_HEADER_BYTES) throw new SafetensorsError(`header would be ${n} bytes, over the ${MAX_HEADER_BYTES}-byte limit`, file);
  const out = new Uint8Array(8 + n + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, n, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  for (const { name, t, at, nbytes } of placed) {
    const base = 8 + n + at;
    if ('bytes' in t) out.set(t.bytes, base);
    else encode(t.dtype, t.data, new DataView(out.buffer, base, nbytes), file, name);
  }
  return out;
}

function encode(dtype: Dtype, data: NumericArray | BigInt64Array | BigUint64Array, dv: DataView, file: string | undefined, name: string): void {
  const n = data.length;
  const num = (i: number): number => {
    const x = data[i];
    return typeof x === 'bigint' ? Number(x) : x;
  };
  const int = (i: number, lo: number, hi: number): number => {
    const x = num(i);
    if (!Number.isInteger(x) || x < lo || x > hi) throw new SafetensorsError(`value ${x} at index ${i} does not fit ${dtype}`, file, name);
    return x;
  };
  const bigAt = (i: number): bigint => {
    const x = data[i];
    if (typeof x === 'bigint') return x;
    if (!Number.isSafeInteger(x)) throw new SafetensorsError(`value ${x} at index ${i} is not an exact integer for ${dtype}`, file, name);
    return BigInt(x);
  };
  switch (dtype) {
    case 'F32':
      if (data instanceof Float32Array && LITTLE_ENDIAN) new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      else for (let i = 0; i < n; i++) dv.setFloat32(4 * i, num(i), true);
      return;
    case 'F16': case 'BF16': {
      if (data instanceof Uint16Array) {
        for (let i = 0; i < n; i++) dv.setUint16(2 * i, data[i], true);
        return;
      }
      const conv = dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < n; i++) dv.setUint16(2 * i, conv(num(i)), true);
      return;
    }
    case 'F64': for (let i = 0; i < n; i++) dv.setFloat64(8 * i, num(i), true); return;
    case 'I64': for (let i = 0; i < n; i++) dv.setBigInt64(8 * i, BigInt.asIntN(64, bigAt(i)), true); return;
    case 'U64': for (let i = 0; i < n; i++) dv.setBigUint64(8 * i, BigInt.asUintN(64, bigAt(i)), true); return;
    case 'I32': for (let i = 0; i < n; i++) dv.setInt32(4 * i, int(i, -(2 ** 31), 2 ** 31 - 1), true); return;
    case 'U32': for (let i = 0; i < n; i++) dv.setUint32(4 * i, int(i, 0, 2 ** 32 - 1), true); return;
    case 'I16': for (let i = 0; i < n; i++) dv.setInt16(2 * i, int(i, -32768, 32767), true); return;
    case 'U16': for (let i = 0; i < n; i++) dv.setUint16(2 * i, int(i, 0, 65535), true); return;
    case 'I8': for (let i = 0; i < n; i++) dv.setInt8(i, int(i, -128, 127)); return;
    case 'U8': for (let i = 0; i < n; i++) dv.setUint8(i, int(i, 0, 255)); return;
    case 'BOOL': for (let i = 0; i < n; i++) dv.setUint8(i, int(i, 0, 1)); return;
    default:
      throw new SafetensorsError(`${dtype} can only be written from raw bytes`, file, name);
  }
}

function wellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// A strict JSON parser: objects become Maps (duplicate keys are errors, and "__proto__" is just a
// key), integer literals become bigints (exact, so 2^64 offsets are caught rather than rounded),
// other numbers doubles; nesting is bounded so a hostile header cannot overflow the stack.

type Json = null | boolean | number | bigint | string | Json[] | Map<string, Json>;

class JsonSyntaxError extends Error {}

const ESCAPES = new Map([['"', '"'], ['\\', '\\'], ['/', '/'], ['b', '\b'], ['f', '\f'], ['n', '\n'], ['r', '\r'], ['t', '\t']]);

class StrictJson {
  private i = 0;
  constructor(private readonly s: string) {}

  document(): Json {
    const v = this.value(0);
    this.ws();
    if (this.i < this.s.length) this.fail('unexpected text after the top-level value');
    return v;
  }

  private fail(what: string): never {
    throw new JsonSyntaxError(`${what} at character ${this.i}`);
  }

  private ws(): void {
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) this.i++;
      else break;
    }
  }

  private value(depth: number): Json {
    if (depth > MAX_JSON_DEPTH) this.fail(`nesting deeper than ${MAX_JSON_DEPTH}`);
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object(depth);
    if (c === '[') return this.array(depth);
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
  }

  private object(depth: number): Map<string, Json> {
    const out = new Map<string, Json>();
    this.i++;
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a string key');
      const key = this.string();
      if (out.has(key)) this.fail(`duplicate key ${JSON.stringify(key)}`);
      this.ws();
      if (this.s[this.i] !== ':') this.fail('expected ":"');
      this.i++;
      out.set(key, this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected "," or "}"');
    }
  }

  private array(depth: number): Json[] {
    const out: Json[] = [];
    this.i++;
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected "," or "]"');
    }
  }

  private string(): string {
    const s = this.s;
    this.i++;
    let out = '';
    let run = this.i;
    for (;;) {
      if (this.i >= s.length) this.fail('unterminated string');
      const c = s.charCodeAt(this.i);
      if (c === 0x22) {
        out += s.slice(run, this.i++);
        return out;
      }
      if (c < 0x20) this.fail('control character in a string');
      if (c !== 0x5c) {
        this.i++;
        continue;
      }
      out += s.slice(run, this.i);
      const e = s[this.i + 1];
      this.i += 2;
      const simple = e === undefined ? undefined : ESCAPES.get(e);
      if (simple !== undefined) out += simple;
      else if (e === 'u') {
        const unit = this.hex4();
        if (unit >= 0xd800 && unit <= 0xdbff && s[this.i] === '\\' && s[this.i + 1] === 'u') {
          this.i += 2;
          const low = this.hex4();
          if (low < 0xdc00 || low > 0xdfff) this.fail('invalid surrogate pair escape');
          out += String.fromCharCode(unit, low);
        } else if (unit >= 0xd800 && unit <= 0xdfff) this.fail('lone surrogate escape');
        else out += String.fromCharCode(unit);
      } else this.fail('invalid escape');
      run = this.i;
    }
  }

  private hex4(): number {
    const h = this.s.slice(this.i, this.i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('invalid \\u escape');
    this.i += 4;
    return parseInt(h, 16);
  }

  private number(): number | bigint {
    const m = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    m.lastIndex = this.i;
    const r = m.exec(this.s);
    if (!r) return this.fail('invalid number');
    this.i = m.lastIndex;
    if (r[1] === undefined && r[2] === undefined) {
      // Offsets past 2^53 are rejected later; bounding the literal keeps BigInt() cheap.
      if (r[0].length > 40) return Infinity;
      return BigInt(r[0]);
    }
    return Number(r[0]);
  }
}
