// A pretrained student from Hugging Face-shaped files: config.json through the registry, weights
// from model.safetensors or a sharded model.safetensors.index.json (f32, f16, bf16, widened to
// f32), the tokenizer files and generation_config.json as they are. Every tensor is checked
// against the architecture's parameter list (names and shapes) and all problems are reported
// together, so a wrong checkpoint fails once with the whole story.
//
// Node-only sources and defaults (a folder on disk, HF_* variables, a cache folder) are in
// load-node.ts; this file runs in pages and workers.
import type { TokenizerFiles } from '../data/tokenizer.ts';
import type { Architecture } from './architecture.ts';
import type { HFConfig, ModelConfig } from './config.ts';
import { defaultBrowserCache, type FileCache } from './hub/cache.ts';
import type { DownloadProgress } from './hub/download.ts';
import { DEFAULT_REVISION } from './hub/hub.ts';
import { checkFileName, hubSource, pickedFilesSource, urlSource, type FileSource, type RemoteOptions } from './hub/sources.ts';
import { parseConfig } from './registry.ts';
import { parseSafetensors, readSafetensorsHeader, toFloat32, type Dtype, type TensorEntry } from './safetensors.ts';

/** A Hub repo id (`owner/name`, or `owner/name@revision`), or one of the explicit forms. */
export type ModelSource =
  | string
  | { repo: string; revision?: string }
  | { url: string }
  | { files: Iterable<File> | ArrayLike<File> }
  | FileSource;

export interface LoadProgress extends DownloadProgress {
  file: string;
  /** Bytes of this load so far, every file together. */
  overallLoaded: number;
  /**
   * Expected bytes of the whole load. Exact once the last weights file has started; before that,
   * a sharded checkpoint's remaining shards are estimated from the index's total_size.
   */
  overallTotal?: number;
  overallFraction?: number;
}

export interface LoadOptions extends Omit<RemoteOptions, 'cache'> {
  /** Hub endpoint (default https://huggingface.co). */
  endpoint?: string;
  /** Default: OPFS or the Cache API in a page or worker, none elsewhere. null: no cache. */
  cache?: FileCache | null;
  /** Skip the tokenizer files (default: load them). */
  tokenizer?: boolean;
  onProgress?: (p: LoadProgress) => void;
}

export interface Pretrained {
  arch: Architecture;
  config: ModelConfig;
  /** By Hugging Face name, exactly the architecture's parameters (tied weights omitted). */
  weights: Map<string, Float32Array>;
  /** Undefined when the source has no tokenizer.json. */
  tokenizerFiles?: TokenizerFiles;
  generationConfig?: Record<string, unknown>;
  /** The checkpoint's storage dtype (the most common one when mixed). */
  dtype: Dtype;
  /** Weights files read, in order. */
  weightFiles: string[];
  /** Checkpoint tensors Hugging Face also ignores (attention mask buffers, a tied lm_head copy). */
  ignored: string[];
  source: string;
}

/** Files a tokenizer may need; only tokenizer.json is required for one to exist. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'chat_template.json'] as const;

const FLOAT_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16'];

/** A wrong checkpoint for its config: lists the missing, unexpected and mis-shaped tensors. */
export class WeightsMismatchError extends Error {
  constructor(
    readonly source: string,
    readonly problems: { missing: string[]; unexpected: string[]; misshaped: string[]; dtype: string[] },
  ) {
    const list = (title: string, xs: string[]) => (xs.length ? [`${title} (${xs.length}): ${xs.slice(0, 8).join(', ')}${xs.length > 8 ? ', …' : ''}`] : []);
    super(
      `${source}: the weights do not match config.json: ${[
        ...list('missing', problems.missing),
        ...list('unexpected', problems.unexpected),
        ...list('wrong shape', problems.misshaped),
        ...list('unsupported dtype', problems.dtype),
      ].join('; ')}`,
    );
    this.name = 'WeightsMismatchError';
  }
}

export function resolveSource(source: ModelSource, opts: LoadOptions = {}): FileSource {
  const cache = opts.cache === null ? undefined : (opts.cache ?? defaultBrowserCache());
  const remote: RemoteOptions & { endpoint?: string } = { ...opts, cache };
  if (typeof source === 'string') {
    const at = source.indexOf('@');
    return at < 0 ? hubSource(source, DEFAULT_REVISION, remote) : hubSource(source.slice(0, at), source.slice(at + 1), remote);
  }
  if ('read' in source && 'label' in source) return source;
  if ('repo' in source) return hubSource(source.repo, source.revision ?? DEFAULT_REVISION, remote);
  if ('url' in source) return urlSource(source.url, remote);
  return pickedFilesSource(source.files);
}

