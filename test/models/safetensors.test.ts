import { describe, expect, it } from 'vitest';
import {
  DTYPE_SIZE,
  f32ToBf16Bits,
  parseSafetensors,
  readSafetensorsHeader,
  SafetensorsError,
  safetensorsHeaderSize,
  toFloat32,
  writeSafetensors,
  type WriteTensor,
} from '../../src/models/safetensors.ts';
import { f16BitsToF32 } from '../../src/gpu/half.ts';
import { mulberry32 } from '../../src/data/batch.ts';

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const u64le = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24, 0, 0, 0, 0];

/** A file from a header string (padded with spaces) and data bytes; `n` overrides the length field. */
function file(header: string, data: number[] = [], n?: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  const pad = (8 - (h.length % 8)) % 8;
  const bytes = new Uint8Array(8 + h.length + pad + data.length);
  bytes.set(u64le(n ?? h.length + pad));
  bytes.set(h, 8);
  bytes.fill(0x20, 8 + h.length, 8 + h.length + pad);
  bytes.set(data, 8 + h.length + pad);
  return bytes;
}

function rejects(bytes: Uint8Array, pattern: RegExp, name = 'bad.safetensors'): SafetensorsError {
  let err: unknown;
  try {
    parseSafetensors(bytes, name);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SafetensorsError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message.startsWith(name)).toBe(true);
  return err as SafetensorsError;
}

const entry = (name: string, dtype: string, shape: number[], b: number, e: number) =>
  `"${name}":{"dtype":"${dtype}","shape":[${shape}],"data_offsets":[${b},${e}]}`;

describe('safetensors golden files (written by hand from the spec)', () => {
  // The reference library's serialize() of {"attn.0": f32 [1,2,3] = 0..5}: a 64-byte header
  // needing no padding, then the six floats little-endian.
  const golden = new Uint8Array([
    64, 0, 0, 0, 0, 0, 0, 0,
    ...ascii('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'),
    0, 0, 0, 0, /**/ 0, 0, 0x80, 0x3f, /**/ 0, 0, 0, 0x40, /**/ 0, 0, 0x40, 0x40, /**/ 0, 0, 0x80, 0x40, /**/ 0, 0, 0xa0, 0x40,
  ]);

  it('parses a hand-written f32 file and the writer reproduces it byte for byte', () => {
    const st = parseSafetensors(golden);
    expect([...st.tensors.keys()]).toEqual(['attn.0']);
    const t = st.tensors.get('attn.0')!;
    expect(t.dtype).toBe('F32');
    expect(t.shape).toEqual([1, 2, 3]);
    expect([...toFloat32(t)]).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Object.keys(st.metadata)).toEqual([]);
    const written = writeSafetensors(new Map([['attn.0', { dtype: 'F32', shape: [1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) }]]));
    expect([...written]).toEqual([...golden]);
  });

  it('writes empty files exactly as the reference library does', () => {
    expect([...writeSafetensors(new Map())]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, ...ascii('{}      ')]);
    expect([...writeSafetensors(new Map(), { framework: 'pt' })]).toEqual([40, 0, 0, 0, 0, 0, 0, 0, ...ascii('{"__metadata__":{"framework":"pt"}}     ')]);
    expect(parseSafetensors(writeSafetensors(new Map(), { framework: 'pt' })).metadata.framework).toBe('pt');
  });

  it('parses mixed dtypes in any header order, a scalar, an empty tensor and metadata', () => {
    const header =
      '{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},' +
      '"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"c":{"dtype":"BOOL","shape":[2,0],"data_offsets":[12,12]},' +
      '"d":{"dtype":"U8","shape":[],"data_offsets":[12,13]}}';
    expect(header.length).toBe(251); // so 5 spaces of padding make N = 256
    const bytes = new Uint8Array([
      0, 1, 0, 0, 0, 0, 0, 0, // N = 256
      ...ascii(header), 32, 32, 32, 32, 32,
      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // a: I64 -2
      0x80, 0x3f, 0x20, 0xc0, // b: BF16 1.0, -2.5
      7, // d: U8 scalar
    ]);
    const st = parseSafetensors(bytes);
    expect([...st.tensors.keys()]).toEqual(['a', 'b', 'c', 'd']); // offset order
    expect(st.metadata).toEqual({ format: 'pt' });
    expect([...toFloat32(st.tensors.get('a')!)]).toEqual([-2]);
    expect([...toFloat32(st.tensors.get('b')!)]).toEqual([1, -2.5]);
    expect(st.tensors.get('c')!.shape).toEqual([2, 0]);
    expect(st.tensors.get('c')!.bytes.length).toBe(0);
    expect(st.tensors.get('d')!.shape).toEqual([]);
    expect([...toFloat32(st.tensors.get('d')!)]).toEqual([7]);
  });
});

