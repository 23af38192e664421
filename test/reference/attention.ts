// Float64 reference for causal (optionally segmented) grouped-query attention. It materialises the
// T x T scores per head, which is fine on the CPU at test sizes.
// q, out (B, T, Hq, D); k, v (B, T, Hkv, D); lse (B, Hq, T); seg (B, T).
import type { F64 } from './gradcheck.ts';

export interface AttnDims {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  scale?: number;
  seg?: ArrayLike<number>;
}

const visible = (d: AttnDims, b: number, i: number, j: number) => j <= i && (!d.seg || d.seg[b * d.T + i] === d.seg[b * d.T + j]);

/** Softmax probabilities P[b][h][i][j] (zero where masked) and lse per (b, h, i). */
function probs(d: AttnDims, q: F64, k: F64): { P: Float64Array; lse: F64 } {
  const { B, T, Hq, Hkv, D } = d;
  const scale = d.scale ?? 1 / Math.sqrt(D);
  const G = Hq / Hkv;
  const P = new Float64Array(B * Hq * T * T);
  const lse = new Float64Array(B * Hq * T);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / G);
      for (let i = 0; i < T; i++) {
        let m = -Infinity;
        for (let j = 0; j <= i; j++) {
          if (!visible(d, b, i, j)) continue;
          let dot = 0;
          for (let e = 0; e < D; e++) dot += q[((b * T + i) * Hq + h) * D + e] * k[((b * T + j) * Hkv + hk) * D + e];
          s[j] = scale * dot;
          m = Math.max(m, s[j]);
        }
        let sum = 0;
        for (let j = 0; j <= i; j++) if (visible(d, b, i, j)) sum += Math.exp(s[j] - m);
        const row = ((b * Hq + h) * T + i) * T;
        for (let j = 0; j <= i; j++) if (visible(d, b, i, j)) P[row + j] = Math.exp(s[j] - m) / sum;
        lse[(b * Hq + h) * T + i] = m + Math.log(sum);
      }
    }
  }
  return { P, lse };
}

export function attentionForwardRef(d: AttnDims, q: F64, k: F64, v: F64): { out: F64; lse: F64 } {
  const { B, T, Hq, Hkv, D } = d;
  const G = Hq / Hkv;
  const { P, lse } = probs(d, q, k);
  const out = new Float64Array(B * T * Hq * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++)
      for (let i = 0; i < T; i++) {
        const row = ((b * Hq + h) * T + i) * T;
        const o = ((b * T + i) * Hq + h) * D;
        for (let j = 0; j <= i; j++) {
          const pij = P[row + j];
          if (pij === 0) continue;
          const vo = ((b * T + j) * Hkv + Math.floor(h / G)) * D;
          for (let e = 0; e < D; e++) out[o + e] += pij * v[vo + e];
        }
      }
  return { out, lse };
}

/** Analytic gradients of L = sum(out * dout) with respect to q, k, v. */
export function attentionBackwardRef(d: AttnDims, q: F64, k: F64, v: F64, dout: F64): { dq: F64; dk: F64; dv: F64 } {
  const { B, T, Hq, Hkv, D } = d;
  const scale = d.scale ?? 1 / Math.sqrt(D);
  const G = Hq / Hkv;
  const { P } = probs(d, q, k);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const dP = new Float64Array(T);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / G);
      for (let i = 0; i < T; i++) {
        const row = ((b * Hq + h) * T + i) * T;
        const qo = ((b * T + i) * Hq + h) * D;
        // softmax backward: dS_ij = P_ij (dP_ij - sum_l P_il dP_il), dP_ij = dout_i . v_j
        let rowDot = 0;
        for (let j = 0; j <= i; j++) {
          const kvo = ((b * T + j) * Hkv + hk) * D;
          let dot = 0;
          for (let e = 0; e < D; e++) {
            dot += dout[qo + e] * v[kvo + e];
            dv[kvo + e] += P[row + j] * dout[qo + e];
          }
          dP[j] = dot;
          rowDot += P[row + j] * dot;
        }
        for (let j = 0; j <= i; j++) {
          const ds = P[row + j] * (dP[j] - rowDot) * scale;
          if (ds === 0) continue;
          const kvo = ((b * T + j) * Hkv + hk) * D;
          for (let e = 0; e < D; e++) {
            dq[qo + e] += ds * k[kvo + e];
            dk[kvo + e] += ds * q[qo + e];
          }
        }
      }
    }
  return { dq, dk, dv };
}
