// A fine-tuned student as a Hugging Face folder: what `save_pretrained` writes for a causal LM,
// so `AutoModelForCausalLM.from_pretrained(folder)` and `AutoTokenizer` take it as it is.
// - config.json: the original fields kept (rope_scaling, ids, ...), the shape fields rewritten
//   from the ModelConfig the weights were built for, `architectures`, `torch_dtype`,
//   `tie_word_embeddings`, bos/eos.
// - model.safetensors (or shards + model.safetensors.index.json): exactly the architecture's
//   parameters, tied weights omitted (transformers re-ties them on load), metadata {format: 'pt'}.
// - generation_config.json, the tokenizer files, the chat template in tokenizer_config.json.
// Returns bytes by file name: zip.ts turns them into a browser download, export-node.ts into a folder.
import type { Architecture } from './architecture.ts';
import type { HFConfig, ModelConfig } from './config.ts';
import { architectures } from './registry.ts';
import { writeSafetensors, type Dtype, type WriteTensor } from './safetensors.ts';

export type ExportDtype = 'f32' | 'f16' | 'bf16';

export interface ExportInput {
  config: ModelConfig;
  /** By Hugging Face name: every parameter of the architecture, nothing else. */
  weights: ReadonlyMap<string, Float32Array>;
  /** A tokenizer's files (TextTokenizer.files): copied, except those this export writes itself. */
  tokenizerFiles?: Readonly<Record<string, string | undefined>>;
  /** Default: the tokenizer files' generation_config.json, then bos/eos from the config. */
  generationConfig?: Record<string, unknown>;
  /** Written into tokenizer_config.json as `chat_template` (and other template files dropped). */
  chatTemplate?: string;
  /** Storage dtype of the weights (default f32, which reloads bit for bit). */
  dtype?: ExportDtype;
  /** Largest weights file before sharding (default 2 GB, so each file fits one ArrayBuffer). */
  maxShardBytes?: number;
}

const CLASS: Record<string, string> = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', gpt2: 'GPT2LMHeadModel' };
const TORCH_DTYPE: Record<ExportDtype, string> = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' };
const ST_DTYPE: Record<ExportDtype, Dtype> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };
const F16_MAX = 65504;
/** Files the export writes itself; a tokenizer's copy of any of them is not taken. */
const OWN = /^(config\.json|generation_config\.json|model(-\d+-of-\d+)?\.safetensors(\.index\.json)?)$/;

export class ExportError extends Error {
  constructor(message: string) {
    super(`export: ${message}`);
    this.name = 'ExportError';
  }
}

export function exportHuggingFace(input: ExportInput): Map<string, Uint8Array> {
  const { config } = input;
  const dtype = input.dtype ?? 'f32';
  if (!(dtype in ST_DTYPE)) throw new ExportError(`dtype ${JSON.stringify(dtype)} is not one of f32, f16, bf16`);
  const arch = architectures().find((a) => a.name === config.arch);
  if (!arch || !CLASS[config.arch]) throw new ExportError(`no Hugging Face export for architecture ${config.arch}`);
  const enc = new TextEncoder();
  const json = (v: unknown) => enc.encode(JSON.stringify(v, null, 2) + '\n');
  const out = new Map<string, Uint8Array>();
  out.set('config.json', json(hfConfig(config, dtype)));
  out.set('generation_config.json', json(generationConfig(input)));
  for (const [name, bytes] of weightFiles(arch, input, dtype)) out.set(name, bytes);
  for (const [name, text] of tokenizerFiles(input)) out.set(name, enc.encode(text));
  return out;
}

/** config.json as transformers reads it, consistent with the weights being written. */
export function hfConfig(cfg: ModelConfig, dtype: ExportDtype = 'f32'): HFConfig {
  const hf: HFConfig = { ...cfg.hf, architectures: [CLASS[cfg.arch]], model_type: cfg.arch };
  if (cfg.arch === 'gpt2') {
    Object.assign(hf, { vocab_size: cfg.vocabSize, n_embd: cfg.hiddenSize, n_layer: cfg.numLayers, n_head: cfg.numHeads, n_inner: cfg.intermediateSize, n_positions: cfg.maxPositions, layer_norm_epsilon: cfg.normEps });
  } else {
    Object.assign(hf, {
      vocab_size: cfg.vocabSize, hidden_size: cfg.hiddenSize, num_hidden_layers: cfg.numLayers, num_attention_heads: cfg.numHeads,
      num_key_value_heads: cfg.numKvHeads, intermediate_size: cfg.intermediateSize,
      max_position_embeddings: cfg.maxPositions, rms_norm_eps: cfg.normEps, rope_theta: cfg.ropeTheta,
    });
    // Older Qwen2 code ignores head_dim; write it only where it says something.
    if ('head_dim' in cfg.hf || cfg.headDim * cfg.numHeads !== cfg.hiddenSize) hf.head_dim = cfg.headDim;
  }
  hf.tie_word_embeddings = cfg.tieWordEmbeddings;
  if (cfg.bosTokenId !== undefined) hf.bos_token_id = cfg.bosTokenId;
  if (cfg.eosTokenId !== undefined) hf.eos_token_id = cfg.eosTokenId;
  hf.torch_dtype = TORCH_DTYPE[dtype];
  // transformers >= 4.56 writes and prefers `dtype`: a stale one would contradict torch_dtype.
  if ('dtype' in hf) hf.dtype = TORCH_DTYPE[dtype];
  return hf;
}

