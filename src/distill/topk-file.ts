// The offline teacher: a dataset's teacher top-k stored beside it as safetensors, so distillation
// can run without the teacher's weights and forward. Only positions with a target are stored
// (M = the dataset's trained tokens), in example order:
//   ids       (M, K) U16 when V ≤ 65536, else I32
//   logprobs  (M, K) F16 (log-softmax over the teacher's whole vocabulary at temperature 1)
//   offsets   (E + 1) I32: example e owns rows offsets[e] .. offsets[e + 1]
// metadata: format "pupil-topk", version, teacher, k, vocab_size, tokenizer (fingerprint) and
// examples: a JSON array of E keys, each a hash of an example's token ids AND targets, so a changed
// template, mask, tokenizer, truncation or dataset shows up as examples without an entry.
import type { TokenizedExample } from '../data/mask.ts';
import { parseSafetensors, toFloat32, writeSafetensors, type TensorEntry } from '../models/safetensors.ts';
import { MAX_TOP_K } from '../ops/distill.ts';

export const TOPK_FORMAT = 'pupil-topk';
export const TOPK_VERSION = 1;

export interface TopKData {
  teacher: string;
  k: number;
  vocabSize: number;
  tokenizer: string;
  /** One per example, exampleKey(). */
  keys: string[];
  /** (E + 1) row offsets. */
  offsets: Int32Array;
  /** (M, K) ids and natural-log probabilities. */
  ids: Uint16Array | Int32Array;
  logprobs: Float32Array;
}

export class TopKFileError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'TopKFileError';
  }
}