describe('safetensors round trips', () => {
  const rand = mulberry32(7);
  const values = (n: number, scale = 10) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

  it('f32 is exact, tensors are sorted by alignment then name, and data is aligned', () => {
    const tensors = new Map<string, WriteTensor>([
      ['z.weight', { dtype: 'F32', shape: [3, 5], data: values(15) }],
      ['a.ids', { dtype: 'I64', shape: [3], data: BigInt64Array.of(-1n, 2n ** 40n, 3n) }],
      ['b.half', { dtype: 'F16', shape: [3], data: Float32Array.of(1, -0.5, 65504) }],
      ['mask', { dtype: 'BOOL', shape: [2, 2], data: Uint8Array.of(1, 0, 0, 1) }],
      ['a.weight', { dtype: 'F32', shape: [7], data: values(7) }],
      ['counts', { dtype: 'I32', shape: [2], data: [5, -6] }],
      ['d', { dtype: 'F64', shape: [2], data: Float64Array.of(Math.PI, -1e300) }],
    ]);
    const bytes = writeSafetensors(tensors, { format: 'pt', note: 'é ✓ 😀 "q"\n' });
    const h = readSafetensorsHeader(bytes, { fileSize: bytes.length });
    expect(h.dataOffset % 8).toBe(0);
    expect([...h.tensors.keys()]).toEqual(['a.ids', 'd', 'a.weight', 'z.weight', 'counts', 'b.half', 'mask']);
    for (const info of h.tensors.values()) expect((h.dataOffset + info.dataOffsets[0]) % DTYPE_SIZE[info.dtype]).toBe(0);
    const st = parseSafetensors(bytes);
    expect(st.metadata).toEqual({ format: 'pt', note: 'é ✓ 😀 "q"\n' });
    for (const name of ['z.weight', 'a.weight']) expect(toFloat32(st.tensors.get(name)!)).toEqual((tensors.get(name) as { data: Float32Array }).data);
    expect([...toFloat32(st.tensors.get('b.half')!)]).toEqual([1, -0.5, 65504]);
    expect([...toFloat32(st.tensors.get('a.ids')!)]).toEqual([-1, 2 ** 40, 3]);
    expect([...toFloat32(st.tensors.get('counts')!)]).toEqual([5, -6]);
    expect([...toFloat32(st.tensors.get('d')!)]).toEqual([Math.fround(Math.PI), -Infinity]);
    expect([...st.tensors.get('mask')!.bytes]).toEqual([1, 0, 0, 1]);
    expect(st.tensors.get('z.weight')!.shape).toEqual([3, 5]);
  });

  it('f16 rounds to nearest even within half an ulp, with the edge cases', () => {
    const data = values(2000, 100);
    const st = parseSafetensors(writeSafetensors(new Map([['h', { dtype: 'F16', shape: [2000], data }]])));
    const back = toFloat32(st.tensors.get('h')!);
    for (let i = 0; i < data.length; i++) {
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(back[i]))) - 10);
      expect(Math.abs(back[i] - data[i])).toBeLessThanOrEqual(ulp / 2 + 1e-12);
    }
    const edge = Float32Array.of(65504, 65520, 2 ** -24, 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -0, Infinity, NaN);
    const e = toFloat32(parseSafetensors(writeSafetensors(new Map([['e', { dtype: 'F16', shape: [9], data: edge }]]))).tensors.get('e')!);
    // 65520 ties to the even neighbour, which is infinity; 2^-25 ties to 0; 1+2^-11 ties down to 1.
    expect([...e]).toEqual([65504, Infinity, 2 ** -24, 0, 1, 1 + 2 ** -9, -0, Infinity, NaN]);
    expect(Object.is(e[6], -0)).toBe(true);
  });

  it('bf16 rounds to nearest even, keeps NaN, infinities and -0', () => {
    const data = values(2000, 1e6);
    const back = toFloat32(parseSafetensors(writeSafetensors(new Map([['b', { dtype: 'BF16', shape: [40, 50], data }]]))).tensors.get('b')!);
    for (let i = 0; i < data.length; i++) expect(Math.abs(back[i] - data[i])).toBeLessThanOrEqual(Math.abs(data[i]) * 2 ** -8);
    const edge = Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8, -0, Infinity, -Infinity, NaN, 3.3895313892515355e38, 3.4e38);
    const e = toFloat32(parseSafetensors(writeSafetensors(new Map([['e', { dtype: 'BF16', shape: [8], data: edge }]]))).tensors.get('e')!);
    expect([...e]).toEqual([1, 1 + 2 ** -6, -0, Infinity, -Infinity, NaN, 3.3895313892515355e38, Infinity]);
    expect(f32ToBf16Bits(NaN) & 0x7fc0).toBe(0x7fc0);
    // Raw bits pass through untouched.
    const raw = Uint16Array.of(0x3f80, 0xffff, 0x0001);
    const st = parseSafetensors(writeSafetensors(new Map([['r', { dtype: 'BF16', shape: [3], data: raw }]])));
    expect([...new Uint16Array(st.tensors.get('r')!.bytes.slice().buffer)]).toEqual([0x3f80, 0xffff, 0x0001]);
    expect(f16BitsToF32(0x3c00)).toBe(1);
  });

  it('reads a file embedded at an odd offset of a larger buffer', () => {
    const bytes = writeSafetensors(new Map([['w', { dtype: 'F32', shape: [4], data: Float32Array.of(1, 2, 3, 4) }]]));
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 1);
    expect([...toFloat32(parseSafetensors(big.subarray(1, 1 + bytes.length)).tensors.get('w')!)]).toEqual([1, 2, 3, 4]);
  });

  it('reads the header alone from the first bytes (for ranged loads)', () => {
    const bytes = writeSafetensors(new Map([['w', { dtype: 'F32', shape: [1000], data: values(1000) }]]), { format: 'pt' });
    const need = safetensorsHeaderSize(bytes.subarray(0, 8));
    const h = readSafetensorsHeader(bytes.subarray(0, need));
    expect(h.dataOffset).toBe(need);
    expect(h.dataLength).toBe(4000);
    expect(h.tensors.get('w')!.dataOffsets).toEqual([0, 4000]);
    expect(() => readSafetensorsHeader(bytes.subarray(0, need - 1))).toThrow(/needs \d+ bytes/);
    expect(() => readSafetensorsHeader(bytes.subarray(0, need), { fileSize: bytes.length - 1 })).toThrow(/truncated/);
  });

  it('the writer rejects bad input with the tensor named', () => {
    expect(() => writeSafetensors(new Map([['w', { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) }]]), undefined, 'out.safetensors')).toThrow(
      /out\.safetensors: tensor "w": shape \[2,3\] of F32 needs 6 values, got 5/,
    );
    expect(() => writeSafetensors(new Map([['__metadata__', { dtype: 'F32', shape: [0], data: new Float32Array(0) }]]))).toThrow(/reserved/);
    expect(() => writeSafetensors(new Map([['i', { dtype: 'I32', shape: [1], data: [2 ** 31] }]]))).toThrow(/does not fit I32/);
    expect(() => writeSafetensors(new Map([['x', { dtype: 'F8_E4M3', shape: [1], data: [1] }]]))).toThrow(/raw bytes/);
    expect(() => writeSafetensors(new Map([['s', { dtype: 'F32', shape: [-1], data: [] }]]))).toThrow(/non-negative/);
    expect(() => writeSafetensors(new Map([['\ud800', { dtype: 'F32', shape: [0], data: [] }]]))).toThrow(/surrogate/);
  });
});