export async function loadPretrained(source: ModelSource, opts: LoadOptions = {}): Promise<Pretrained> {
  const src = resolveSource(source, opts);
  const progress = new Progress(opts.onProgress);
  const read = (file: string, optional: boolean, validate?: (b: Uint8Array, f: string) => void) =>
    src.read(file, { optional, validate, onProgress: (p) => progress.update(file, p) });
  const json = async (file: string, optional: boolean) => {
    const bytes = await read(file, optional, (b, f) => void parseJsonObject(b, `${src.label}: ${f}`));
    return bytes && parseJsonObject(bytes, `${src.label}: ${file}`);
  };

  const hf = (await json('config.json', false)) as HFConfig;
  const { arch, config } = parseConfig(hf);
  const generationConfig = await json('generation_config.json', true);
  let tokenizerFiles: TokenizerFiles | undefined;
  if (opts.tokenizer !== false) {
    const texts: Record<string, string> = {};
    for (const f of TOKENIZER_FILES) {
      const b = await read(f, true);
      if (b) texts[f] = new TextDecoder().decode(b);
    }
    if (texts['tokenizer.json'] !== undefined) tokenizerFiles = texts as TokenizerFiles;
  }

  // Single file first, as transformers does; the index only when there is no single file.
  const checkSafetensors = (b: Uint8Array, f: string) => void readSafetensorsHeader(b, { file: `${src.label}: ${f}`, fileSize: b.length });
  const matcher = new WeightMatcher(arch, config, src.label);
  const weightFiles: string[] = [];
  const single = await read('model.safetensors', true, checkSafetensors);
  if (single) {
    matcher.add(parseSafetensors(single, 'model.safetensors').tensors, 'model.safetensors');
    weightFiles.push('model.safetensors');
  } else {
    const index = await json('model.safetensors.index.json', true);
    if (!index) throw new Error(`${src.label}: neither model.safetensors nor model.safetensors.index.json is there (pytorch_model.bin is not supported: convert the checkpoint to safetensors)`);
    const { shards, totalSize } = readIndex(index, src.label);
    progress.expect(totalSize, shards.length);
    for (const shard of shards) {
      // The shard's bytes are dropped once its tensors are widened, so peak memory is one shard.
      const bytes = (await read(shard.file, false, checkSafetensors))!;
      const tensors = parseSafetensors(bytes, shard.file).tensors;
      for (const name of shard.names) if (!tensors.has(name)) throw new Error(`${src.label}: model.safetensors.index.json puts ${name} in ${shard.file}, which does not contain it`);
      matcher.add(tensors, shard.file);
      weightFiles.push(shard.file);
      progress.shardDone();
    }
  }
  const { weights, ignored, dtype } = matcher.finish();
  return { arch, config, weights, tokenizerFiles, generationConfig, dtype, weightFiles, ignored, source: src.label };
}

function parseJsonObject(bytes: Uint8Array, where: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** Shards in file order with the tensors the index assigns to each. */
function readIndex(index: Record<string, unknown>, label: string): { shards: { file: string; names: string[] }[]; totalSize?: number } {
  const where = `${label}: model.safetensors.index.json`;
  const map = index.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new Error(`${where}: weight_map must be an object of tensor name → file`);
  const byFile = new Map<string, string[]>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string') throw new Error(`${where}: weight_map[${JSON.stringify(name)}] must be a file name`);
    checkFileName(file, where);
    if (!byFile.has(file)) byFile.set(file, []);
    byFile.get(file)!.push(name);
  }
  if (byFile.size === 0) throw new Error(`${where}: weight_map is empty`);
  const total = (index.metadata as Record<string, unknown> | undefined)?.total_size;
  const shards = [...byFile].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([file, names]) => ({ file, names }));
  return { shards, totalSize: typeof total === 'number' && total > 0 ? total : undefined };
}

// Buffers Hugging Face drops on load (`_keys_to_ignore_on_load_unexpected`): GPT-2's causal mask
// and masked_bias, RoPE inverse frequencies saved by old Llama checkpoints.
const IGNORED = [/(^|\.)attn\.(masked_)?bias$/, /(^|\.)rotary_emb\.inv_freq$/];