export function generationConfig(input: ExportInput): Record<string, unknown> {
  let g = input.generationConfig;
  const text = input.tokenizerFiles?.['generation_config.json'];
  if (!g && text) {
    try {
      g = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new ExportError(`the tokenizer's generation_config.json is not valid JSON (${(e as Error).message})`);
    }
  }
  const out: Record<string, unknown> = { ...g };
  if (out.bos_token_id === undefined && input.config.bosTokenId !== undefined) out.bos_token_id = input.config.bosTokenId;
  if (out.eos_token_id === undefined && input.config.eosTokenId !== undefined) out.eos_token_id = input.config.eosTokenId;
  return out;
}

export function* tokenizerFiles(input: ExportInput): Generator<[string, string]> {
  const files = { ...input.tokenizerFiles };
  if (input.chatTemplate !== undefined) {
    // transformers reads chat_template.jinja / chat_template.json before tokenizer_config.json:
    // leaving an old one next to the new template would silently win over it.
    delete files['chat_template.jinja'];
    delete files['chat_template.json'];
    let tc: Record<string, unknown> = {};
    if (files['tokenizer_config.json']) {
      try {
        tc = JSON.parse(files['tokenizer_config.json']) as Record<string, unknown>;
      } catch (e) {
        throw new ExportError(`tokenizer_config.json is not valid JSON (${(e as Error).message})`);
      }
    }
    files['tokenizer_config.json'] = JSON.stringify({ ...tc, chat_template: input.chatTemplate }, null, 2) + '\n';
  }
  for (const [name, text] of Object.entries(files)) if (text !== undefined && !OWN.test(name)) yield [name, text];
}

/** Throws an ExportError listing every weight that is unexpected, missing or of the wrong size. */
export function checkWeights(arch: Architecture, config: ModelConfig, weights: ReadonlyMap<string, Float32Array>): void {
  const specs = arch.parameters(config);
  const problems: string[] = [];
  const expected = new Set(specs.map((s) => s.name));
  for (const name of weights.keys()) if (!expected.has(name)) problems.push(`unexpected ${name}`);
  for (const s of specs) {
    const w = weights.get(s.name);
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (!w) problems.push(`missing ${s.name}`);
    else if (w.length !== n) problems.push(`${s.name} has ${w.length} values, expected ${n} for [${s.shape.join(', ')}]`);
  }
  if (problems.length) throw new ExportError(`the weights do not match the ${arch.name} config: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? '; …' : ''}`);
}

/** Checks the weights against the parameter list, then writes one file or shards + index. */
function weightFiles(arch: Architecture, input: ExportInput, dtype: ExportDtype): Map<string, Uint8Array> {
  checkWeights(arch, input.config, input.weights);
  const tensors: [string, WriteTensor][] = [];
  for (const s of arch.parameters(input.config)) {
    const w = input.weights.get(s.name)!;
    if (dtype === 'f16') checkF16Range(s.name, w);
    tensors.push([s.name, { dtype: ST_DTYPE[dtype], shape: s.shape, data: w }]);
  }

  const meta = { format: 'pt' };
  const maxBytes = input.maxShardBytes ?? 2e9;
  const elem = dtype === 'f32' ? 4 : 2;
  const shards: [string, WriteTensor][][] = [[]];
  let size = 0;
  for (const t of tensors) {
    const bytes = t[1].shape.reduce((a, b) => a * b, 1) * elem;
    if (size > 0 && size + bytes > maxBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(t);
    size += bytes;
  }
  if (shards.length === 1) return new Map([['model.safetensors', writeSafetensors(tensors, meta, 'model.safetensors')]]);
  const out = new Map<string, Uint8Array>();
  const weightMap: Record<string, string> = {};
  const pad = (i: number) => String(i).padStart(5, '0');
  let total = 0;
  shards.forEach((list, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    for (const [name, t] of list) {
      weightMap[name] = file;
      total += t.shape.reduce((a, b) => a * b, 1) * elem;
    }
    out.set(file, writeSafetensors(list, meta, file));
  });
  const index = { metadata: { total_size: total }, weight_map: Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : 1))) };
  out.set('model.safetensors.index.json', new TextEncoder().encode(JSON.stringify(index, null, 2) + '\n'));
  return out;
}

function checkF16Range(name: string, w: Float32Array): void {
  for (let i = 0; i < w.length; i++) {
    // Rounding reaches infinity from 65520 up; anything past f16's largest finite value is refused.
    if (Math.abs(w[i]) > F16_MAX) throw new ExportError(`${name}[${i}] = ${w[i]} overflows float16 (largest ${F16_MAX}): export as bf16 or f32`);
  }
}
