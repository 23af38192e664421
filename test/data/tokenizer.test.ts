import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { byteLevelTokenizer, byteLevelTokenizerFiles } from '../../src/data/byte-tokenizer.ts';
import { gpt2Files, llama3Files, qwenFiles, smollm2Files, SPECIAL_BASE } from '../fixtures/tokenizers/build.ts';

const TEXTS = ['Hello world', 'naïve café, Grüße — 日本語', 'emoji 🙂👩‍💻 and flags 🇫🇷', '  spaces\n\n\ttabs  ', "it's 1234 o'clock"];

describe('loadTokenizer', () => {
  for (const [name, files] of Object.entries({ gpt2: gpt2Files(), smollm2: smollm2Files(), qwen: qwenFiles(), llama3: llama3Files(), bytes: byteLevelTokenizerFiles() })) {
    it(`${name}: round-trips unicode and emoji`, () => {
      const tok = loadTokenizer(files);
      for (const text of TEXTS) expect(tok.decode(tok.encode(text))).toBe(text);
    });
  }

  it('uses merges (fewer tokens than bytes) and encodes special tokens inside text as their ids', () => {
    const tok = loadTokenizer(smollm2Files());
    expect(tok.encode('Hello').length).toBe(1);
    const ids = tok.encode('<|im_start|>user\nHi<|im_end|>');
    expect(ids[0]).toBe(SPECIAL_BASE + 1);
    expect(ids.at(-1)).toBe(SPECIAL_BASE + 2);
    expect(tok.decode(ids, { skipSpecial: true })).toBe('user\nHi');
  });

  it('reads EOS, BOS and pad from tokenizer_config and generation_config (EOS list)', () => {
    const qwen = loadTokenizer(qwenFiles());
    expect(qwen.eos).toEqual([SPECIAL_BASE + 2, SPECIAL_BASE]);
    expect(qwen.eosToken).toBe('<|im_end|>');
    expect(qwen.pad).toBe(SPECIAL_BASE);
    expect(qwen.bos).toBeUndefined();
    const llama = loadTokenizer(llama3Files());
    expect(llama.eos).toEqual([SPECIAL_BASE + 4, SPECIAL_BASE + 1]); // config's <|eot_id|> first
    expect(llama.bos).toBe(SPECIAL_BASE);
    expect(llama.addsBos).toBe(true);
    expect(llama.encode('Hi', { addSpecial: true })).toEqual([SPECIAL_BASE, ...llama.encode('Hi')]);
    const smol = loadTokenizer(smollm2Files());
    expect(smol.bosToken).toBe('<|im_start|>'); // AddedToken object form
    expect(smol.pad).toBe(smol.eos[0]);
    const gpt2 = loadTokenizer(gpt2Files());
    expect([gpt2.bos, gpt2.eos, gpt2.pad, gpt2.addsBos]).toEqual([SPECIAL_BASE, [SPECIAL_BASE], undefined, false]);
  });

  it('reports vocabulary size including added tokens, and looks tokens up both ways', () => {
    const tok = loadTokenizer(llama3Files());
    expect(tok.vocabSize).toBe(SPECIAL_BASE + 5);
    expect(tok.tokenToId('<|eot_id|>')).toBe(SPECIAL_BASE + 4);
    expect(tok.idToToken(SPECIAL_BASE + 4)).toBe('<|eot_id|>');
    expect(tok.specialIds.has(SPECIAL_BASE + 4)).toBe(true);
    expect(tok.decode([])).toBe('');
  });

  it('rejects files without an EOS or with broken JSON', () => {
    const files = byteLevelTokenizerFiles();
    const json = JSON.parse(files['tokenizer.json']);
    json.added_tokens = [];
    expect(() => loadTokenizer({ 'tokenizer.json': JSON.stringify(json) })).toThrow(/no EOS/);
    expect(() => loadTokenizer({ 'tokenizer.json': '{' })).toThrow(/invalid JSON/);
  });
});

describe('byte-level tokenizer', () => {
  it('is one token per UTF-8 byte plus specials, in the standard file format', () => {
    const tok = byteLevelTokenizer();
    expect(tok.vocabSize).toBe(260);
    expect(tok.encode('aé')).toEqual([97, 0xc3, 0xa9]);
    expect(tok.encode('<|im_start|>x<|im_end|><|endoftext|><|pad|>')).toEqual([257, 120, 258, 256, 259]);
    expect(tok.eos).toEqual([258, 256]);
    expect(tok.pad).toBe(259);
    expect(tok.bos).toBeUndefined();
    expect(JSON.parse(tok.files['tokenizer_config.json']!).chat_template).toContain('<|im_start|>');
  });
});
