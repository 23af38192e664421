import { describe, expect, it } from 'vitest';
import { IGNORE, tokenizeExample, tokenizeExamples, trainedMask, type TokenizeOptions, type TokenizedExample } from '../../src/data/mask.ts';
import { byteLevelTokenizer } from '../../src/data/byte-tokenizer.ts';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { alpacaRenderer, jinjaRenderer, resolveRenderer, CHATML_TEMPLATE } from '../../src/data/template.ts';
import { trainedSpans, markTrained } from '../../src/data/render.ts';
import type { ChatExample, CompletionExample, Message } from '../../src/data/types.ts';
import { gpt2Files, llama3Files, smollm2Files } from '../fixtures/tokenizers/build.ts';

const source = { file: 'data.jsonl', line: 1, record: 0 };
const chat = (messages: Message[], extra: Partial<ChatExample> = {}): ChatExample => ({ kind: 'chat', messages, source, ...extra });
const bytes = byteLevelTokenizer();
const chatml: TokenizeOptions = { tokenizer: bytes, renderer: jinjaRenderer(CHATML_TEMPLATE, bytes) };

function ok(r: ReturnType<typeof tokenizeExample>): TokenizedExample {
  if (!r.ok) throw new Error(`rejected: ${r.rejection.reason} ${r.rejection.message}`);
  return r.example;
}
/** The trained tokens, decoded run by run. */
const trainedText = (ex: TokenizedExample, opts: TokenizeOptions) => trainedSpans(ex, opts.tokenizer).filter((s) => s.trained).map((s) => s.text);

const convo: Message[] = [
  { role: 'system', content: 'Sys' },
  { role: 'user', content: 'Q1' },
  { role: 'assistant', content: 'A1' },
  { role: 'user', content: 'Q2' },
  { role: 'assistant', content: 'A2' },
];

