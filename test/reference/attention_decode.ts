// Float64 reference for attention over a KV cache: Tq new queries at absolute positions
// past .. past + Tq - 1, query i seeing cache positions 0 .. past + i, grouped-query heads.
// q, out (B, Tq, Hq, D); kCache, vCache (B, Tmax, Hkv, D).
import type { F64 } from './gradcheck.ts';

export interface DecodeDims {
  B: number;
  Tq: number;
  Tmax: number;
  Hq: number;
  Hkv: number;
  D: number;
  past: number;
  scale?: number;
}

export function attentionDecodeRef(d: DecodeDims, q: ArrayLike<number>, kCache: ArrayLike<number>, vCache: ArrayLike<number>): F64 {
  const { B, Tq, Tmax, Hq, Hkv, D, past } = d;
  if (past + Tq > Tmax) throw new Error(`attentionDecodeRef: past ${past} + Tq ${Tq} exceeds Tmax ${Tmax}`);
  const scale = d.scale ?? 1 / Math.sqrt(D);
  const G = Hq / Hkv;
  const out = new Float64Array(B * Tq * Hq * D);
  const s = new Float64Array(Tmax);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Tq; i++)
      for (let h = 0; h < Hq; h++) {
        const hk = Math.floor(h / G);
        const qo = ((b * Tq + i) * Hq + h) * D;
        const n = past + i + 1;
        let m = -Infinity;
        for (let j = 0; j < n; j++) {
          const ko = ((b * Tmax + j) * Hkv + hk) * D;
          let dot = 0;
          for (let e = 0; e < D; e++) dot += q[qo + e] * kCache[ko + e];
          s[j] = scale * dot;
          m = Math.max(m, s[j]);
        }
        let sum = 0;
        for (let j = 0; j < n; j++) sum += (s[j] = Math.exp(s[j] - m));
        for (let j = 0; j < n; j++) {
          const vo = ((b * Tmax + j) * Hkv + hk) * D;
          const pj = s[j] / sum;
          for (let e = 0; e < D; e++) out[qo + e] += pj * vCache[vo + e];
        }
      }
  return out;
}

/** cache with rows past .. past + Tq - 1 replaced by kv (B, Tq, Hkv, D). */
export function kvCacheWriteRef(cache: ArrayLike<number>, kv: ArrayLike<number>, dims: { B: number; Tq: number; Tmax: number; Hkv: number; D: number; past: number }): Float64Array {
  const { B, Tq, Tmax, Hkv, D, past } = dims;
  const out = Float64Array.from(cache);
  const row = Hkv * D;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < Tq; t++)
      for (let e = 0; e < row; e++) out[(b * Tmax + past + t) * row + e] = kv[(b * Tq + t) * row + e];
  return out;
}
