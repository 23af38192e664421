// Rotary position embedding (Llama's rotate-half convention, as Hugging Face's
// apply_rotary_pos_emb), forward and backward, in place or not.
//   B  batch, T  sequence, H  heads (query or key/value heads: call once per tensor), D  head size
// Positions are explicit per token so packed sequences restart at 0 inside a row; cos and sin come
// from a float64-computed table (ropeTable), uploaded once per model.
// Shaders: shaders/rope.wgsl.
import { OpError } from '../gpu/errors.ts';
import { grid, type Dispatch, type Param, type Runtime } from '../gpu/runtime.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/rope.wgsl?raw';
import { ceilDiv, expectBindable, expectDType, expectNoAlias, expectPositiveInt, expectRank, expectSameShape, expectShape } from './check.ts';

const WG = 256;

/** Llama's inverse frequencies base^(-2i/D), in float64. */
export function ropeInverseFrequencies(D: number, base = 10000): Float64Array {
  return Float64Array.from({ length: D / 2 }, (_, i) => Math.pow(base, (-2 * i) / D));
}

/**
 * The (P, D/2, 2) table of (cos θ, sin θ), θ = pos · invFreq[i] for pos < P, computed in float64
 * and rounded once. Upload it once per model as an f32 tensor of shape [P, D / 2, 2]. Pass
 * `invFreq` to apply a RoPE scaling scheme; the default is Llama's base^(-2i/D).
 */
export function ropeTable(P: number, D: number, base = 10000, invFreq: Float64Array = ropeInverseFrequencies(D, base)): Float32Array {
  if (!Number.isInteger(P) || P <= 0) throw new OpError('ropeTable', `P (positions) must be a positive integer, got ${P}`);
  if (!Number.isInteger(D) || D <= 0 || D % 2) throw new OpError('ropeTable', `head size D must be a positive even integer, got ${D}`);
  if (!(Number.isFinite(base) && base > 1)) throw new OpError('ropeTable', `base must be a finite number > 1, got ${base}`);
  if (invFreq.length !== D / 2) throw new OpError('ropeTable', `invFreq has ${invFreq.length} entries, expected D/2 = ${D / 2}`);
  const half = D / 2;
  const t = new Float32Array(P * half * 2);
  for (let pos = 0; pos < P; pos++) {
    for (let i = 0; i < half; i++) {
      const th = pos * invFreq[i];
      t[2 * (pos * half + i)] = Math.cos(th);
      t[2 * (pos * half + i) + 1] = Math.sin(th);
    }
  }
  return t;
}

function rope(rt: Runtime, op: string, sign: 1 | -1, outName: string, inName: string, out: Tensor, inp: Tensor, positions: Tensor, table: Tensor): Dispatch[] {
  expectDType(op, inName, inp, 'f32');
  expectDType(op, outName, out, 'f32');
  expectDType(op, 'positions', positions, 'i32');
  expectDType(op, 'table', table, 'f32');
  expectRank(op, inName, inp, 4);
  inp.shape.forEach((d, i) => expectPositiveInt(op, `${inName} (${inp.label}) dimension ${i}`, d));
  const [B, T, H, D] = inp.shape;
  if (D % 2 !== 0) throw new OpError(op, `${inName} (${inp.label}) has head size D = ${D}; rotate-half RoPE needs an even D`);
  expectSameShape(op, [inName, outName], inp, out);
  expectShape(op, 'positions', positions, [B, T]);
  const [P] = expectShape(op, 'table', table, [-1, D / 2, 2]);
  const inPlace = out.buffer === inp.buffer && out.byteOffset === inp.byteOffset;
  if (!inPlace) expectNoAlias(op, 1, [outName, inName, 'positions', 'table'], out, inp, positions, table);
  else expectNoAlias(op, 1, [outName, 'positions', 'table'], out, positions, table);
  expectBindable(op, rt.limits, [outName, inName], out, inp);

  const pairs = numel(inp.shape) / 2;
  const params: Param[] = [['u32', pairs], ['f32', sign], ['u32', P], ['u32', 0x7fc00000]];
  // vec4 loads, one invocation per 4 pairs, when the half head is a multiple of 4 (shaders/rope.wgsl).
  const v4 = (D / 2) % 4 === 0;
  const entryPoint = (v4 ? 'rope4' : 'rope') + (inPlace ? '_inplace' : '');
  const bindings: Record<number, Tensor> = v4
    ? inPlace ? { 6: out, 3: positions, 9: table } : { 8: out, 7: inp, 3: positions, 9: table }
    : inPlace ? { 4: out, 3: positions, 5: table } : { 1: out, 2: inp, 3: positions, 5: table };
  return [
    rt.kernel({
      key: { kernel: 'rope', variant: entryPoint, dtype: 'f32', constants: { WG, HALF: D / 2, HEADS: H } },
      code,
      entryPoint,
      bindings,
      params,
      workgroups: grid(ceilDiv(v4 ? pairs / 4 : pairs, WG)),
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
    positions: Tensor; // (B, T) i32, each in [0, P)
    table: Tensor; // (P, D/2, 2) f32 from ropeTable
  },
): Dispatch[] {
  return rope(rt, 'ropeForward', 1, 'out', 'inp', a.out, a.inp, a.positions, a.table);
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
    positions: Tensor; // (B, T) i32, each in [0, P)
    table: Tensor; // (P, D/2, 2) f32 from ropeTable
  },
): Dispatch[] {
  return rope(rt, 'ropeBackward', -1, 'dinp', 'dout', a.dinp, a.dout, a.positions, a.table);
}
