// Qwen2 (Qwen2 / Qwen2.5): llama with biases on the q, k and v projections (o_proj has none).
import { UnsupportedConfigError, type HFConfig, type ModelConfig } from '../config.ts';
import type { Architecture } from '../architecture.ts';
import { parseLlamaLike } from '../llama/config.ts';
import { llamaLike } from '../llama/index.ts';

export function parseQwen2Config(hf: HFConfig): ModelConfig {
  const cfg = parseLlamaLike(hf, { arch: 'qwen2', maxPositions: 32768, attentionBias: true });
  if (hf.use_sliding_window === true) checkWindowNeverBinds(hf, cfg);
  return cfg;
}

// With use_sliding_window, transformers lets query i of layers max_window_layers .. see keys j with
// i - j < sliding_window only. The attention kernels have no window, so the flag is accepted when
// that changes nothing: no layer is windowed, or the window covers every position the model takes
// (sequences are refused past max_position_embeddings). Otherwise the config is refused.
function checkWindowNeverBinds(hf: HFConfig, cfg: ModelConfig): void {
  const window = hf.sliding_window ?? null; // null: no window (transformers' Qwen2Config)
  const first = hf.max_window_layers ?? 28; // transformers' default
  if (typeof first !== 'number' || !Number.isInteger(first) || first < 0) throw new UnsupportedConfigError('max_window_layers', first, 'expected a non-negative integer');
  if (window === null || first >= cfg.numLayers) return;
  if (typeof window !== 'number' || !Number.isInteger(window) || window <= 0) throw new UnsupportedConfigError('sliding_window', window, 'expected a positive integer');
  if (window >= cfg.maxPositions) return;
  throw new UnsupportedConfigError(
    'use_sliding_window', true,
    `layers ${first} and on would see only the last ${window} keys (sliding_window) of up to ${cfg.maxPositions} positions, and sliding-window attention is not implemented`,
  );
}

export const qwen2: Architecture = llamaLike('qwen2', ['qwen2'], parseQwen2Config);
