// `pupil export SOURCE --out DIR`: a checkpoint folder, a Hugging Face folder or a Hub repo id,
// written out as a Hugging Face folder (config.json, model.safetensors, tokenizer files,
// generation_config.json) that transformers and Pupil load; with `--format onnx`, as a
// transformers.js folder (onnx/model.onnx with a KV cache, config.json, tokenizer files).
import { parseArgs } from 'node:util';
import { BYTE_SPECIAL_TOKENS, byteLevelTokenizerFiles } from '../../data/byte-tokenizer.ts';
import { exportHuggingFaceToFolder, writeFolder } from '../../models/export-node.ts';
import type { ExportDtype } from '../../models/export.ts';
import { loadPretrainedNode } from '../../models/load-node.ts';
import { exportOnnx } from '../../models/onnx/export.ts';
import { readTokenizerDir } from './data.ts';

const USAGE = `usage: pupil export SOURCE --out DIR [--format safetensors|onnx] [--dtype f32|f16|bf16] [--tokenizer DIR] [--chat-template FILE]

SOURCE is a checkpoint folder (pupil train --out), a Hugging Face model folder, or a Hub repo id.
The tokenizer comes from SOURCE, else --tokenizer, else the byte-level tokenizer when the model's
vocabulary is the byte-level one (${256 + BYTE_SPECIAL_TOKENS.length} tokens, scratch students).

--format safetensors (default): a Hugging Face folder for transformers and Pupil.
--format onnx: a transformers.js folder (onnx/model.onnx, f32, KV cache; llama, qwen2, gpt2), which
  @huggingface/transformers and onnxruntime run; weights past 2 GB go to onnx/model.onnx_data.`;

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o' },
        format: { type: 'string', default: 'safetensors' },
        dtype: { type: 'string', default: 'f32' },
        tokenizer: { type: 'string' },
        'chat-template': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    console.error(`pupil export: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [source] = positionals;
  if (!source || !values.out || positionals.length > 1) {
    console.error(`pupil export: ${!source ? 'SOURCE is missing' : !values.out ? '--out DIR is missing' : `one SOURCE expected, got ${positionals.join(' ')}`}\n\n${USAGE}`);
    return 2;
  }
  const format = values.format;
  if (format !== 'safetensors' && format !== 'onnx') {
    console.error(`pupil export: --format must be safetensors or onnx, got ${format}`);
    return 2;
  }
  if (format === 'onnx' && values.dtype !== 'f32') {
    console.error(`pupil export: --format onnx writes f32 weights only, got --dtype ${values.dtype}`);
    return 2;
  }
  const dtype = values.dtype as ExportDtype;
  if (!['f32', 'f16', 'bf16'].includes(dtype)) {
    console.error(`pupil export: --dtype must be f32, f16 or bf16, got ${values.dtype}`);
    return 2;
  }
  try {
    const model = await loadPretrainedNode(source);
    let tokenizerFiles: Record<string, string | undefined> | undefined = model.tokenizerFiles;
    if (values.tokenizer) tokenizerFiles = readTokenizerDir(values.tokenizer);
    if (!tokenizerFiles && model.config.vocabSize === 256 + BYTE_SPECIAL_TOKENS.length) tokenizerFiles = byteLevelTokenizerFiles();
    if (!tokenizerFiles) {
      console.error(`pupil export: ${source} has no tokenizer.json and its vocabulary (${model.config.vocabSize}) is not the byte-level one; pass --tokenizer DIR`);
      return 1;
    }
    const chatTemplate = values['chat-template'] ? (await import('node:fs')).readFileSync(values['chat-template'], 'utf8') : undefined;
    const input = { config: model.config, weights: model.weights, tokenizerFiles, generationConfig: model.generationConfig, chatTemplate };
    const written = format === 'onnx' ? await writeFolder(values.out, exportOnnx(input)) : await exportHuggingFaceToFolder(values.out, { ...input, dtype });
    const params = [...model.weights.values()].reduce((a, w) => a + w.length, 0);
    console.log(`exported ${model.config.arch} (${(params / 1e6).toFixed(2)}M parameters, ${format === 'onnx' ? 'onnx f32' : dtype}) from ${source} to ${values.out}: ${written.join(', ')}`);
    return 0;
  } catch (e) {
    console.error(`pupil export: ${(e as Error).message}`);
    return 1;
  }
}
