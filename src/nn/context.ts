// What every layer of one planned model graph shares: the runtime, dimensions, parameters, the
// batch inputs, model-wide constant tensors and the backward scratch (reused layer after layer).
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { BatchInputs } from '../models/architecture.ts';
import type { ModelConfig } from '../models/config.ts';
import type { LinearLayout } from './linear.ts';
import type { Dims, Weights } from './types.ts';

/** Backward scratch (and gpt2's fused q|k|v buffer), one set per graph. Letters as in types.ts. */
export interface Scratch {
  qkv?: Tensor; // (N, (Hq + 2·Hkv)·D): fused projection output, then its gradient
  dln: Tensor; // (N, C): gradient of a norm's output
  datt: Tensor; // (N, Hq·D)
  dq: Tensor; // (N, Hq·D)
  dk: Tensor; // (N, Hkv·D)
  dv: Tensor; // (N, Hkv·D)
  delta: Tensor; // (B, Hq, T, 2): lse·log2e and delta per row
  dh: Tensor; // (N, F)
  dpre: Tensor; // (N, F): dgate (SwiGLU) or dfc (GELU)
  dup?: Tensor; // (N, F), SwiGLU
  norm: Tensor; // normScratchShape(norm, N, C)
}

export interface LayerContext {
  rt: Runtime;
  cfg: ModelConfig;
  d: Dims;
  w: Weights;
  layout: LinearLayout;
  inputs: BatchInputs;
  /** (P, D/2, 2) cos/sin for RoPE models. */
  ropeTable?: Tensor;
  /** (1, N) ones: bias gradients as column sums. */
  ones: Tensor;
  scratch: Scratch;
}
