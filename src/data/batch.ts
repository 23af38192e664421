// Shuffling, train/validation split and batches as flat typed arrays for the trainer.
import type { TokenizedExample } from './mask.ts';
import { IGNORE } from './mask.ts';
import { packRows } from './pack.ts';

/**
 * Mulberry32 (Tommy Ettinger's 32-bit generator): a u32 state advanced by 0x6D2B79F5 and mixed
 * with two xorshift-multiply rounds; returns floats in [0, 1). Small, fast and identical in every
 * JavaScript engine, which is all a data order needs.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Derives independent seeds (e.g. one per epoch) from one user seed. */
export function mixSeed(seed: number, stream: number): number {
  let h = Math.imul((seed >>> 0) ^ Math.imul(stream + 1, 0x9e3779b9), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Fisher–Yates with mulberry32(seed); returns a new array. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const rand = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Seeded split. `validation` below 1 is a fraction (rounded, at least 1 when items and fraction are
 * non-zero), otherwise a count. Both parts keep the input order, so the split depends only on the
 * seed and the training shuffle stays independent of it.
 */
export function splitTrainValidation<T>(items: readonly T[], opts: { validation: number; seed: number }): { train: T[]; validation: T[] } {
  const v = opts.validation;
  if (!(v >= 0)) throw new Error(`validation must be a fraction or a count >= 0, got ${v}`);
  let count = v < 1 ? Math.round(items.length * v) : Math.floor(v);
  if (v > 0 && v < 1 && items.length > 0) count = Math.max(1, count);
  count = Math.min(count, items.length);
  const picked = new Uint8Array(items.length);
  for (const i of shuffled([...items.keys()], mixSeed(opts.seed, 0x5e11)).slice(0, count)) picked[i] = 1;
  return { train: items.filter((_, i) => !picked[i]), validation: items.filter((_, i) => picked[i]) };
}

/**
 * One (B, T) batch. segmentIds: 1, 2, ... for the examples of a row, 0 for padding; a position
 * attends to earlier positions of the same non-zero segment only. positions restart at 0 in each
 * segment (0 on padding). targets are next-token targets, -100 where there is no loss.
 */
export interface Batch {
  ids: Int32Array; // (B, T)
  targets: Int32Array; // (B, T)
  segmentIds: Int32Array; // (B, T)
  positions: Int32Array; // (B, T)
  B: number;
  T: number;
  trainedTokens: number;
  /** Non-pad tokens; `tokens / (B·T)` is the padding efficiency. */
  tokens: number;
  examples: number;
  /**
   * Offline distillation, when every example carries its teacher's top-k: (B, T, K) ids and
   * log-probs; positions without a target hold ids 0..K-1 and log-prob 0 (the loss ignores them).
   */
  teacherIds?: Int32Array;
  teacherLogprobs?: Float32Array;
  teacherK?: number;
}

export function rowsToBatch(rows: readonly (readonly TokenizedExample[])[], B: number, T: number, padId: number): Batch {
  if (rows.length > B) throw new Error(`${rows.length} rows for a batch of ${B}`);
  const ids = new Int32Array(B * T).fill(padId);
  const targets = new Int32Array(B * T).fill(IGNORE);
  const segmentIds = new Int32Array(B * T);
  const positions = new Int32Array(B * T);
  let trainedTokens = 0;
  let tokens = 0;
  let examples = 0;
  rows.forEach((row, b) => {
    let at = b * T;
    row.forEach((ex, s) => {
      const n = ex.ids.length;
      if (at + n > (b + 1) * T) throw new Error(`row ${b} holds more than ${T} tokens`);
      ids.set(ex.ids, at);
      targets.set(ex.targets, at);
      segmentIds.fill(s + 1, at, at + n);
      for (let p = 0; p < n; p++) positions[at + p] = p;
      at += n;
      trainedTokens += ex.trainedTokens;
      tokens += n;
      examples++;
    });
  });
  const teacher = teacherOf(rows, B, T, targets);
  return { ids, targets, segmentIds, positions, B, T, trainedTokens, tokens, examples, ...teacher };
}

/** The examples' teacher top-k laid out on the batch's (B, T) grid, if every example has one. */
function teacherOf(rows: readonly (readonly TokenizedExample[])[], B: number, T: number, targets: Int32Array): Pick<Batch, 'teacherIds' | 'teacherLogprobs' | 'teacherK'> {
  const all = rows.flat();
  if (!all.length || !all.every((ex) => ex.teacher)) return {};
  const K = all[0].teacher!.k;
  if (!all.every((ex) => ex.teacher!.k === K)) throw new Error('examples of one batch carry teacher top-k of different sizes');
  const teacherIds = new Int32Array(B * T * K);
  const teacherLogprobs = new Float32Array(B * T * K);
  for (let i = 0; i < B * T; i++) for (let k = 0; k < K; k++) teacherIds[i * K + k] = k;
  rows.forEach((row, b) => {
    let at = b * T;
    for (const ex of row) {
      const t = ex.teacher!;
      let m = 0;
      for (let p = 0; p < ex.ids.length; p++) {
        if (targets[at + p] === IGNORE) continue;
        if ((m + 1) * K > t.ids.length) throw new Error(`${ex.source.file}:${ex.source.line}: the teacher top-k covers ${t.ids.length / K} trained tokens, the example has more`);
        teacherIds.set(t.ids.subarray(m * K, (m + 1) * K), (at + p) * K);
        teacherLogprobs.set(t.logprobs.subarray(m * K, (m + 1) * K), (at + p) * K);
        m++;
      }
      at += ex.ids.length;
    }
  });
  return { teacherIds, teacherLogprobs, teacherK: K };
}

export function paddingEfficiency(batches: Iterable<Pick<Batch, 'tokens' | 'B' | 'T'>>): number {
  let used = 0;
  let total = 0;
  for (const b of batches) {
    used += b.tokens;
    total += b.B * b.T;
  }
  return total === 0 ? 1 : used / total;
}

export interface BatchOptions {
  batchSize: number;
  /** Row length. Required when packing; without packing, rows are padded to the batch's longest unless `fixedLength`. */
  seqLen?: number;
  pack?: boolean;
  fixedLength?: boolean;
  padId: number;
  seed: number;
  /** Drop a last incomplete batch instead of filling it with empty (all-padding) rows. */
  dropLast?: boolean;
}

/** One epoch: shuffled with mixSeed(seed, epoch), then packed or padded into (B, T) batches. */
export function* epochBatches(examples: readonly TokenizedExample[], opts: BatchOptions, epoch = 0): Generator<Batch> {
  const B = opts.batchSize;
  const order = shuffled(examples, mixSeed(opts.seed, epoch));
  if (opts.pack && !opts.seqLen) throw new Error('packing needs seqLen');
  const rows = opts.pack ? packRows(order, opts.seqLen!) : order.map((ex) => [ex]);
  for (let i = 0; i < rows.length; i += B) {
    const group = rows.slice(i, i + B);
    if (group.length < B && opts.dropLast) return;
    const longest = Math.max(...group.map((r) => r.reduce((n, ex) => n + ex.ids.length, 0)));
    const T = opts.pack || opts.fixedLength ? opts.seqLen! : longest;
    if (opts.seqLen && longest > opts.seqLen) throw new Error(`an example of ${longest} tokens exceeds seqLen ${opts.seqLen}`);
    yield rowsToBatch(group, B, T, opts.padId);
  }
}

export function* iterateBatches(
  examples: readonly TokenizedExample[],
  opts: BatchOptions & { epochs: number },
): Generator<{ epoch: number; step: number; batch: Batch }> {
  let step = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) for (const batch of epochBatches(examples, opts, epoch)) yield { epoch, step: step++, batch };
}

/** The pad id to use: the model's, else its first EOS (masking never looks at ids, so that is safe). */
export function padIdOf(tokenizer: { pad?: number; eos: number[] }): number {
  return tokenizer.pad ?? tokenizer.eos[0];
}
