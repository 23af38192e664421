import { describe, it, expect } from 'vitest';
import { generate, generateText, type GenerateOptions } from '../../src/generate/generate.ts';
import { Rng } from '../../src/generate/rng.ts';
import { sample } from '../../src/generate/sampler.ts';
import { IncrementalDecoder, StopMatcher } from '../../src/generate/stop.ts';
import type { CausalLM, GenerateEvent } from '../../src/generate/types.ts';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { byteLevelTokenizerFiles } from '../../src/data/byte-tokenizer.ts';

// The byte-level tokenizer of from-scratch students: ids 0-255 are bytes, 256 <|endoftext|>,
// 257 <|im_start|>, 258 <|im_end|>, 259 <|pad|>; eos = [258, 256].
const tok = loadTokenizer(byteLevelTokenizerFiles());
const bytes = (s: string) => Array.from(new TextEncoder().encode(s));
const EOS = 258;

/**
 * A CPU stand-in for the GPU model: logits are a row of a bigram table (the last cached token's),
 * plus, when a script is given, a +20 spike on the script's token for the current position, so a
 * greedy run spells out the script. It checks the protocol: reset before prefill, no decode past
 * maxLength, and it reuses its logits buffer as a GPU model would.
 */
class FakeLM implements CausalLM {
  readonly vocabSize = tok.vocabSize;
  readonly calls: string[] = [];
  private cache: number[] = [];
  private readonly logits = new Float32Array(this.vocabSize);
  private readonly table: Float32Array;
  failAt = -1;

  constructor(readonly maxLength = 64, private readonly script?: number[], seed = 1, readonly promptLength = 0) {
    const r = new Rng(seed);
    this.table = Float32Array.from({ length: this.vocabSize * this.vocabSize }, () => 4 * (r.uniform() - 0.5));
  }

  get length(): number {
    return this.cache.length;
  }

  reset(): void {
    this.calls.push('reset');
    this.cache = [];
  }

  private append(ids: number[]): Float32Array {
    if (this.cache.length + ids.length > this.maxLength) throw new Error(`FakeLM: cache overflow at ${this.cache.length + ids.length}`);
    if (this.cache.length === this.failAt) throw new Error('FakeLM: device lost');
    this.cache.push(...ids);
    const last = this.cache[this.cache.length - 1];
    this.logits.set(this.table.subarray(last * this.vocabSize, (last + 1) * this.vocabSize));
    const next = this.cache.length - this.promptLength;
    if (this.script && next < this.script.length) this.logits[this.script[next]] += 20;
    return this.logits;
  }

  async prefill(ids: Int32Array): Promise<Float32Array> {
    this.calls.push(`prefill ${ids.length}`);
    return this.append(Array.from(ids));
  }

  async decode(id: number): Promise<Float32Array> {
    this.calls.push(`decode ${id}`);
    return this.append([id]);
  }
}

const prompt = bytes('Q: ');
const scripted = (text: string, tail: number[] = [EOS], maxLength = 64) => new FakeLM(maxLength, [...bytes(text), ...tail], 1, prompt.length);
const greedy: GenerateOptions = { tokenizer: tok, sampling: { temperature: 0 } };

async function collect(model: CausalLM, opts: GenerateOptions, ids = prompt) {
  const g = generate(model, ids, opts);
  const events: GenerateEvent[] = [];
  for await (const e of g) events.push(e);
  return { events, deltas: events.map((e) => e.text), result: await g.result };
}

describe('incremental text', () => {
  it('never emits half a character, and the deltas add up to the decoded text', () => {
    const ids = bytes('aé€👋 z');
    const d = new IncrementalDecoder(tok, prompt);
    const deltas = ids.map((id) => d.push(id));
    expect(deltas).toEqual(['a', '', 'é', '', '', '€', '', '', '', '👋', ' ', 'z']);
    expect(d.flush()).toBe('');
    const cut = new IncrementalDecoder(tok);
    expect(bytes('€').slice(0, 2).map((id) => cut.push(id)).join('')).toBe('');
    expect(cut.flush()).toBe('\uFFFD');
  });

  it('holds back a possible stop string until the next text resolves it', () => {
    const m = new StopMatcher(['<END>', '\n\n']);
    expect(m.push('abc<')).toEqual({ text: 'abc', stopped: false });
    expect(m.push('EN')).toEqual({ text: '', stopped: false });
    expect(m.push('x <E')).toEqual({ text: '<ENx ', stopped: false });
    expect(m.push('ND> more')).toEqual({ text: '', stopped: true });
    expect(m.matched).toBe('<END>');
    const n = new StopMatcher(['<END>', 'D>']);
    // The earliest occurrence wins, even when another stop string completes at the same time.
    expect(n.push('a<END>')).toEqual({ text: 'a', stopped: true });
    expect(n.matched).toBe('<END>');
    expect(() => new StopMatcher([''])).toThrow(/must not be empty/);
  });
});

