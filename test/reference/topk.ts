// Float64 reference for the top-K log-softmax (see shaders/topk.wgsl for the definition): per row,
// the K largest logits' ids in descending order (equal logits: lower id first) and
// x/τ − logsumexp(x/τ) over the whole row; NaN log-probs for a row holding NaN or ±Inf.
import type { F64 } from './gradcheck.ts';

export function topkLogSoftmaxRef(x: F64, R: number, V: number, K: number, temperature = 1): { ids: Int32Array; logprobs: F64 } {
  const ids = new Int32Array(R * K), logprobs = new Float64Array(R * K);
  for (let r = 0; r < R; r++) {
    const row = x.subarray(r * V, (r + 1) * V);
    const bad = row.some((v) => !Number.isFinite(v));
    const z = Array.from(row, (v) => v / temperature);
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
    // Stable sort: equal logits keep their (ascending id) order. NaN sorts as equal to everything,
    // which is not a total order, so a bad row's ids are not defined by the reference.
    const order = Array.from(row.keys()).sort((a, b) => row[b] - row[a]);
    for (let k = 0; k < K; k++) {
      ids[r * K + k] = order[k];
      logprobs[r * K + k] = bad ? NaN : z[order[k]] - lse;
    }
  }
  return { ids, logprobs };
}
