// float64 references for the MLP activations: GELU (tanh approximation, GPT-2's gelu_new) and
// SwiGLU (silu(gate) · up, Llama's MLP), forward and analytic backward.
import type { F64 } from './gradcheck.ts';

const S = Math.sqrt(2 / Math.PI);
const K = 0.044715;

export const geluRef = (x: F64): F64 => x.map((v) => 0.5 * v * (1 + Math.tanh(S * (v + K * v ** 3))));

export function geluBackwardRef(dout: F64, x: F64): F64 {
  return x.map((v, i) => {
    const t = Math.tanh(S * (v + K * v ** 3));
    return dout[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * S * (1 + 3 * K * v * v));
  });
}

const sigmoid = (g: number) => 1 / (1 + Math.exp(-g));

export const swigluRef = (gate: F64, up: F64): F64 => gate.map((g, i) => g * sigmoid(g) * up[i]);

export function swigluBackwardRef(dout: F64, gate: F64, up: F64): { dgate: F64; dup: F64 } {
  const dgate = gate.map((g, i) => {
    const s = sigmoid(g);
    return dout[i] * up[i] * s * (1 + g * (1 - s));
  });
  const dup = gate.map((g, i) => dout[i] * g * sigmoid(g));
  return { dgate, dup };
}
