// Float64 reference for softmax cross-entropy with ignore index -100.
import type { F64 } from './gradcheck.ts';

export const IGNORE = -100;

/** Per-row loss −log softmax(x)[t] (0 for ignored rows) of (N, V) logits. */
export function crossEntropyRef(logits: F64, targets: Int32Array, V: number): F64 {
  const N = targets.length;
  const out = new Float64Array(N);
  for (let r = 0; r < N; r++) {
    const t = targets[r];
    if (t === IGNORE) continue;
    const row = logits.subarray(r * V, (r + 1) * V);
    let m = -Infinity;
    for (const x of row) m = Math.max(m, x);
    let s = 0;
    for (const x of row) s += Math.exp(x - m);
    out[r] = Math.log(s) + m - row[t];
  }
  return out;
}

/** dlogits of L = Σ_r dloss[r] · loss[r]: (softmax − onehot(t)) · dloss[r], 0 for ignored rows. */
export function crossEntropyBackwardRef(logits: F64, targets: Int32Array, V: number, dloss: F64): F64 {
  const N = targets.length;
  const d = new Float64Array(N * V);
  for (let r = 0; r < N; r++) {
    const t = targets[r];
    if (t === IGNORE) continue;
    const row = logits.subarray(r * V, (r + 1) * V);
    let m = -Infinity;
    for (const x of row) m = Math.max(m, x);
    let s = 0;
    for (const x of row) s += Math.exp(x - m);
    for (let j = 0; j < V; j++) d[r * V + j] = (Math.exp(row[j] - m) / s - (j === t ? 1 : 0)) * dloss[r];
  }
  return d;
}

/** 1 where the first argmax of the row equals the target, else 0 (0 for ignored rows). */
export function accuracyRef(logits: F64, targets: Int32Array, V: number): F64 {
  return Float64Array.from(targets, (t, r) => {
    if (t === IGNORE) return 0;
    let best = 0;
    for (let j = 1; j < V; j++) if (logits[r * V + j] > logits[r * V + best]) best = j;
    return best === t ? 1 : 0;
  });
}
