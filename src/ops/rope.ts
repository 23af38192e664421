// Rotary position embedding (Llama's rotate-half convention, as Hugging Face's
// apply_rotary_pos_emb), forward and backward, in place or not.
//   B  batch, T  sequence, H  heads (query or key/value heads: call once per tensor), D  head size
// Positions are explicit per token so packed sequences restart at 0 inside a row.
// Shaders: shaders/rope.wgsl.
import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Param, type Runtime } from '../gpu/runtime.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/rope.wgsl?raw';
import { ceilDiv, expectBindable, expectDType, expectNoAlias, expectPositiveInt, expectRank, expectSameShape, expectShape } from './check.ts';

const WG = 256;
/** Largest head size the uniform's frequency table holds (D/2 pairs, two per vec4). */
export const ROPE_MAX_HEAD_SIZE = 512;

/**
 * Frequencies in turns per position, f_i = base^(-2i/D) / 2π, each split as hi + lo with hi
 * holding 12 significant bits so that (integer below 2^12) · hi is exact in f32 (see rope.wgsl).
 */
export function ropeFrequencies(D: number, base: number): Float32Array {
  const out = new Float32Array(2 * (D / 2));
  for (let i = 0; i < D / 2; i++) {
    const f = Math.pow(base, (-2 * i) / D) / (2 * Math.PI);
    let e = Math.floor(Math.log2(f));
    if (2 ** e > f) e--;
    if (2 ** (e + 1) <= f) e++;
    const scale = 2 ** (11 - e); // f · scale in [2^11, 2^12)
    const hi = Math.round(f * scale) / scale;
    out[2 * i] = hi;
    out[2 * i + 1] = Math.fround(f - hi);
  }
  return out;
}

function rope(rt: Runtime, op: string, sign: 1 | -1, outName: string, inName: string, out: Tensor, inp: Tensor, positions: Tensor, base: number): Dispatch[] {
  expectDType(op, inName, inp, 'f32');
  expectDType(op, outName, out, 'f32');
  expectDType(op, 'positions', positions, 'i32');
  expectRank(op, inName, inp, 4);
  inp.shape.forEach((d, i) => expectPositiveInt(op, `${inName} (${inp.label}) dimension ${i}`, d));
  const [B, T, H, D] = inp.shape;
  if (D % 2 !== 0) throw new OpError(op, `${inName} (${inp.label}) has head size D = ${D}; rotate-half RoPE needs an even D`);
  if (D > ROPE_MAX_HEAD_SIZE) throw new OpError(op, `${inName} (${inp.label}) has head size D = ${D}; at most ${ROPE_MAX_HEAD_SIZE} is supported`);
  if (!(Number.isFinite(base) && base > 1)) throw new OpError(op, `base must be a finite number > 1, got ${base}`);
  expectSameShape(op, [inName, outName], inp, out);
  expectShape(op, 'positions', positions, [B, T]);
  const inPlace = out.buffer === inp.buffer && out.byteOffset === inp.byteOffset;
  if (!inPlace) expectNoAlias(op, 1, [outName, inName, 'positions'], out, inp, positions);
  else expectNoAlias(op, 1, [outName, 'positions'], out, positions);
  expectBindable(op, rt.limits, [outName, inName], out, inp);

  const half = D / 2;
  const pairs = numel(inp.shape) / 2;
  const freq = ropeFrequencies(D, base);
  const params: Param[] = [['u32', pairs], ['u32', H], ['u32', half], ['f32', sign]];
  for (let i = 0; i < ROPE_MAX_HEAD_SIZE; i++) params.push(['f32', i < freq.length ? freq[i] : 0]);
  return [
    rt.kernel({
      key: { kernel: 'rope', variant: inPlace ? 'rope_inplace' : 'rope', dtype: 'f32', constants: { WG } },
      code,
      entryPoint: inPlace ? 'rope_inplace' : 'rope',
      bindings: inPlace ? { 4: out, 3: positions } : { 1: out, 2: inp, 3: positions },
      params,
      workgroups: grid(ceilDiv(pairs, WG)),
    }),
  ];
}

/**
 * out = inp rotated by θ = positions · base^(-2i/D) on the pairs (i, i + D/2) of each head.
 * `out` may be `inp` itself (in place).
 */
export function ropeForward(
  rt: Runtime,
  a: {
    out: Tensor; // (B, T, H, D)
    inp: Tensor; // (B, T, H, D)
    positions: Tensor; // (B, T) i32
    base?: number;
  },
): Dispatch[] {
  return rope(rt, 'ropeForward', 1, 'out', 'inp', a.out, a.inp, a.positions, a.base ?? 10000);
}

/**
 * dinp = dout rotated by -θ (the rotation's transpose). Overwrites dinp; `dinp` may be `dout`
 * itself (in place).
 */
export function ropeBackward(
  rt: Runtime,
  a: {
    dinp: Tensor; // (B, T, H, D)
    dout: Tensor; // (B, T, H, D)
    positions: Tensor; // (B, T) i32
    base?: number;
  },
): Dispatch[] {
  return rope(rt, 'ropeBackward', -1, 'dinp', 'dout', a.dinp, a.dout, a.positions, a.base ?? 10000);
}
