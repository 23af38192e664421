// Float64 reference for torch.optim.AdamW (amsgrad off), written from its documented algorithm:
//   θ ← θ − γλθ            (only where decay applies)
//   m ← β1 m + (1 − β1) g
//   v ← β2 v + (1 − β2) g²
//   m̂ ← m / (1 − β1^t),  v̂ ← v / (1 − β2^t)
//   θ ← θ − γ m̂ / (√v̂ + ε)
import type { F64 } from './gradcheck.ts';

export interface AdamWRefHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/** One step in place on params, m, v. `decay(i)` says whether element i is decayed; g is pre-scaled by gradScale. */
export function adamwRef(params: F64, grads: F64, m: F64, v: F64, decay: (i: number) => boolean, h: AdamWRefHyper, gradScale = 1, range = { offset: 0, size: params.length }): void {
  const { lr, beta1, beta2, eps, weightDecay: wd, step: t } = h;
  for (let i = range.offset; i < range.offset + range.size; i++) {
    const g = grads[i] * gradScale;
    if (decay(i)) params[i] -= lr * wd * params[i];
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    const mHat = m[i] / (1 - beta1 ** t);
    const vHat = v[i] / (1 - beta2 ** t);
    params[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}
