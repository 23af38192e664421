// float64 reference for rotary position embedding, rotate-half convention (Hugging Face Llama):
// pairs (i, i + D/2) of each head rotated by θ = pos · base^(-2i/D); sign -1 rotates by -θ, which
// is the backward (the rotation's transpose). x is (B, T, H, D), positions (B, T).
import type { F64 } from './gradcheck.ts';

export function ropeRef(x: F64, positions: ArrayLike<number>, B: number, T: number, H: number, D: number, base = 10000, sign = 1): F64 {
  const out = new Float64Array(x.length);
  const half = D / 2;
  for (let bt = 0; bt < B * T; bt++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < half; i++) {
        const th = positions[bt] * Math.pow(base, (-2 * i) / D);
        const c = Math.cos(th), s = sign * Math.sin(th);
        const o = (bt * H + h) * D + i;
        out[o] = x[o] * c - x[o + half] * s;
        out[o + half] = x[o + half] * c + x[o] * s;
      }
    }
  }
  return out;
}

/** d(sum(out · dout))/dx: the rotation by -θ applied to dout. */
export const ropeBackwardRef = (dout: F64, positions: ArrayLike<number>, B: number, T: number, H: number, D: number, base = 10000): F64 =>
  ropeRef(dout, positions, B, T, H, D, base, -1);
