// ROUGE-L as the `rouge_score` package computes it with its defaults (no stemming), which is what
// Self-Instruct and Alpaca use to drop a generated instruction too close to one already in the
// pool. Pure TypeScript: runs in the browser and in Node.

export interface RougeScore {
  precision: number;
  recall: number;
  fmeasure: number;
}

/** rouge_score's default tokenizer: lowercase, every run of non [a-z0-9] is a separator. */
export function rougeTokenize(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .split(' ')
    .filter((t) => t.length > 0);
}

/** Length of the longest common subsequence; O(|a|·|b|) time, O(min) memory. */
export function lcsLength<T>(a: ArrayLike<T>, b: ArrayLike<T>): number {
  if (a.length < b.length) [a, b] = [b, a];
  const n = b.length;
  if (n === 0) return 0;
  const row = new Uint32Array(n + 1);
  for (let i = 0; i < a.length; i++) {
    const ai = a[i];
    let diag = 0; // row[j] of the previous i, before it is overwritten
    for (let j = 1; j <= n; j++) {
      const up = row[j];
      row[j] = ai === b[j - 1] ? diag + 1 : up > row[j - 1] ? up : row[j - 1];
      diag = up;
    }
  }
  return row[n];
}

function score(lcs: number, targetLen: number, predictionLen: number): RougeScore {
  if (lcs === 0 || targetLen === 0 || predictionLen === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const precision = lcs / predictionLen;
  const recall = lcs / targetLen;
  return { precision, recall, fmeasure: (2 * precision * recall) / (precision + recall) };
}

/** `RougeScorer(['rougeL']).score(target, prediction)['rougeL']`. */
export function rougeL(target: string, prediction: string): RougeScore {
  const t = rougeTokenize(target);
  const p = rougeTokenize(prediction);
  return score(lcsLength(t, p), t.length, p.length);
}

interface Entry {
  ids: Int32Array;
  /** Distinct token ids with their counts, for the overlap bound. */
  counts: Map<number, number>;
}

export interface RougeMatch {
  /** Best F-measure found (0 for an empty pool). */
  score: number;
  /** Index of the best pool entry in insertion order, -1 if none scored above 0. */
  index: number;
}

/**
 * A growing set of texts to compare candidates against. Tokens are interned to integers once; an
 * inverted index visits only the entries sharing a token with the candidate, and a pair only pays
 * for its LCS while its upper bound could still beat the best so far: F = 2·LCS/(|a|+|b|) with
 * LCS ≤ Σ_t min(count_a(t), count_b(t)).
 */
export class RougePool {
  private vocab = new Map<string, number>();
  private entries: Entry[] = [];
  /** token id → entries holding it (each once), so a candidate only visits entries it overlaps. */
  private postings: number[][] = [];
  private overlap = new Int32Array(0);
  readonly texts: string[] = [];

  constructor(texts: Iterable<string> = []) {
    for (const t of texts) this.add(t);
  }

  get size(): number {
    return this.entries.length;
  }

  add(text: string): void {
    const e = this.encode(text, true);
    const k = this.entries.length;
    for (const id of e.counts.keys()) (this.postings[id] ??= []).push(k);
    this.entries.push(e);
    this.texts.push(text);
  }

  /**
   * Best ROUGE-L F-measure of `candidate` against the pool. With `stopAbove`, returns as soon as
   * one entry scores strictly above it (the score is then that entry's, not necessarily the max),
   * which is all a filter needs.
   */
  max(candidate: string, opts: { stopAbove?: number } = {}): RougeMatch {
    const c = this.encode(candidate, false);
    const lc = c.ids.length;
    let best = 0;
    let index = -1;
    if (lc === 0) return { score: 0, index };
    // Multiset overlap Σ_t min(count_c(t), count_e(t)) for every entry sharing a token.
    if (this.overlap.length < this.entries.length) this.overlap = new Int32Array(Math.max(64, 2 * this.entries.length));
    const overlap = this.overlap;
    const touched: number[] = [];
    for (const [id, n] of c.counts) {
      const list = id >= 0 ? this.postings[id] : undefined;
      if (!list) continue;
      for (const k of list) {
        if (overlap[k] === 0) touched.push(k);
        const m = this.entries[k].counts.get(id)!;
        overlap[k] += n < m ? n : m;
      }
    }
    // Best bound first, so the real maximum is found early and prunes the rest.
    const bound = (k: number) => (2 * overlap[k]) / (lc + this.entries[k].ids.length);
    touched.sort((x, y) => bound(y) - bound(x) || x - y);
    for (const k of touched) {
      if (bound(k) <= best) break;
      const e = this.entries[k];
      const f = score(lcsLength(e.ids, c.ids), e.ids.length, lc).fmeasure;
      if (f > best || (f === best && f > 0 && k < index)) {
        best = f;
        index = k;
        if (opts.stopAbove !== undefined && best > opts.stopAbove) break;
      }
    }
    for (const k of touched) overlap[k] = 0;
    return { score: best, index };
  }

  private encode(text: string, intern: boolean): Entry {
    const toks = rougeTokenize(text);
    const ids = new Int32Array(toks.length);
    const counts = new Map<number, number>();
    for (let i = 0; i < toks.length; i++) {
      let id = this.vocab.get(toks[i]);
      if (id === undefined) {
        if (intern) {
          id = this.vocab.size;
          this.vocab.set(toks[i], id);
        } else {
          // A token the pool has never seen matches nothing; distinct negatives keep it so.
          id = -1 - i;
        }
      }
      ids[i] = id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return { ids, counts };
  }
}

/** Best ROUGE-L F-measure of `candidate` against `pool` (strings or a prepared RougePool). */
export function maxRougeL(candidate: string, pool: RougePool | readonly string[], opts: { stopAbove?: number } = {}): RougeMatch {
  const p = pool instanceof RougePool ? pool : new RougePool(pool);
  return p.max(candidate, opts);
}