describe('loss masks', () => {
  it('checks ChatML token by token: assistant content + <|im_end|> trained, the rest not', () => {
    const ex = ok(tokenizeExample(chat(convo.slice(1, 3)), chatml));
    const text = '<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n';
    expect(bytes.decode(ex.ids)).toBe(text);
    const expectedMask = Array.from(ex.ids, () => 0);
    const firstA = ex.ids.length - 4; // 'A', '1', <|im_end|>, '\n'
    expectedMask[firstA] = expectedMask[firstA + 1] = expectedMask[firstA + 2] = 1;
    expect(Array.from(trainedMask(ex))).toEqual(expectedMask);
    // shifted targets: position t predicts ids[t+1]
    for (let t = 0; t < ex.ids.length; t++) expect(ex.targets[t]).toBe(expectedMask[t + 1] ? ex.ids[t + 1] : IGNORE);
    expect(ex.ids[firstA + 2]).toBe(258);
    expect(ex.trainedTokens).toBe(3);
  });

  it('trains every assistant turn by default, only the last with last-assistant, everything with all-tokens', () => {
    expect(trainedText(ok(tokenizeExample(chat(convo), chatml)), chatml)).toEqual(['A1<|im_end|>', 'A2<|im_end|>']);
    expect(trainedText(ok(tokenizeExample(chat(convo), { ...chatml, policy: 'last-assistant' })), chatml)).toEqual(['A2<|im_end|>']);
    const all = ok(tokenizeExample(chat(convo), { ...chatml, policy: 'all-tokens' }));
    expect(all.trainedTokens).toBe(all.ids.length - 1);
  });

  it('lets per-message weights override the policy', () => {
    const msgs: Message[] = [convo[0], { ...convo[1], weight: 1 }, { ...convo[2], weight: 0 }, convo[3], convo[4]];
    expect(trainedText(ok(tokenizeExample(chat(msgs), chatml)), chatml)).toEqual(['<|im_start|>user\nQ1<|im_end|>\n', 'A2<|im_end|>']);
  });

  it('keeps EOS trained when pad == EOS (SmolLM2)', () => {
    const tok = loadTokenizer(smollm2Files());
    expect(tok.pad).toBe(tok.eos[0]);
    const opts = { tokenizer: tok, renderer: resolveRenderer('model', tok) };
    const ex = ok(tokenizeExample(chat(convo.slice(1, 3)), opts));
    const eosAt = ex.ids.lastIndexOf(tok.eos[0]);
    expect(trainedMask(ex)[eosAt]).toBe(1);
    expect(ex.targets[eosAt - 1]).toBe(tok.eos[0]);
    expect(trainedText(ex, opts)).toEqual(['A1<|im_end|>']);
  });

  it('trains Llama-3 <|eot_id|> and does not add a second EOS', () => {
    const tok = loadTokenizer(llama3Files());
    const opts = { tokenizer: tok, renderer: resolveRenderer('model', tok) };
    const ex = ok(tokenizeExample(chat(convo.slice(1, 3)), opts));
    expect(trainedText(ex, opts)).toEqual(['A1<|eot_id|>']);
    expect(Array.from(ex.ids).filter((id) => tok.eos.includes(id))).toHaveLength(2); // user's and assistant's <|eot_id|>
  });

  it('appends EOS after responses whose template has none (Alpaca on GPT-2)', () => {
    const tok = loadTokenizer(gpt2Files());
    const opts = { tokenizer: tok, renderer: alpacaRenderer };
    const ex = ok(tokenizeExample(chat(convo.slice(1, 3), { alpaca: { instruction: 'Q1', input: 'in', output: 'A1' } }), opts));
    expect(tok.decode(ex.ids)).toMatch(/### Input:\nin\n\n### Response:\nA1<\|endoftext\|>$/);
    expect(trainedText(ex, opts)).toEqual(['A1<|endoftext|>']);
  });

  it('completions: prompt (with BOS when the tokenizer adds one) untrained, completion + EOS trained', () => {
    const tok = loadTokenizer(llama3Files());
    const ex = ok(tokenizeExample({ kind: 'completion', prompt: 'The sky is', completion: ' blue', source } satisfies CompletionExample, { tokenizer: tok }));
    expect(ex.ids[0]).toBe(tok.bos);
    expect(ex.ids.at(-1)).toBe(tok.eos[0]);
    expect(trainedText(ex, { tokenizer: tok })).toEqual([' blue<|eot_id|>']);
  });

  it('rejects examples with no trainable token, and too-long ones by default', () => {
    const noAssistant = tokenizeExample(chat([convo[1]]), chatml);
    expect(noAssistant.ok ? null : noAssistant.rejection.reason).toBe('no-trainable-tokens');
    const zero = tokenizeExample(chat([convo[1], { ...convo[2], weight: 0 }]), chatml);
    expect(zero.ok ? null : zero.rejection.reason).toBe('no-trainable-tokens');
    const long = tokenizeExample(chat(convo), { ...chatml, maxLength: 20 });
    expect(long.ok ? null : long.rejection).toMatchObject({ reason: 'too-long', source });
    const { examples, rejections } = tokenizeExamples([chat(convo), chat([convo[1]])], chatml);
    expect([examples.length, rejections.length]).toEqual([1, 1]);
  });

  it('truncates left (keeping the response) or right when asked', () => {
    const left = ok(tokenizeExample(chat(convo.slice(1, 3)), { ...chatml, maxLength: 10, tooLong: 'truncate-left' }));
    expect(left.ids.length).toBe(10);
    expect(trainedText(left, chatml)).toEqual(['A1<|im_end|>']);
    expect(left.note).toMatch(/truncated/);
    const right = tokenizeExample(chat(convo.slice(1, 3)), { ...chatml, maxLength: 10, tooLong: 'truncate-right' });
    expect(right.ok ? null : right.rejection.reason).toBe('no-trainable-tokens');
  });

  it('falls back to the last turn for templates that are not prefix-stable, and rejects broken ones', () => {
    // Rewrites earlier assistant turns (as reasoning-stripping templates do).
    const unstable = "{% for m in messages %}{% if m.role == 'assistant' and not loop.last %}[old]{% else %}<{{ m.role }}>{{ m.content }}<|im_end|>{% endif %}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
    const opts = { tokenizer: bytes, renderer: jinjaRenderer(unstable, bytes) };
    const ex = ok(tokenizeExample(chat(convo), opts));
    expect(trainedText(ex, opts)).toEqual(['A2<|im_end|>']);
    expect(ex.note).toMatch(/not prefix-stable/);
    const raising = jinjaRenderer("{{ raise_exception('roles must alternate') }}", bytes);
    const r = tokenizeExample(chat(convo), { tokenizer: bytes, renderer: raising });
    expect(r.ok ? null : r.rejection).toMatchObject({ reason: 'template-error', message: expect.stringMatching(/roles must alternate/) });
  });

  it('renders trained spans, colored or bracketed', () => {
    const ex = ok(tokenizeExample(chat(convo.slice(1, 3)), chatml));
    const spans = trainedSpans(ex, bytes);
    expect(spans.map((s) => s.text).join('')).toBe(bytes.decode(ex.ids));
    expect(markTrained(spans, { color: false })).toBe('<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n[[A1<|im_end|>]]\n');
    expect(markTrained(spans, { color: true })).toContain('\x1b[32;1mA1<|im_end|>\x1b[0m');
  });
});
