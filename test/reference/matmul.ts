// Float64 reference for matmul. Letters as in src/ops/matmul.ts: Z batch, M, N, K.
import type { F64 } from './gradcheck.ts';

export interface MatmulRefArgs {
  M: number;
  N: number;
  K: number;
  Z?: number;
  transA?: boolean;
  transB?: boolean;
  /** b has no batch dimension (shared by every batch). */
  broadcastB?: boolean;
  /** One (M, K) a shared by every batch of b. */
  broadcastA?: boolean;
  alpha?: number;
  bias?: F64; // (N)
  /** Initial out (Z, M, N) when accumulating. */
  init?: F64;
}

/** out = alpha · op(a)·op(b) + bias (+ init). a: (Z, M, K) or (Z, K, M); b: (Z?, K, N) or (Z?, N, K). */
export function matmulRef(a: F64, b: F64, o: MatmulRefArgs): F64 {
  const { M, N, K, Z = 1, transA = false, transB = false, broadcastA = false, broadcastB = false, alpha = 1, bias, init } = o;
  const out = new Float64Array(Z * M * N);
  for (let z = 0; z < Z; z++) {
    const ao = broadcastA ? 0 : z * M * K, bo = broadcastB ? 0 : z * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = a[ao + (transA ? k * M + m : m * K + k)];
          const bv = b[bo + (transB ? n * K + k : k * N + n)];
          s += av * bv;
        }
        const i = z * M * N + m * N + n;
        out[i] = alpha * s + (bias ? bias[n] : 0) + (init ? init[i] : 0);
      }
    }
  }
  return out;
}

/** Row-major transpose of an (R, C) matrix. */
export function transposeRef(x: F64, R: number, C: number): F64 {
  const y = new Float64Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) y[c * R + r] = x[r * C + c];
  return y;
}

/**
 * Backward of C = A·B with A (M, K), B (K, N): dA = dC·Bᵀ (M, K) and dB = Aᵀ·dC (K, N).
 * These are the formulas the linear layers use, computed on the GPU with the NT and TN variants.
 */
export function matmulBackwardRef(A: F64, B: F64, dC: F64, M: number, N: number, K: number): [F64, F64] {
  const dA = matmulRef(dC, B, { M, N: K, K: N, transB: true });
  const dB = matmulRef(A, dC, { M: K, N, K: M, transA: true });
  return [dA, dB];
}
