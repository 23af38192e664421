// Float64 references for reductions and the global gradient norm with its clip scale.
import type { F64 } from './gradcheck.ts';

export const sumRef = (x: F64): number => x.reduce((a, v) => a + v, 0);
export const sumSquaresRef = (x: F64): number => x.reduce((a, v) => a + v * v, 0);
export const sumAbsRef = (x: F64): number => x.reduce((a, v) => a + Math.abs(v), 0);

/** [norm, clipScale] as torch.nn.utils.clip_grad_norm_ computes them (maxNorm ≤ 0: no clipping). */
export function gradNormRef(grads: F64, maxNorm: number): [number, number] {
  const norm = Math.sqrt(sumSquaresRef(grads));
  const scale = maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  return [norm, scale];
}
