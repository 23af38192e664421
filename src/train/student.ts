// The student a run trains: its architecture, config, starting weights and tokenizer, from the
// config's `student` section. Scratch students are built here in any environment; pretrained ones
// come through the environment's loader (loadPretrainedNode in Node, loadPretrained in a page).
import { byteLevelTokenizer } from '../data/byte-tokenizer.ts';
import { loadTokenizer, type TextTokenizer } from '../data/tokenizer.ts';
import type { Architecture } from '../models/architecture.ts';
import type { HFConfig, ModelConfig } from '../models/config.ts';
import { initialize, tinyConfig } from '../models/init.ts';
import type { LoadProgress, Pretrained } from '../models/load.ts';
import { parseConfig } from '../models/registry.ts';
import type { StudentSpec } from './config.ts';

export interface Student {
  arch: Architecture;
  config: ModelConfig;
  weights: Map<string, Float32Array>;
  tokenizer: TextTokenizer;
  pretrained: boolean;
  /** For messages: "scratch llama C128 L4" or the Hub id / folder. */
  label: string;
}

/** What the environment provides for pretrained students. */
export type PretrainedLoader = (source: { hub: string; revision?: string } | { path: string }, onProgress?: (p: LoadProgress) => void) => Promise<Pretrained>;

export async function loadStudent(spec: StudentSpec, opts: { loadPretrained?: PretrainedLoader; onProgress?: (p: LoadProgress) => void } = {}): Promise<Student> {
  if ('scratch' in spec || 'config' in spec) {
    const tokenizer = byteLevelTokenizer();
    let hf: HFConfig;
    let seed: number;
    if ('scratch' in spec) {
      const { arch, initSeed, ...knobs } = spec.scratch;
      // The byte tokenizer's ids: <|im_end|> ends a turn, <|endoftext|> is the BOS-like token.
      hf = tinyConfig(arch, { vocab: tokenizer.vocabSize, ...knobs, bos_token_id: 256, eos_token_id: tokenizer.eos[0] });
      seed = initSeed;
    } else {
      hf = spec.config;
      seed = spec.initSeed ?? 0;
    }
    const { arch, config } = parseConfig(hf);
    if (config.vocabSize < tokenizer.vocabSize) {
      throw new Error(`student.config: vocab_size ${config.vocabSize} is smaller than the byte-level tokenizer's ${tokenizer.vocabSize}`);
    }
    const label = `scratch ${config.arch} C${config.hiddenSize} L${config.numLayers} Hq${config.numHeads} Hkv${config.numKvHeads} F${config.intermediateSize}`;
    return { arch, config, weights: initialize(arch.parameters(config), seed), tokenizer, pretrained: false, label };
  }
  if (!opts.loadPretrained) throw new Error('this environment cannot load pretrained students (no loader given)');
  const p = await opts.loadPretrained(spec, opts.onProgress);
  if (!p.tokenizerFiles) throw new Error(`${p.source}: the model has no tokenizer.json, so its text cannot be tokenized`);
  const files = { ...p.tokenizerFiles };
  // The EOS ids of generation_config.json end generation too (Llama-3, Qwen2.5 list several).
  if (p.generationConfig && !files['generation_config.json']) files['generation_config.json'] = JSON.stringify(p.generationConfig);
  const tokenizer = loadTokenizer(files);
  const label = 'hub' in spec ? spec.hub + (spec.revision ? `@${spec.revision}` : '') : spec.path;
  return { arch: p.arch, config: p.config, weights: p.weights, tokenizer, pretrained: true, label };
}
