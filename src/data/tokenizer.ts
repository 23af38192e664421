// One tokenizer interface for every student: Hugging Face `tokenizer.json` files run through
// @huggingface/tokenizers, so a pretrained model and a from-scratch byte-level one (built in the
// same format by byte-tokenizer.ts) take the same path and export the same way.
import { Tokenizer } from '@huggingface/tokenizers';

/** The text of a model folder's tokenizer files, by file name. Only `tokenizer.json` is required. */
export type TokenizerFiles = Record<string, string | undefined> & { 'tokenizer.json': string };

export interface TextTokenizer {
  /** `addSpecial` runs the tokenizer's post-processor (e.g. a BOS prefix). Default false. */
  encode(text: string, opts?: { addSpecial?: boolean }): number[];
  decode(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean }): string;
  /** Highest id + 1 over the model vocabulary and the added tokens: the embedding's row count. */
  readonly vocabSize: number;
  readonly bos?: number;
  /** Every id that ends a generation. `eos[0]` is the one appended after a trained response. */
  readonly eos: number[];
  /** Unset when the model defines none; batching then pads with `eos[0]` (safe: see mask.ts). */
  readonly pad?: number;
  /** Token strings handed to chat templates as `bos_token` / `eos_token` / `pad_token`. */
  readonly bosToken?: string;
  readonly eosToken: string;
  readonly padToken?: string;
  /** Whether `encode(text, { addSpecial: true })` puts `bos` in front. */
  readonly addsBos: boolean;
  /** Ids of the added tokens marked special (skipped by `decode(..., { skipSpecial: true })`). */
  readonly specialIds: ReadonlySet<number>;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
  /** The files it was loaded from, kept for export. */
  readonly files: TokenizerFiles;
}

type Json = Record<string, unknown>;

function parseJson(files: TokenizerFiles, name: string): Json | undefined {
  const text = files[name];
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Json;
  } catch (e) {
    throw new Error(`${name}: invalid JSON (${(e as Error).message})`);
  }
  throw new Error(`${name}: expected a JSON object`);
}

/** Config files give special tokens either as strings or as serialised AddedToken objects. */
function tokenString(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as Json).content === 'string') return (value as Json).content as string;
  return undefined;
}

function idList(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.filter((v): v is number => typeof v === 'number');
  return [];
}

// Fallbacks for base models whose configs name no EOS (rare, but GPT-2 era folders exist).
const EOS_GUESSES = ['<|endoftext|>', '</s>', '<|end_of_text|>', '<|im_end|>', '<eos>'];

export function loadTokenizer(files: TokenizerFiles): TextTokenizer {
  const json = parseJson(files, 'tokenizer.json');
  if (!json) throw new Error('tokenizer.json is required');
  const config = parseJson(files, 'tokenizer_config.json') ?? {};
  const generation = parseJson(files, 'generation_config.json') ?? {};
  const specialMap = parseJson(files, 'special_tokens_map.json') ?? {};
  // The library requires these keys to exist; many real files omit the null ones.
  const full: Json = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...json };
  // Keep decode lossless unless the model asks for GPT-2's space clean-up explicitly.
  const libConfig: Json = { ...config, clean_up_tokenization_spaces: config.clean_up_tokenization_spaces === true };
  const tk = new Tokenizer(full, libConfig);

  const lookup = (token: string | undefined): number | undefined => (token === undefined ? undefined : tk.token_to_id(token));
  const configToken = (key: string): string | undefined => tokenString(config[key]) ?? tokenString(specialMap[key]);

  let vocabSize = 0;
  for (const id of tk.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);

  const eos: number[] = [];
  const addEos = (id: number | undefined) => {
    if (id !== undefined && id >= 0 && id < vocabSize && !eos.includes(id)) eos.push(id);
  };
  // The config's eos_token is what templates end turns with, so it is the one we append.
  addEos(lookup(configToken('eos_token')));
  for (const id of idList(generation.eos_token_id)) addEos(id);
  if (eos.length === 0) for (const guess of EOS_GUESSES) if (eos.length === 0) addEos(lookup(guess));
  if (eos.length === 0) throw new Error('no EOS token: set eos_token in tokenizer_config.json or eos_token_id in generation_config.json');

  const bos = lookup(configToken('bos_token')) ?? idList(generation.bos_token_id)[0];
  const pad = lookup(configToken('pad_token')) ?? idList(generation.pad_token_id)[0];
  const tokenOf = (id: number | undefined) => (id === undefined ? undefined : tk.id_to_token(id));

  const specialIds = new Set<number>();
  for (const [id, added] of tk.get_added_tokens_decoder()) if (added.special) specialIds.add(id);

  const encode = (text: string, opts?: { addSpecial?: boolean }) =>
    text.length === 0 && !opts?.addSpecial ? [] : tk.encode(text, { add_special_tokens: opts?.addSpecial ?? false }).ids;
  const probe = encode('a', { addSpecial: true });
  const addsBos = bos !== undefined && probe.length > 1 && probe[0] === bos;

  return {
    encode,
    decode(ids, opts) {
      // The library throws on an empty list and wants a real array.
      if (ids.length === 0) return '';
      return tk.decode(Array.from(ids), { skip_special_tokens: opts?.skipSpecial ?? false });
    },
    vocabSize,
    bos,
    eos,
    pad,
    bosToken: tokenOf(bos),
    eosToken: tokenOf(eos[0])!,
    padToken: tokenOf(pad),
    addsBos,
    specialIds,
    tokenToId: (token) => tk.token_to_id(token),
    idToToken: (id) => tk.id_to_token(id),
    files,
  };
}
