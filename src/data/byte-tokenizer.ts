// The tokenizer of a from-scratch student: one token per byte plus a few special tokens, written
// as an ordinary Hugging Face tokenizer.json (byte-level BPE with no merges), so it loads through
// loadTokenizer and exports exactly like a pretrained model's.
import { loadTokenizer, type TextTokenizer, type TokenizerFiles } from './tokenizer.ts';
import { CHATML_TEMPLATE } from './template.ts';

/** GPT-2's reversible byte -> printable character map, which ByteLevel pre-tokenizers expect. */
export function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const chars: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) chars[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return chars;
}

/** Ids 256.. in this order. `<|im_end|>` ends ChatML turns, so it is the primary EOS (as in Qwen2.5). */
export const BYTE_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|pad|>'] as const;

export function byteLevelTokenizerFiles(): TokenizerFiles {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((c, b) => (vocab[c] = b));
  const added = BYTE_SPECIAL_TOKENS.map((content, i) => ({
    id: 256 + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
  const config = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(added.map((t) => [String(t.id), { ...t, id: undefined }])),
    bos_token: null,
    eos_token: '<|im_end|>',
    pad_token: '<|pad|>',
    unk_token: null,
    chat_template: CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
    model_max_length: 2048,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  const generation = { eos_token_id: [258, 256], pad_token_id: 259 };
  return {
    'tokenizer.json': JSON.stringify(tokenizer),
    'tokenizer_config.json': JSON.stringify(config, null, 2),
    'generation_config.json': JSON.stringify(generation, null, 2),
  };
}

export function byteLevelTokenizer(): TextTokenizer {
  return loadTokenizer(byteLevelTokenizerFiles());
}
