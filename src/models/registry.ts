import type { Architecture } from './architecture.ts';
import type { HFConfig, ModelConfig } from './config.ts';
import { UnsupportedConfigError } from './config.ts';
import { gpt2 } from './gpt2/index.ts';
import { llama } from './llama/index.ts';
import { qwen2 } from './qwen2/index.ts';

// One line per architecture folder (import it above and list it here).
const ARCHITECTURES: Architecture[] = [
  llama,
  qwen2,
  gpt2,
];

export function architectures(): readonly Architecture[] {
  return ARCHITECTURES;
}

/** The architecture for a config.json, or an error naming model_type and what is supported. */
export function architectureFor(hf: HFConfig): Architecture {
  const type = hf.model_type;
  const a = ARCHITECTURES.find((x) => x.modelTypes.includes(String(type)));
  if (!a) throw new UnsupportedConfigError('model_type', type, `supported model types are ${ARCHITECTURES.flatMap((x) => x.modelTypes).join(', ')}`);
  return a;
}

export function parseConfig(hf: HFConfig): { arch: Architecture; config: ModelConfig } {
  const arch = architectureFor(hf);
  return { arch, config: arch.parseConfig(hf) };
}
