// Qwen2 (Qwen2 / Qwen2.5): llama with biases on the q, k and v projections (o_proj has none).
import { UnsupportedConfigError, type HFConfig, type ModelConfig } from '../config.ts';
import type { Architecture } from '../architecture.ts';
import { parseLlamaLike } from '../llama/config.ts';
import { llamaLike } from '../llama/index.ts';

export function parseQwen2Config(hf: HFConfig): ModelConfig {
  // Sliding-window attention would restrict the keys each query sees; the kernel has no window.
  if (hf.use_sliding_window === true) throw new UnsupportedConfigError('use_sliding_window', true, 'sliding-window attention is not implemented');
  return parseLlamaLike(hf, { arch: 'qwen2', maxPositions: 32768, attentionBias: true });
}

export const qwen2: Architecture = llamaLike('qwen2', ['qwen2'], parseQwen2Config);
