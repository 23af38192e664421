// A fine-tuned student as a transformers.js model folder:
//   onnx/model.onnx            the decoder with its KV cache (decoder.ts, llama.ts, gpt2.ts), f32
//                              weights inside
//   onnx/model.onnx_data[_N]   the weights instead, when asked or when they pass ~2 GB (a protobuf
//                              message cannot exceed 2 GiB); each chunk stays under 2 GB so it fits
//                              one ArrayBuffer, and transformers.js fetches exactly these names
//   config.json                as the safetensors export writes it, plus `transformers.js_config`
//                              (dtype fp32, so the library picks model.onnx rather than looking
//                              for a quantized model_quantized.onnx; use_external_data_format)
//   generation_config.json and the tokenizer files, as the safetensors export writes them.
// `AutoModelForCausalLM.from_pretrained` and `pipeline('text-generation', ...)` load it as it is;
// so does onnxruntime (web or node) on onnx/model.onnx.
import type { ModelConfig } from '../config.ts';
import { checkWeights, generationConfig, hfConfig, tokenizerFiles, type ExportInput } from '../export.ts';
import { architectures } from '../registry.ts';
import { OnnxExportError } from './decoder.ts';
import { gpt2Graph } from './gpt2.ts';
import type { GraphBuilder } from './graph.ts';
import { llamaGraph } from './llama.ts';
import { encodeModel } from './proto.ts';

export { OnnxExportError } from './decoder.ts';

export const ONNX_OPSET = 17;
const IR_VERSION = 8; // the IR that goes with opset 17
/** Largest .onnx file or external data chunk: under 2 GiB, protobuf's and ArrayBuffer's common limit. */
const MAX_FILE_BYTES = 2_000_000_000;
/** Tensors in external data start on this boundary (lets runtimes map them without copying). */
const ALIGN = 4096;

export interface OnnxExportInput extends Omit<ExportInput, 'dtype' | 'maxShardBytes'> {
  /** Weights in onnx/model.onnx_data instead of inside the graph (default: only when too big). */
  externalData?: boolean;
  /** Largest external data chunk (default 2e9); tests lower it to check chunking. */
  maxChunkBytes?: number;
}

const GRAPHS: Record<string, (cfg: ModelConfig, w: ReadonlyMap<string, Float32Array>) => GraphBuilder> = { llama: llamaGraph, qwen2: llamaGraph, gpt2: gpt2Graph };

export function exportOnnx(input: OnnxExportInput): Map<string, Uint8Array> {
  const { config } = input;
  const build = GRAPHS[config.arch];
  if (!build) throw new OnnxExportError(`no ONNX graph for architecture ${config.arch} (supported: ${Object.keys(GRAPHS).join(', ')}); export it with --format safetensors`);
  checkWeights(architectures().find((a) => a.name === config.arch)!, config, input.weights);
  const g = build(config, input.weights);

  const maxChunk = input.maxChunkBytes ?? MAX_FILE_BYTES;
  const external = input.externalData ?? g.weightBytes > MAX_FILE_BYTES - 50_000_000;
  const out = new Map<string, Uint8Array>();
  let chunks = 0;
  if (external) {
    const files = placeExternal(g, maxChunk);
    files.forEach((bytes, i) => out.set(`onnx/${chunkName(i)}`, bytes));
    chunks = files.length;
  }
  const model = encodeModel({
    graphName: `pupil_${config.arch}`,
    nodes: g.nodes,
    initializers: g.initializers,
    inputs: g.inputs,
    outputs: g.outputs,
    opset: ONNX_OPSET,
    irVersion: IR_VERSION,
    producer: 'pupil',
  });
  if (model.length > MAX_FILE_BYTES) throw new OnnxExportError(`onnx/model.onnx would be ${(model.length / 1e9).toFixed(2)} GB, over protobuf's 2 GiB limit; export with external data`);
  out.set('onnx/model.onnx', model);

  const enc = new TextEncoder();
  const json = (v: unknown) => enc.encode(JSON.stringify(v, null, 2) + '\n');
  const tjs: Record<string, unknown> = { dtype: 'fp32' };
  if (chunks > 0) tjs.use_external_data_format = { 'model.onnx': chunks };
  out.set('config.json', json({ ...hfConfig(config, 'f32'), 'transformers.js_config': tjs }));
  out.set('generation_config.json', json(generationConfig(input)));
  for (const [name, text] of tokenizerFiles(input)) out.set(name, enc.encode(text));
  return out;
}

/** transformers.js's names for external data chunks of model.onnx. */
function chunkName(i: number): string {
  return `model.onnx_data${i === 0 ? '' : `_${i}`}`;
}

/** Moves every float initializer's bytes into chunks; returns the chunk files. */
function placeExternal(g: GraphBuilder, maxChunk: number): Uint8Array[] {
  const plan: { t: (typeof g.initializers)[number]; chunk: number; offset: number }[] = [];
  const sizes: number[] = [0];
  for (const t of g.initializers) {
    if (t.raw.length < 1024) continue; // constants and norm weights stay inline
    if (t.raw.length > maxChunk) throw new OnnxExportError(`${t.name} alone is ${t.raw.length} bytes, more than one external data file holds (${maxChunk})`);
    let c = sizes.length - 1;
    let offset = Math.ceil(sizes[c] / ALIGN) * ALIGN;
    if (offset + t.raw.length > maxChunk && sizes[c] > 0) {
      sizes.push(0);
      c++;
      offset = 0;
    }
    plan.push({ t, chunk: c, offset });
    sizes[c] = offset + t.raw.length;
  }
  const files = sizes.map((n) => new Uint8Array(n));
  for (const { t, chunk, offset } of plan) {
    files[chunk].set(t.raw, offset);
    t.external = { location: chunkName(chunk), offset, length: t.raw.length };
  }
  return files;
}

