// Choosing the next token from the logits of the last position, on the CPU (V floats read back per
// token). The processors run in Hugging Face `generate`'s order and with its semantics, so that a
// seed-free configuration (greedy) gives the same tokens as transformers and a sampling one draws
// from the same distribution: repetition penalty, then temperature, top-k, top-p, min-p, then one
// draw from the remaining softmax.
import type { Rng } from './rng.ts';

export interface SamplingOptions {
  /** Sample (true) or take the argmax (false). Default: true unless temperature is 0. */
  doSample?: boolean;
  /** Logits are divided by it before top-k/top-p/min-p. 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep the k highest logits (ties with the k-th kept, as HF). 0 = off. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches topP. 1 = off. */
  topP?: number;
  /** Drop tokens less likely than minP times the most likely one. 0 = off. */
  minP?: number;
  /**
   * HF's CTRL-style penalty on every token id in the history (prompt and generated): a positive
   * logit is divided by it, a negative one multiplied. 1 = off.
   */
  repetitionPenalty?: number;
}

/** Throws, naming the option, when an option is out of range. */
export function checkSamplingOptions(o: SamplingOptions): void {
  const bad = (name: string, v: unknown, want: string) => new Error(`sampling option ${name} = ${v}: expected ${want}`);
  if (o.temperature !== undefined && !(Number.isFinite(o.temperature) && o.temperature >= 0)) throw bad('temperature', o.temperature, 'a finite number >= 0');
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw bad('topK', o.topK, 'an integer >= 0');
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw bad('topP', o.topP, 'a number in (0, 1]');
  if (o.minP !== undefined && !(o.minP >= 0 && o.minP <= 1)) throw bad('minP', o.minP, 'a number in [0, 1]');
  if (o.repetitionPenalty !== undefined && !(Number.isFinite(o.repetitionPenalty) && o.repetitionPenalty > 0)) {
    throw bad('repetitionPenalty', o.repetitionPenalty, 'a finite number > 0');
  }
}

/** Applies the repetition penalty to `s` in place (each id in history counted once). */
export function applyRepetitionPenalty(s: Float64Array, penalty: number, history: ArrayLike<number>): void {
  if (penalty === 1 || history.length === 0) return;
  const seen = new Set<number>();
  for (let i = 0; i < history.length; i++) {
    const id = history[i];
    if (id < 0 || id >= s.length || seen.has(id)) continue;
    seen.add(id);
    const x = s[id];
    s[id] = x < 0 ? x * penalty : x / penalty;
  }
}

/** The k-th largest value of s (1 <= k <= length), with a size-k min-heap: O(V log k). */
function kthLargest(s: Float64Array, k: number): number {
  const h = new Float64Array(k);
  let n = 0;
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < n && h[l] < h[m]) m = l;
      if (r < n && h[r] < h[m]) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  };
  for (let i = 0; i < s.length; i++) {
    const x = s[i];
    if (n < k) {
      let j = n++;
      h[j] = x;
      while (j > 0 && h[(j - 1) >> 1] > h[j]) {
        const up = (j - 1) >> 1;
        [h[j], h[up]] = [h[up], h[j]];
        j = up;
      }
    } else if (x > h[0]) {
      h[0] = x;
      down(0);
    }
  }
  return h[0];
}

function argmax(s: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < s.length; i++) if (s[i] > s[best]) best = i;
  return best;
}

/** Softmax of the finite entries of s into p (f64); -Infinity entries get 0. Returns the max probability. */
function softmax(s: Float64Array, p: Float64Array): number {
  let m = -Infinity;
  for (let i = 0; i < s.length; i++) if (s[i] > m) m = s[i];
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += (p[i] = Math.exp(s[i] - m));
  let pmax = 0;
  for (let i = 0; i < s.length; i++) pmax = Math.max(pmax, (p[i] /= sum));
  return pmax;
}

/**
 * The distribution the next token is drawn from (V probabilities, zero where a processor removed
 * the token), or, for greedy decoding, the chosen token. `logits` is not modified.
 */
export function samplingDistribution(logits: Float32Array, opts: SamplingOptions, history: ArrayLike<number> = []): Float64Array | number {
  const V = logits.length;
  if (V === 0) throw new Error('sample: empty logits');
  const s = Float64Array.from(logits);
  let finite = false;
  for (let i = 0; i < V; i++) {
    // NaN or +Infinity means the model diverged; sampling around it would hide that.
    if (Number.isNaN(s[i]) || s[i] === Infinity) throw new Error(`sample: logit ${i} of ${V} is ${s[i]}`);
    finite ||= s[i] > -Infinity;
  }
  if (!finite) throw new Error(`sample: all ${V} logits are -Infinity`);
  applyRepetitionPenalty(s, opts.repetitionPenalty ?? 1, history);
  const temperature = opts.temperature ?? 1;
  const doSample = opts.doSample ?? temperature > 0;
  if (!doSample || temperature === 0) return argmax(s);
  if (temperature !== 1) for (let i = 0; i < V; i++) s[i] /= temperature;

  const topK = opts.topK ?? 0;
  if (topK > 0 && topK < V) {
    const kth = kthLargest(s, topK);
    for (let i = 0; i < V; i++) if (s[i] < kth) s[i] = -Infinity;
  }
  const p = new Float64Array(V);
  const topP = opts.topP ?? 1;
  if (topP < 1) {
    const pmax = softmax(s, p);
    // Only tokens at or above a threshold x whose set already holds topP of the mass can be kept
    // (everything below x has at least that mass ahead of it), so only those need sorting: a few
    // hundred instead of the whole vocabulary.
    let x = pmax;
    for (let mass = 0; x > 1e-300; ) {
      x /= 8;
      mass = 0;
      for (let i = 0; i < V; i++) if (p[i] >= x) mass += p[i];
      if (mass >= topP) break;
    }
    const order: number[] = [];
    for (let i = 0; i < V; i++) {
      if (p[i] > 0 && p[i] >= x) order.push(i);
      else s[i] = -Infinity;
    }
    order.sort((a, b) => p[b] - p[a] || a - b);
    // HF removes a token when the probability of it and everything less likely is <= 1 - topP,
    // i.e. keeps it while the mass of the more likely tokens is still below topP.
    let before = 0;
    for (const i of order) {
      if (before >= topP) s[i] = -Infinity;
      before += p[i];
    }
  }
  const minP = opts.minP ?? 0;
  if (minP > 0) {
    const pmax = softmax(s, p);
    for (let i = 0; i < V; i++) if (p[i] < minP * pmax) s[i] = -Infinity;
  }
  softmax(s, p);
  return p;
}

/**
 * The next token. `logits` (V) is not modified. `history` holds the token ids the repetition
 * penalty applies to. Deterministic given the rng's state; greedy decoding draws no numbers.
 */
export function sample(logits: Float32Array, opts: SamplingOptions, rng: Rng, history: ArrayLike<number> = []): number {
  const p = samplingDistribution(logits, opts, history);
  if (typeof p === 'number') return p;
  const u = rng.uniform();
  let acc = 0;
  let last = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    acc += p[i];
    last = i;
    if (u < acc) return i;
  }
  // Rounding left the cumulative sum a hair under u: the last candidate.
  return last;
}
