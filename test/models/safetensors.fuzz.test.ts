// Thousands of mutated files from valid seeds: each must either parse into something that honours
// every invariant of the format, or throw a SafetensorsError. Any other exception (RangeError from
// a huge allocation, TypeError, stack overflow) or a slow parse fails the test.
import { describe, expect, it } from 'vitest';
import { DTYPE_SIZE, parseSafetensors, SafetensorsError, toFloat32, writeSafetensors, type WriteTensor } from '../../src/models/safetensors.ts';
import { mulberry32 } from '../../src/data/batch.ts';

const CASES = 3000;
const rand = mulberry32(0x5afe);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

function seeds(): Uint8Array[] {
  const f = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);
  return [
    writeSafetensors(new Map<string, WriteTensor>([
      ['model.embed_tokens.weight', { dtype: 'F32', shape: [4, 3], data: f(12) }],
      ['model.norm.weight', { dtype: 'BF16', shape: [3], data: f(3) }],
      ['lm_head.bias', { dtype: 'F16', shape: [4], data: f(4) }],
      ['ids', { dtype: 'I64', shape: [2], data: [1, 2] }],
      ['mask', { dtype: 'BOOL', shape: [3], data: [1, 0, 1] }],
      ['empty', { dtype: 'F32', shape: [0, 5], data: [] }],
    ]), { format: 'pt', note: 'ü' }),
    writeSafetensors(new Map([['w', { dtype: 'F32', shape: [2], data: f(2) }]])),
    writeSafetensors(new Map(), { only: 'metadata' }),
    writeSafetensors(new Map<string, WriteTensor>([
      ['a', { dtype: 'U8', shape: [], data: [3] }],
      ['b', { dtype: 'I32', shape: [1, 1, 2], data: [-1, 7] }],
      ['c', { dtype: 'F64', shape: [1], data: [1.5] }],
    ])),
  ];
}

const headerEnd = (b: Uint8Array) => Math.min(b.length, 8 + (b[0] | (b[1] << 8) | (b[2] << 16)));
const text = (b: Uint8Array) => new TextDecoder().decode(b.subarray(8, headerEnd(b)));

/** Rebuilds a file with a new header text (padded) and the same data. */
function withHeader(b: Uint8Array, header: string, pad = true): Uint8Array {
  const h = new TextEncoder().encode(header);
  const n = pad ? Math.ceil(h.length / 8) * 8 : h.length;
  const data = b.subarray(headerEnd(b));
  const out = new Uint8Array(8 + n + data.length).fill(0x20);
  new DataView(out.buffer).setUint32(0, n, true);
  out.set(h, 8);
  out.set(data, 8 + n);
  return out;
}

const NUMBERS = ['0', '1', '4', '7', '-1', '1.5', '1e3', '4294967296', '9007199254740993', '18446744073709551616', '99999999999999999999999999999999999999999999', '-0', '00', '2e308'];
const DTYPE_NAMES = ['F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F64', 'I32', 'F8_E4M3', 'C64', 'f32', 'X', ''];

