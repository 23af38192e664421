// Float64 reference for the distillation loss (see shaders/distill.wgsl for the definition):
// loss = alpha·CE(x, t) + (1 − alpha)·D(p, q), p and q the teacher's and student's tempered
// distributions restricted to the teacher's top-K ids and renormalised.
import type { F64 } from './gradcheck.ts';

export const IGNORE = -100;

export type Kind = 'forward' | 'reverse' | 'jsd';

export interface DistillRefOpts {
  V: number;
  K: number;
  kind: Kind;
  beta?: number;
  alpha: number;
  temperature: number;
}

function logSoftmax(z: number[]): number[] {
  const m = Math.max(...z);
  const ls = Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0)) + m;
  return z.map((v) => v - ls);
}

/** D for one row and dD/dz (z = restricted student logits / τ), in float64. */
function divergence(z: number[], a: number[], kind: Kind, beta: number): { D: number; dz: number[] } {
  const lq = logSoftmax(z), lp = logSoftmax(a);
  const q = lq.map(Math.exp), p = lp.map(Math.exp);
  const K = z.length;
  if (kind === 'forward' || (kind === 'jsd' && beta === 0)) {
    let D = 0;
    for (let k = 0; k < K; k++) D += p[k] * (lp[k] - lq[k]);
    return { D, dz: q.map((qk, k) => qk - p[k]) };
  }
  let g: number[], D = 0;
  if (kind === 'reverse' || beta === 1) {
    g = lq.map((v, k) => v - lp[k]);
    for (let k = 0; k < K; k++) D += q[k] * g[k];
  } else {
    const lm = p.map((pk, k) => Math.log(beta * pk + (1 - beta) * q[k]));
    for (let k = 0; k < K; k++) D += beta * p[k] * (lp[k] - lm[k]) + (1 - beta) * q[k] * (lq[k] - lm[k]);
    g = lq.map((v, k) => (1 - beta) * (v - lm[k]));
  }
  let G = 0;
  for (let k = 0; k < K; k++) G += q[k] * g[k];
  return { D, dz: q.map((qk, k) => qk * (g[k] - G)) };
}

function rowParts(x: F64, ids: Int32Array, lps: F64, r: number, o: DistillRefOpts) {
  const { V, K } = o;
  const row = x.subarray(r * V, (r + 1) * V);
  const m = Math.max(...row);
  let s = 0;
  for (const v of row) s += Math.exp(v - m);
  const z: number[] = [], a: number[] = [], id: number[] = [];
  for (let k = 0; k < K; k++) {
    id.push(ids[r * K + k]);
    z.push(row[ids[r * K + k]] / o.temperature);
    a.push(lps[r * K + k] / o.temperature);
  }
  return { row, m, s, id, ...divergence(z, a, o.kind, o.beta ?? 0) };
}

/** Per-row loss of (N, V) student logits; 0 for ignored rows. */
export function distillRef(x: F64, targets: Int32Array, ids: Int32Array, lps: F64, o: DistillRefOpts): F64 {
  return Float64Array.from(targets, (t, r) => {
    if (t === IGNORE) return 0;
    const { row, m, s, D } = rowParts(x, ids, lps, r, o);
    return o.alpha * (Math.log(s) + m - row[t]) + (1 - o.alpha) * D;
  });
}

/** dlogits of Σ_r dloss[r]·loss[r] (0 for ignored rows). */
export function distillBackwardRef(x: F64, targets: Int32Array, ids: Int32Array, lps: F64, o: DistillRefOpts, dloss: F64): F64 {
  const { V } = o;
  const d = new Float64Array(targets.length * V);
  targets.forEach((t, r) => {
    if (t === IGNORE) return;
    const { row, m, s, id, dz } = rowParts(x, ids, lps, r, o);
    for (let j = 0; j < V; j++) d[r * V + j] = o.alpha * (Math.exp(row[j] - m) / s - (j === t ? 1 : 0)) * dloss[r];
    id.forEach((j, k) => (d[r * V + j] += ((1 - o.alpha) * dz[k] * dloss[r]) / o.temperature));
  });
  return d;
}

/** Distinct random ids per row (a seeded partial Fisher–Yates) and teacher log-probs of a random distribution. */
export function teacherTopK(N: number, V: number, K: number, u: Float32Array): { ids: Int32Array; lps: Float64Array } {
  const ids = new Int32Array(N * K), lps = new Float64Array(N * K);
  let c = 0;
  const next = () => u[c++ % u.length];
  for (let r = 0; r < N; r++) {
    const perm = Array.from({ length: V }, (_, i) => i);
    for (let k = 0; k < K; k++) {
      const j = k + Math.min(V - k - 1, Math.floor(next() * (V - k)));
      [perm[k], perm[j]] = [perm[j], perm[k]];
      ids[r * K + k] = perm[k];
    }
    // Logits in [−4, 4), turned into log-probs over the top-K only: the kernel must not care that
    // they do not sum to 1 over the whole vocabulary, so subtract an extra constant as well.
    const lg = Array.from({ length: K }, () => -4 + 8 * next());
    const ls = Math.log(lg.reduce((s, v) => s + Math.exp(v), 0));
    for (let k = 0; k < K; k++) lps[r * K + k] = lg[k] - ls - 0.5;
  }
  return { ids, lps };
}