describe('safetensors rejects corrupted and hostile files', () => {
  const good = file(`{${entry('a', 'F32', [2], 0, 8)},${entry('b', 'F16', [2], 8, 12)}}`, [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0x3c, 0, 0xc0]);

  it('accepts the base case', () => {
    expect([...toFloat32(parseSafetensors(good).tensors.get('b')!)]).toEqual([1, -2]);
  });

  it('rejects bad header lengths without allocating from them', () => {
    rejects(new Uint8Array(5), /5 bytes is too short/);
    const huge = good.slice();
    huge.set([0, 0, 0, 0, 0, 1, 0, 0]); // 2^40
    rejects(huge, /header length 1099511627776 exceeds the 100000000-byte limit/);
    const max = good.slice();
    max.set([255, 255, 255, 255, 255, 255, 255, 255]);
    rejects(max, /header length 18446744073709551615 exceeds/);
    const past = good.slice();
    past.set(u64le(good.length));
    rejects(past, /runs past the end of the \d+-byte file \(truncated\?\)/);
    rejects(file('{}', [], 0), /does not start with "\{"/);
    rejects(file(' {}'), /does not start with "\{"/);
  });

  it('rejects non-JSON, non-objects and invalid UTF-8', () => {
    rejects(file('{"a":'), /not valid JSON: unexpected end/);
    rejects(file('{"a":{}} x'), /not valid JSON: unexpected text/);
    rejects(file('{,}'), /not valid JSON/);
    rejects(file("{'a':1}"), /not valid JSON/);
    rejects(file('{"a":[1,]}'), /not valid JSON/);
    rejects(file('{"a":"\u0001"}'), /control character/);
    rejects(file('{"a":"\\ud800"}'), /lone surrogate/);
    const bad = file('{"ab":1}');
    bad[10] = 0xff;
    rejects(bad, /not valid UTF-8/);
    rejects(file('{' + '"a":['.repeat(1) + '['.repeat(100000) + ']'.repeat(100000) + ']}'), /nesting deeper than 32/);
    const arr = file('[]');
    arr[8] = 0x7b; // '{]' stays invalid JSON even with the right first byte
    rejects(arr, /not valid JSON/);
  });

  it('rejects duplicate keys at every level', () => {
    rejects(file(`{${entry('a', 'F32', [1], 0, 4)},${entry('a', 'F32', [1], 4, 8)}}`, [0, 0, 0, 0, 0, 0, 0, 0]), /duplicate key "a"/);
    rejects(file(`{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, [0, 0, 0, 0]), /duplicate key "dtype"/);
    rejects(file(`{"__metadata__":{"k":"1","k":"2"}}`), /duplicate key "k"/);
    // Escapes do not hide a duplicate.
    rejects(file(`{${entry('a', 'F32', [0], 0, 0)},${entry('\\u0061', 'F32', [0], 0, 0)}}`), /duplicate key "a"/);
  });

  it('rejects bad entries, naming the tensor', () => {
    const e = rejects(file(`{${entry('w', 'F31', [1], 0, 4)}}`, [0, 0, 0, 0]), /tensor "w": unknown dtype "F31"/);
    expect(e.tensor).toBe('w');
    expect(e.file).toBe('bad.safetensors');
    rejects(file(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, [0, 0, 0, 0]), /tensor "w": shape is missing/);
    rejects(file(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, [0, 0, 0, 0]), /shape\[0\] is not a non-negative integer/);
    rejects(file(`{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}`, [0, 0, 0, 0]), /shape\[0\] is not a non-negative integer/);
    rejects(file(`{"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, [0, 0, 0, 0]), /shape\[0\]/);
    rejects(file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, [0, 0, 0, 0]), /data_offsets must be an array \[begin, end\]/);
    rejects(file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, [0, 0, 0, 0]), /end before they begin/);
    rejects(file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551620]}}`), /data_offsets\[1\] is not a non-negative integer/);
    rejects(file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, [0, 0, 0, 0]), /hold 4 bytes but shape \[2\] of F32 needs 8/);
    rejects(file(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}`, [0, 0, 0, 0]), /too many elements/);
    rejects(file(`{"w":{"dtype":"F64","shape":[2251799813685248],"data_offsets":[0,4]}}`, [0, 0, 0, 0]), /shape \[2251799813685248\] of F64 is too large/);
    rejects(file(`{"w":[1,2]}`), /tensor "w": entry must be an object/);
    rejects(file(`{"__metadata__":{"k":1}}`), /__metadata__ value of "k" must be a string/);
    rejects(file(`{"__metadata__":[]}`), /__metadata__ must be an object/);
  });

  it('rejects overlaps, holes, truncation and trailing bytes', () => {
    rejects(file(`{${entry('a', 'F32', [2], 0, 8)},${entry('b', 'F32', [1], 4, 8)}}`, new Array(8).fill(0)), /tensor "b": data_offsets \[4, 8\] overlap tensor "a", which ends at 8/);
    rejects(file(`{${entry('a', 'F32', [1], 0, 4)},${entry('b', 'F32', [1], 8, 12)}}`, new Array(12).fill(0)), /tensor "b": data_offsets \[8, 12\] leave a hole/);
    rejects(file(`{${entry('a', 'F32', [1], 4, 8)}}`, new Array(8).fill(0)), /tensor "a": .*leave a hole/);
    rejects(good.subarray(0, good.length - 1), /tensors need 12 bytes of data but the file has 11 after the header \(truncated\?\)/);
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    rejects(longer, /4 bytes after the last tensor are not covered/);
    // An offset far past the data must not allocate: it fails on size first.
    rejects(file(`{"w":{"dtype":"U8","shape":[1000000000000],"data_offsets":[0,1000000000000]}}`), /truncated/);
  });

  it('treats __proto__ as an ordinary name', () => {
    const st = parseSafetensors(file(`{"__metadata__":{"__proto__":"x"},${entry('__proto__', 'U8', [1], 0, 1)}}`, [9]));
    expect(st.metadata['__proto__']).toBe('x');
    expect(Object.getPrototypeOf(st.metadata)).toBe(null);
    expect([...st.tensors.get('__proto__')!.bytes]).toEqual([9]);
  });

  it('toFloat32 refuses dtypes it cannot convert', () => {
    const st = parseSafetensors(file(`{${entry('q', 'F8_E4M3', [1], 0, 1)}}`, [1]));
    expect(() => toFloat32(st.tensors.get('q')!, 'q')).toThrow(SafetensorsError);
  });
});