/** A 64-bit hash (two FNV-1a style lanes) of an example's ids and targets, as 16 hex digits. */
export function exampleKey(ex: Pick<TokenizedExample, 'ids' | 'targets'>): string {
  let a = 0x811c9dc5 ^ ex.ids.length, b = 0x9e3779b9;
  const mix = (x: number) => {
    a = Math.imul(a ^ (x & 0xffff), 0x01000193);
    a = Math.imul(a ^ (x >>> 16), 0x01000193);
    b = Math.imul(b ^ x ^ (a >>> 11), 0x5bd1e995);
    b ^= b >>> 15;
  };
  for (let i = 0; i < ex.ids.length; i++) mix(ex.ids[i]);
  mix(0x7fffffff);
  for (let i = 0; i < ex.targets.length; i++) mix(ex.targets[i]);
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

const F16_MIN = -65504;

export function encodeTopK(d: TopKData): Uint8Array {
  const E = d.keys.length, M = d.offsets[E] ?? 0, K = d.k;
  if (d.offsets.length !== E + 1) throw new Error(`top-k file: ${d.offsets.length} offsets for ${E} examples`);
  if (d.ids.length !== M * K || d.logprobs.length !== M * K) throw new Error(`top-k file: ids/logprobs hold ${d.ids.length}/${d.logprobs.length} values, expected ${M} × ${K}`);
  const wide = d.vocabSize > 65536;
  // f16 cannot hold a log-probability below −65504; such a token is as good as absent anyway.
  const lps = Float32Array.from(d.logprobs, (x) => Math.max(F16_MIN, x));
  return writeSafetensors(
    [
      ['ids', { dtype: wide ? 'I32' : 'U16', shape: [M, K], data: d.ids }],
      ['logprobs', { dtype: 'F16', shape: [M, K], data: lps }],
      ['offsets', { dtype: 'I32', shape: [E + 1], data: d.offsets }],
    ],
    { format: TOPK_FORMAT, version: String(TOPK_VERSION), teacher: d.teacher, k: String(K), vocab_size: String(d.vocabSize), tokenizer: d.tokenizer, examples: JSON.stringify(d.keys) },
  );
}

/** Parses and checks a top-k file; every error names the file and what is wrong. */
export function decodeTopK(bytes: Uint8Array, file: string): TopKData {
  let st;
  try {
    st = parseSafetensors(bytes, file);
  } catch (e) {
    throw new TopKFileError(file, `not a readable safetensors file (${(e as Error).message})`);
  }
  const m = st.metadata ?? {};
  if (m.format !== TOPK_FORMAT) throw new TopKFileError(file, `not a Pupil top-k file (metadata format is ${JSON.stringify(m.format)}, expected "${TOPK_FORMAT}")`);
  if (m.version !== String(TOPK_VERSION)) throw new TopKFileError(file, `version ${m.version} is not supported (this Pupil reads version ${TOPK_VERSION})`);
  const int = (key: string, min: number, max: number): number => {
    const v = Number(m[key]);
    if (!(m[key] !== undefined && Number.isInteger(v) && v >= min && v <= max)) throw new TopKFileError(file, `metadata ${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(m[key])}`);
    return v;
  };
  const vocabSize = int('vocab_size', 1, 2 ** 31 - 1);
  const k = int('k', 1, Math.min(MAX_TOP_K, vocabSize));
  let keys: unknown;
  try {
    keys = JSON.parse(m.examples ?? 'null');
  } catch {
    keys = null;
  }
  if (!Array.isArray(keys) || !keys.every((x) => typeof x === 'string')) throw new TopKFileError(file, 'metadata examples must be a JSON array of example keys');
  const tensor = (name: string, dtypes: string[], rank: number): TensorEntry => {
    const t = st.tensors.get(name);
    if (!t) throw new TopKFileError(file, `tensor ${name} is missing`);
    if (!dtypes.includes(t.dtype) || t.shape.length !== rank) throw new TopKFileError(file, `tensor ${name} is ${t.dtype} (${t.shape.join(', ')}), expected ${dtypes.join(' or ')} of rank ${rank}`);
    return t;
  };
  const E = keys.length;
  const offsetsT = tensor('offsets', ['I32'], 1);
  const idsT = tensor('ids', [vocabSize > 65536 ? 'I32' : 'U16'], 2);
  const lpT = tensor('logprobs', ['F16', 'F32'], 2);
  if (offsetsT.shape[0] !== E + 1) throw new TopKFileError(file, `offsets has ${offsetsT.shape[0]} entries for ${E} examples (expected ${E + 1})`);
  const offsets = Int32Array.from(toFloat32(offsetsT));
  const M = offsets[E];
  for (let e = 0; e < E; e++) if (!(offsets[e] <= offsets[e + 1])) throw new TopKFileError(file, `offsets decrease at example ${e}`);
  if (offsets[0] !== 0) throw new TopKFileError(file, `offsets must start at 0, got ${offsets[0]}`);
  for (const [name, t] of [['ids', idsT], ['logprobs', lpT]] as const) {
    if (t.shape[0] !== M || t.shape[1] !== k) throw new TopKFileError(file, `${name} has shape (${t.shape.join(', ')}), expected (${M}, ${k}) from offsets and k`);
  }
  const ids = idsT.dtype === 'U16' ? new Uint16Array(M * k) : new Int32Array(M * k);
  const dv = new DataView(idsT.bytes.buffer, idsT.bytes.byteOffset, idsT.bytes.byteLength);
  for (let i = 0; i < M * k; i++) {
    const id = idsT.dtype === 'U16' ? dv.getUint16(2 * i, true) : dv.getInt32(4 * i, true);
    if (!(id >= 0 && id < vocabSize)) throw new TopKFileError(file, `ids[${Math.floor(i / k)}, ${i % k}] = ${id} is outside the vocabulary [0, ${vocabSize})`);
    ids[i] = id;
  }
  const logprobs = toFloat32(lpT);
  for (let i = 0; i < logprobs.length; i++) if (!(logprobs[i] <= 0)) throw new TopKFileError(file, `logprobs[${Math.floor(i / k)}, ${i % k}] = ${logprobs[i]} is not a log-probability (≤ 0)`);
  return { teacher: m.teacher ?? '', k, vocabSize, tokenizer: m.tokenizer ?? '', keys: keys as string[], offsets, ids, logprobs };
}

/**
 * Gives each example its rows of the file (views, no copy). Throws when any example has no entry
 * or an entry of the wrong length, naming how many and the first one's source.
 */
export function attachTopK(examples: readonly TokenizedExample[], d: TopKData, file: string): void {
  const index = new Map<string, number>();
  d.keys.forEach((k, e) => {
    if (!index.has(k)) index.set(k, e);
  });
  const missing: TokenizedExample[] = [];
  for (const ex of examples) {
    const e = index.get(exampleKey(ex));
    if (e === undefined || d.offsets[e + 1] - d.offsets[e] !== ex.trainedTokens) {
      missing.push(ex);
      continue;
    }
    const from = d.offsets[e] * d.k, to = d.offsets[e + 1] * d.k;
    ex.teacher = { k: d.k, ids: d.ids.subarray(from, to), logprobs: d.logprobs.subarray(from, to) };
  }
  if (missing.length) {
    const s = missing[0].source;
    throw new TopKFileError(file, `${missing.length} of ${examples.length} examples have no teacher top-k entry, the first from ${s.file}:${s.line}; the file was computed for other data, tokenization, template, mask or maximum length: run pupil distill topk again with the same settings`);
  }
}