describe('generate', () => {
  it('streams deltas that concatenate to the final text and stops at EOS', async () => {
    const text = 'Hello, wörld! 👋 bye';
    const model = scripted(text);
    const { events, deltas, result } = await collect(model, greedy);
    expect(result.finishReason).toBe('eos');
    expect(result.text).toBe(text);
    expect(deltas.join('')).toBe(text);
    expect(deltas.some((d) => d.includes('\uFFFD'))).toBe(false);
    expect(result.tokens).toEqual([...bytes(text), EOS]);
    expect(events.map((e) => e.token)).toEqual(result.tokens);
    expect(result.promptTokens).toBe(prompt.length);
    // One prefill, then one decode per sampled token except the last.
    expect(model.calls).toEqual(['reset', `prefill ${prompt.length}`, ...bytes(text).map((b) => `decode ${b}`)]);
  });

  it('finds a stop string split across tokens, excludes it, and withholds its start while unresolved', async () => {
    const { events, deltas, result } = await collect(scripted('x<Ey<END>zz'), { ...greedy, stop: ['<END>'] });
    expect(result.finishReason).toBe('stop');
    expect(result.stop).toBe('<END>');
    expect(result.text).toBe('x<Ey');
    expect(deltas).toEqual(['x', '', '', '<Ey', '', '', '', '', '']);
    // Generation ends on the token that completes the stop string.
    expect(events.at(-1)!.token).toBe('>'.charCodeAt(0));
  });

  it('releases a held-back partial stop string when the length limit or EOS ends generation', async () => {
    const byLength = await collect(scripted('ab<EN', []), { ...greedy, stop: ['<END>'], maxNewTokens: 5 });
    expect(byLength.result.finishReason).toBe('length');
    expect(byLength.deltas).toEqual(['a', 'b', '', '', '<EN']);
    expect(byLength.result.text).toBe('ab<EN');
    const byEos = await collect(scripted('ab<E'), { ...greedy, stop: ['<END>'] });
    expect(byEos.result.finishReason).toBe('eos');
    expect(byEos.deltas.join('')).toBe('ab<E');
    expect(byEos.result.text).toBe('ab<E');
  });

  it("stops at the model's maxLength and at any listed EOS id; special tokens add no text", async () => {
    const full = scripted('abcdefgh', [], prompt.length + 4);
    const { result } = await collect(full, greedy);
    expect(result.finishReason).toBe('length');
    expect(result.text).toBe('abcd');
    expect(full.calls.filter((c) => c.startsWith('decode'))).toHaveLength(3);
    const other = await collect(scripted('ab', [256]), greedy);
    expect(other.result.finishReason).toBe('eos');
    expect((await collect(scripted('ab', [256]), { ...greedy, eos: [EOS] })).result.text).not.toContain('endoftext');
    const special = await collect(scripted('a', [257, 98, EOS]), greedy);
    expect(special.result.text).toBe('ab');
  });

  it('is cancelled by an AbortSignal or by leaving the loop, without further model calls', async () => {
    const model = scripted('abcdefgh');
    const ctl = new AbortController();
    const g = generate(model, prompt, { ...greedy, signal: ctl.signal });
    const seen: string[] = [];
    for await (const e of g) {
      seen.push(e.text);
      if (seen.length === 3) ctl.abort();
    }
    const r = await g.result;
    expect(r.finishReason).toBe('cancelled');
    expect(r.text).toBe('abc');
    expect(model.calls.filter((c) => c.startsWith('decode'))).toHaveLength(2);

    const g2 = generate(scripted('abcdefgh'), prompt, greedy);
    for await (const e of g2) if (e.text === 'b') break;
    expect((await g2.result).finishReason).toBe('cancelled');
    expect((await g2.result).tokens).toEqual(bytes('ab'));

    const pre = new AbortController();
    pre.abort();
    const untouched = scripted('ab');
    const r3 = await generateText(untouched, prompt, { ...greedy, signal: pre.signal });
    expect(r3.finishReason).toBe('cancelled');
    expect(untouched.calls).toEqual([]);
  });

  it('samples like a hand-written loop over the same logits: seeded, reproducible, seed-sensitive', async () => {
    const sampling = { temperature: 0.9, topK: 50, topP: 0.95, repetitionPenalty: 1.2 };
    const opts = { maxNewTokens: 20, eos: [], sampling };
    const run = async (seed: number) => (await generateText(new FakeLM(), [1, 2, 3], { ...opts, seed })).tokens;
    const a = await run(5);
    expect(await run(5)).toEqual(a);
    expect(await run(6)).not.toEqual(a);
    // The reference loop: sample, append, feed back.
    const model = new FakeLM();
    const rng = new Rng(5);
    const history = [1, 2, 3];
    let logits = await model.prefill(Int32Array.from(history));
    const want: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = sample(logits, sampling, rng, history);
      want.push(t);
      history.push(t);
      logits = await model.decode(t);
    }
    expect(a).toEqual(want);
    // A shared rng continues its stream across generations.
    const shared = new Rng(5);
    const first = await generateText(new FakeLM(), [1, 2, 3], { ...opts, maxNewTokens: 8, rng: shared });
    expect(first.tokens).toEqual(a.slice(0, 8));
    expect(shared.state()).not.toEqual(new Rng(5).state());
  });

  it('passes model errors to the loop and to result, and rejects bad arguments up front', async () => {
    const model = scripted('abcdef');
    model.failAt = prompt.length + 2;
    const g = generate(model, prompt, greedy);
    const seen: string[] = [];
    await expect((async () => { for await (const e of g) seen.push(e.text); })()).rejects.toThrow(/device lost/);
    await expect(g.result).rejects.toThrow(/device lost/);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(() => generate(model, [], greedy)).toThrow(/prompt is empty/);
    expect(() => generate(new FakeLM(4), [1, 2, 3, 4], greedy)).toThrow(/prompt has 4 tokens, the model holds at most 4/);
    expect(() => generate(model, [999], greedy)).toThrow(/prompt token 999 is outside the vocabulary/);
    expect(() => generate(model, prompt, { sampling: { topP: 0 } })).toThrow(/topP = 0/);
    expect(() => generate(model, prompt, { stop: ['x'] })).toThrow(/stop strings need a tokenizer/);
    expect(() => generate(model, prompt, { maxNewTokens: 0 })).toThrow(/maxNewTokens must be a positive integer/);
  });
});
