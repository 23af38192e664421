// Qwen2 (Qwen2 / Qwen2.5): llama with biases on the q, k and v projections (o_proj has none).
import { UnsupportedConfigError, type HFConfig, type ModelConfig } from '../config.ts';
import type { Architecture } from '../architecture.ts';
import { parseLlamaLike } from '../llama/config.ts';
import { llamaLike } from '../llama/index.ts';

export function parseQwen2Config(hf: HFConfig): ModelConfig {
  const cfg = parseLlamaLike(hf, { arch: 'qwen2', maxPositions: 32768, attentionBias: true });
  const slidingWindow = hf.use_sliding_window === true ? bindingWindow(hf, cfg) : undefined;
  return slidingWindow ? { ...cfg, slidingWindow } : cfg;
}

// With use_sliding_window, transformers lets query i of layers max_window_layers .. see keys j with
// i - j < sliding_window only. Returns that window where it binds: some layer is windowed and the
// window is shorter than the positions. The kernels have no window; a sequence of at most
// sliding_window tokens sees every key anyway, so such a model is exact up to that length and
// longer sequences are refused (usablePositions).
function bindingWindow(hf: HFConfig, cfg: ModelConfig): ModelConfig['slidingWindow'] {
  const window = hf.sliding_window ?? null; // null: no window (transformers' Qwen2Config)
  const first = hf.max_window_layers ?? 28; // transformers' default
  if (typeof first !== 'number' || !Number.isInteger(first) || first < 0) throw new UnsupportedConfigError('max_window_layers', first, 'expected a non-negative integer');
  if (window === null || first >= cfg.numLayers) return undefined;
  if (typeof window !== 'number' || !Number.isInteger(window) || window <= 0) throw new UnsupportedConfigError('sliding_window', window, 'expected a positive integer');
  return window < cfg.maxPositions ? { size: window, firstLayer: first } : undefined;
}

export const qwen2: Architecture = llamaLike('qwen2', ['qwen2'], parseQwen2Config);