/** Maps checkpoint tensors onto the parameter list, widening each to f32 as it arrives. */
class WeightMatcher {
  private readonly shapes = new Map<string, number[]>();
  private readonly weights = new Map<string, Float32Array>();
  private readonly ignored: string[] = [];
  private readonly problems = { missing: [] as string[], unexpected: [] as string[], misshaped: [] as string[], dtype: [] as string[] };
  private readonly dtypes = new Map<Dtype, number>();
  /** Found but refused (wrong shape or dtype): reported as such, not again as missing. */
  private readonly refused = new Set<string>();
  /** Checkpoints saved from the bare model (GPT2Model, LlamaModel) lack this prefix. */
  private readonly prefix: string;
  private readonly tiedHead?: string;

  constructor(arch: Architecture, config: ModelConfig, private readonly label: string) {
    const specs = arch.parameters(config);
    for (const s of specs) this.shapes.set(s.name, s.shape);
    this.prefix = specs[0].name.split('.')[0] + '.';
    if (config.tieWordEmbeddings && !this.shapes.has('lm_head.weight')) this.tiedHead = 'lm_head.weight';
  }

  add(tensors: Map<string, TensorEntry>, file: string): void {
    for (const [raw, t] of tensors) {
      const name = this.shapes.has(raw) || !this.shapes.has(this.prefix + raw) ? raw : this.prefix + raw;
      const shape = this.shapes.get(name);
      if (!shape) {
        // A tied checkpoint may still carry lm_head.weight: transformers re-ties it to the embedding.
        if (name === this.tiedHead || IGNORED.some((r) => r.test(name))) this.ignored.push(raw);
        else this.problems.unexpected.push(`${raw} (${file})`);
        continue;
      }
      if (this.weights.has(name) || this.refused.has(name)) {
        this.problems.unexpected.push(`${raw} (${file}, a second copy)`);
        continue;
      }
      if (!FLOAT_DTYPES.includes(t.dtype)) {
        this.problems.dtype.push(`${raw} is ${t.dtype} (f32, f16 or bf16 expected)`);
        this.refused.add(name);
        continue;
      }
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        this.problems.misshaped.push(`${raw} is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
        this.refused.add(name);
        continue;
      }
      this.weights.set(name, toFloat32(t, raw));
      this.dtypes.set(t.dtype, (this.dtypes.get(t.dtype) ?? 0) + 1);
    }
  }

  finish(): { weights: Map<string, Float32Array>; ignored: string[]; dtype: Dtype } {
    for (const name of this.shapes.keys()) if (!this.weights.has(name) && !this.refused.has(name)) this.problems.missing.push(name);
    const p = this.problems;
    if (p.missing.length || p.unexpected.length || p.misshaped.length || p.dtype.length) throw new WeightsMismatchError(this.label, p);
    // Parameter order, so a ParamStore layout and an export see the same order every time.
    const ordered = new Map([...this.shapes.keys()].map((n) => [n, this.weights.get(n)!]));
    const dtype = [...this.dtypes].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
    return { weights: ordered, ignored: this.ignored, dtype };
  }
}

/** Sums per-file progress into one figure for the whole load. */
class Progress {
  private done = 0;
  private current = { file: '', loaded: 0, total: undefined as number | undefined };
  private remainingEstimate = 0;
  private perShard = 0;
  private shardsLeft = 0;

  constructor(private readonly cb?: (p: LoadProgress) => void) {}

  expect(totalSize: number | undefined, shards: number): void {
    if (!totalSize) return;
    this.remainingEstimate = totalSize;
    this.perShard = totalSize / shards;
    this.shardsLeft = shards;
  }

  shardDone(): void {
    this.shardsLeft = Math.max(0, this.shardsLeft - 1);
    this.remainingEstimate = Math.max(0, this.remainingEstimate - this.perShard);
  }

  update(file: string, p: DownloadProgress): void {
    if (file !== this.current.file) {
      this.done += this.current.total ?? this.current.loaded;
      this.current = { file, loaded: 0, total: undefined };
    }
    this.current.loaded = p.loaded;
    this.current.total = p.total;
    if (!this.cb) return;
    // While a shard is in flight, its own estimate is replaced by its real size.
    const future = this.shardsLeft > 0 ? Math.max(0, this.remainingEstimate - this.perShard) : 0;
    const overallTotal = p.total === undefined ? undefined : this.done + p.total + future;
    const overallLoaded = this.done + p.loaded;
    this.cb({ file, ...p, overallLoaded, overallTotal, overallFraction: overallTotal ? Math.min(1, overallLoaded / overallTotal) : undefined });
  }
}
