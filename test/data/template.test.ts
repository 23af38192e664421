import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/data/tokenizer.ts';
import { alpacaRenderer, jinjaRenderer, modelChatTemplate, resolveRenderer, templateMessages, CHATML_TEMPLATE } from '../../src/data/template.ts';
import type { ChatExample } from '../../src/data/types.ts';
import { byteLevelTokenizer } from '../../src/data/byte-tokenizer.ts';
import { gpt2Files, llama3Files, qwenFiles, smollm2Files, template } from '../fixtures/tokenizers/build.ts';

const chat = [
  { role: 'user', content: 'Hi there' },
  { role: 'assistant', content: 'Hello!' },
];

describe('chat templates', () => {
  it('SmolLM2 (ChatML with a default system prompt)', () => {
    const r = resolveRenderer('model', loadTokenizer(smollm2Files()));
    expect(r.render(chat, { addGenerationPrompt: false })).toBe(
      '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' +
        '<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n',
    );
  });

  it('Qwen2.5 (named-template list form) with generation prompt', () => {
    const r = resolveRenderer('model', loadTokenizer(qwenFiles()));
    expect(r.render([{ role: 'system', content: 'Be brief.' }, chat[0]], { addGenerationPrompt: true })).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('Llama-3 from chat_template.jinja, with bos_token and trimmed content', () => {
    const r = resolveRenderer('auto', loadTokenizer(llama3Files()));
    expect(r.render([{ role: 'user', content: ' Hi there \n' }, chat[1]], { addGenerationPrompt: false })).toBe(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>',
    );
  });

  it('plain ChatML default matches the reference template file', () => {
    const r = jinjaRenderer(CHATML_TEMPLATE, byteLevelTokenizer());
    const reference = jinjaRenderer(template('chatml'), byteLevelTokenizer());
    for (const agp of [false, true]) expect(r.render(chat, { addGenerationPrompt: agp })).toBe(reference.render(chat, { addGenerationPrompt: agp }));
    expect(r.render(chat, { addGenerationPrompt: false })).toBe('<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n');
  });

  it('auto falls back to ChatML without a model template; model refuses', () => {
    const gpt2 = loadTokenizer(gpt2Files());
    expect(resolveRenderer('auto', gpt2).name).toBe('chatml');
    expect(() => resolveRenderer('model', gpt2)).toThrow(/no chat_template/);
  });

  it('picks chat_template.jinja over tokenizer_config, and the first named template without "default"', () => {
    expect(modelChatTemplate({ 'chat_template.jinja': 'A', 'tokenizer_config.json': '{"chat_template":"B"}' })).toBe('A');
    expect(modelChatTemplate({ 'tokenizer_config.json': '{"chat_template":[{"name":"x","template":"X"},{"name":"y","template":"Y"}]}' })).toBe('X');
  });
});

describe('Alpaca prompt', () => {
  const source = { file: 'f', line: 1, record: 0 };
  const example = (input: string): ChatExample => ({
    kind: 'chat',
    messages: [
      { role: 'user', content: input ? `Translate.\n\n${input}` : 'Name a colour.' },
      { role: 'assistant', content: 'Bleu.' },
    ],
    alpaca: { instruction: input ? 'Translate.' : 'Name a colour.', input, output: 'Bleu.' },
    source,
  });

  it('renders the Stanford strings with input', () => {
    const msgs = templateMessages(example('Blue'), alpacaRenderer);
    expect(alpacaRenderer.render(msgs, { addGenerationPrompt: true })).toBe(
      'Below is an instruction that describes a task, paired with an input that provides further context. ' +
        'Write a response that appropriately completes the request.\n\n### Instruction:\nTranslate.\n\n### Input:\nBlue\n\n### Response:\nBleu.',
    );
  });

  it('renders the Stanford strings without input', () => {
    const msgs = templateMessages(example(''), alpacaRenderer);
    expect(alpacaRenderer.render(msgs.slice(0, 1), { addGenerationPrompt: true })).toBe(
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nName a colour.\n\n### Response:\n',
    );
  });

  it('uses the messages (not the alpaca fields) for other templates', () => {
    expect(templateMessages(example('Blue'), jinjaRenderer(CHATML_TEMPLATE, byteLevelTokenizer()))[0].content).toBe('Translate.\n\nBlue');
  });
});