const mutations: ((b: Uint8Array) => Uint8Array)[] = [
  (b) => { // flip bytes anywhere
    const o = b.slice();
    for (let k = 1 + int(4); k > 0; k--) o[int(o.length)] ^= 1 << int(8);
    return o;
  },
  (b) => { // random byte in the header
    const o = b.slice();
    o[8 + int(headerEnd(b) - 8)] = int(256);
    return o;
  },
  (b) => b.slice(0, int(b.length)), // truncate
  (b) => { // append
    const o = new Uint8Array(b.length + 1 + int(16));
    o.set(b);
    return o;
  },
  (b) => { // header length: nearby, random u32, or a huge u64
    if (b.length < 8) return b;
    const o = b.slice();
    const dv = new DataView(o.buffer);
    const r = int(3);
    if (r === 0) dv.setUint32(0, Math.max(0, dv.getUint32(0, true) + int(17) - 8), true);
    else if (r === 1) dv.setUint32(0, int(2 ** 32), true);
    else dv.setUint32(4, 1 + int(2 ** 32 - 1), true);
    return o;
  },
  (b) => { // edit one number in the header
    const h = text(b);
    const spans = [...h.matchAll(/\d+/g)];
    if (!spans.length) return b;
    const m = pick(spans);
    return withHeader(b, h.slice(0, m.index) + pick(NUMBERS) + h.slice(m.index! + m[0].length), rand() < 0.8);
  },
  (b) => { // duplicate an entry or a metadata key
    const h = text(b).trimEnd();
    const m = pick([...h.matchAll(/"[^"]+":\{[^{}]*\}/g)]);
    if (!m) return b;
    return withHeader(b, h.slice(0, -1) + ',' + m[0] + '}');
  },
  (b) => withHeader(b, pick(['', '{', '}', '[]', '{}', 'null', '"x"', '{"a":1}', '{"a":{}}', '\u0000{}', '{"a":[' + '['.repeat(5000), 'not json at all', '{"__metadata__":null}'])),
  (b) => { // huge shapes
    const h = text(b);
    return withHeader(b, h.replace(/"shape":\[[^\]]*\]/, `"shape":[${pick(['4294967296,4294967296', '9007199254740991', '1000000000000', '0', '2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2'])}]`));
  },
  (b) => { // swap a dtype
    const h = text(b);
    const m = pick([...h.matchAll(/"dtype":"([^"]*)"/g)]);
    if (!m) return b;
    return withHeader(b, h.slice(0, m.index) + `"dtype":"${pick(DTYPE_NAMES)}"` + h.slice(m.index! + m[0].length));
  },
  (b) => { // delete or insert a header character
    const h = text(b);
    const i = int(h.length);
    return withHeader(b, rand() < 0.5 ? h.slice(0, i) + h.slice(i + 1) : h.slice(0, i) + pick(['"', ',', ':', '{', '}', '[', ']', '\\', '0', ' ', 'é']) + h.slice(i));
  },
  (b) => { // swap the offsets of two tensors
    const h = text(b);
    const offs = [...h.matchAll(/"data_offsets":\[\d+,\d+\]/g)];
    if (offs.length < 2) return b;
    const [x, y] = [pick(offs), pick(offs)];
    return withHeader(b, h.replace(x[0], '\u0001').replace(y[0], x[0]).replace('\u0001', y[0]));
  },
  (b) => { // move one tensor's offsets, keeping its size: overlaps and holes that pass the size check
    const h = text(b);
    const m = pick([...h.matchAll(/"data_offsets":\[(\d+),(\d+)\]/g)]);
    if (!m) return b;
    const size = Number(m[2]) - Number(m[1]);
    const at = int(b.length - headerEnd(b) + 1);
    return withHeader(b, h.replace(m[0], `"data_offsets":[${at},${at + size}]`));
  },
];

function checkInvariants(bytes: Uint8Array, st: ReturnType<typeof parseSafetensors>): void {
  let total = 0;
  for (const [, t] of st.tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    expect(t.bytes.length).toBe(count * DTYPE_SIZE[t.dtype]);
    expect(t.bytes.buffer).toBe(bytes.buffer);
    expect(t.bytes.byteOffset + t.bytes.length).toBeLessThanOrEqual(bytes.byteOffset + bytes.length);
    total += t.bytes.length;
    if (t.dtype !== 'F8_E4M3' && t.dtype !== 'F8_E5M2' && t.dtype !== 'F8_E8M0' && t.dtype !== 'C64') expect(toFloat32(t).length).toBe(count);
  }
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  expect(8 + n + total).toBe(bytes.length); // covered exactly: no holes, no overlaps
  for (const v of Object.values(st.metadata)) expect(typeof v).toBe('string');
}

describe('safetensors fuzz', () => {
  it(`${CASES} mutated files either parse validly or throw SafetensorsError`, () => {
    const base = seeds();
    const counts = { parsed: 0, rejected: 0 };
    let slowest = 0;
    for (let c = 0; c < CASES; c++) {
      let bytes = pick(base);
      for (let k = 1 + (rand() < 0.3 ? 1 : 0); k > 0; k--) bytes = pick(mutations)(bytes);
      const t0 = performance.now();
      try {
        checkInvariants(bytes, parseSafetensors(bytes, `case-${c}.safetensors`));
        counts.parsed++;
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw new Error(`case ${c}: ${String(e)}\nfile: ${JSON.stringify(text(bytes).slice(0, 300))}`);
        expect(e.message.startsWith(`case-${c}.safetensors: `)).toBe(true);
        counts.rejected++;
      }
      slowest = Math.max(slowest, performance.now() - t0);
    }
    // Both outcomes must be exercised, or the mutations are too weak or too strong to mean much.
    expect(counts.parsed).toBeGreaterThan(CASES / 50);
    expect(counts.rejected).toBeGreaterThan(CASES / 2);
    expect(slowest).toBeLessThan(500);
  }, 20_000);
});
