// A student's architecture, normalised from a Hugging Face `config.json`. Each architecture folder
// parses its own `model_type`s into this shape; everything downstream (layers, memory plan,
// export) reads only this.

export type HFConfig = Record<string, unknown>;

export interface ModelConfig {
  /** Registry key of the architecture that built this config: 'llama', 'qwen2', 'gpt2'. */
  arch: string;
  /** V: vocabulary size (rows of the embedding table). */
  vocabSize: number;
  /** C: hidden size. */
  hiddenSize: number;
  /** L: transformer blocks. */
  numLayers: number;
  /** Hq: query heads. */
  numHeads: number;
  /** Hkv: key/value heads (grouped-query attention when < Hq). */
  numKvHeads: number;
  /** D: head size (C / Hq unless the config says otherwise). */
  headDim: number;
  /** F: MLP inner size. */
  intermediateSize: number;
  /** Longest sequence the positions (learned table or RoPE table) cover. */
  maxPositions: number;
  norm: 'rms' | 'layer';
  normEps: number;
  mlp: 'swiglu' | 'gelu';
  positions: 'rope' | 'learned';
  /** RoPE base (rope_theta). */
  ropeTheta: number;
  /** q/k/v projections have biases (Qwen2); GPT-2 has biases everywhere. */
  attentionBias: boolean;
  /** The LM head shares the embedding table (no separate lm_head.weight). */
  tieWordEmbeddings: boolean;
  /** GPT-2's scale_attn_by_inverse_layer_idx: layer l's scores are also divided by l + 1. */
  scaleAttnByLayer?: boolean;
  /**
   * Qwen2's use_sliding_window where it binds (size < maxPositions): layers `firstLayer` on see only
   * the last `size` keys. The kernels have no window, and up to `size` tokens it changes nothing, so
   * sequences stop there (usablePositions).
   */
  slidingWindow?: { size: number; firstLayer: number };
  bosTokenId?: number;
  eosTokenId?: number | number[];
  /** The config.json this came from, kept for export. */
  hf: HFConfig;
}

/** The attention scale of layer `layer` (from 0): 1/sqrt(D), over layer + 1 with scaleAttnByLayer. */
export function attentionScale(cfg: ModelConfig, layer: number): number {
  return 1 / Math.sqrt(cfg.headDim) / (cfg.scaleAttnByLayer ? layer + 1 : 1);
}

/** Longest sequence computed exactly: maxPositions, or a binding sliding window's size. */
export function usablePositions(cfg: ModelConfig): number {
  return cfg.slidingWindow?.size ?? cfg.maxPositions;
}

/** usablePositions in words, for errors: how many positions and, for a window, why. */
export function describePositions(cfg: ModelConfig): string {
  const w = cfg.slidingWindow;
  return w
    ? `${w.size} positions (layers ${w.firstLayer} and on attend to the last ${w.size} keys only, sliding_window, and sliding-window attention is not implemented)`
    : `${cfg.maxPositions} positions`;
}

/** A config field the architecture cannot honour: names the field and the value. */
export class UnsupportedConfigError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`config.json: ${field} = ${JSON.stringify(value)} is not supported: ${reason}`);
    this.name = 'UnsupportedConfigError';
  }
}

/** Reads a required positive integer field, or the first of several alternative names. */
export function intField(hf: HFConfig, names: string | string[], fallback?: number): number {
  const list = Array.isArray(names) ? names : [names];
  for (const n of list) {
    const v = hf[n];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new UnsupportedConfigError(n, v, 'expected a positive integer');
    return v;
  }
  if (fallback !== undefined) return fallback;
  throw new UnsupportedConfigError(list[0], undefined, 'the field is missing');
}

export function numberField(hf: HFConfig, name: string, fallback: number): number {
  const v = hf[name];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UnsupportedConfigError(name, v, 'expected a number');
  return v;
}
