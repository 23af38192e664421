// Shared shapes of the layers: dimensions, parameter names per layer, and how a layer reaches its
// parameters and gradients in the ParamStore.
//   B batch, T sequence, N = B·T rows, C hidden, Hq / Hkv query / key-value heads, D head size,
//   F MLP inner size, V vocabulary
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from '../models/config.ts';
import type { ParamStore } from '../models/params.ts';

export interface Dims {
  B: number;
  T: number;
  N: number;
  C: number;
  Hq: number;
  Hkv: number;
  D: number;
  F: number;
}

/** Elements of the discard buffer: two 64-aligned halves of C (see Weights.gOrDiscard). */
export function discardSize(C: number): number {
  return 2 * Math.ceil(C / 64) * 64;
}

export function dimsOf(cfg: ModelConfig, B: number, T: number): Dims {
  return { B, T, N: B * T, C: cfg.hiddenSize, Hq: cfg.numHeads, Hkv: cfg.numKvHeads, D: cfg.headDim, F: cfg.intermediateSize };
}

export interface LinearNames {
  weight: string;
  bias?: string;
}

export interface NormNames {
  weight: string;
  bias?: string;
}

/** q, k, v as three HF Linear layers (llama, qwen2) or one fused Conv1D producing [q | k | v] (gpt2). */
export type QkvNames = { q: LinearNames; k: LinearNames; v: LinearNames } | { fused: LinearNames };

/** SwiGLU down(silu(gate(x))·up(x)) (llama) or GELU proj(gelu(fc(x))) (gpt2). */
export type MlpNames = { gate: LinearNames; up: LinearNames; down: LinearNames } | { fc: LinearNames; proj: LinearNames };

export interface LayerNames {
  norm1: NormNames;
  qkv: QkvNames;
  o: LinearNames;
  norm2: NormNames;
  mlp: MlpNames;
}

export interface ModelNames {
  embed: string;
  /** GPT-2's learned position table (P, C). */
  positions?: string;
  layers: LayerNames[];
  finalNorm: NormNames;
  lmHead: string;
}

/**
 * Parameters and gradients by name. Frozen parameters have no gradient: linear layers skip their
 * weight gradient; norms, whose kernels always write one, write into `discard`.
 */
export class Weights {
  constructor(
    readonly store: ParamStore,
    private readonly discard?: Tensor,
  ) {}

  p(name: string): Tensor;
  p(name: string | undefined): Tensor | undefined;
  p(name: string | undefined): Tensor | undefined {
    return name === undefined ? undefined : this.store.param(name);
  }

  /** The gradient view, or undefined when the parameter is frozen (or absent). */
  g(name: string | undefined): Tensor | undefined {
    if (name === undefined) return undefined;
    return this.store.layout.get(name).trainable ? this.store.grad(name) : undefined;
  }

  /**
   * A gradient that a kernel must write even when frozen (norm weights and biases). `slot` 0 or 1
   * picks one of two aligned halves of the discard buffer, so a norm's weight and bias gradients
   * never overlap.
   */
  gOrDiscard(name: string | undefined, slot = 0): Tensor | undefined {
    if (name === undefined) return undefined;
    const g = this.g(name);
    if (g) return g;
    const e = this.store.layout.get(name);
    const half = this.discard ? this.discard.shape[0] / 2 : 0;
    if (!this.discard || half < e.size) throw new Error(`${name} is frozen and no discard buffer was planned for its gradient`);
    return { ...this.discard, byteOffset: this.discard.byteOffset + slot * half * 4, shape: e.shape };
  }

  frozen(name: string): boolean {
    return !this.store.layout.get(name).trainable;
  }
}
