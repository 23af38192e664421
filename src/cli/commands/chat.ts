// `pupil chat --checkpoint DIR`: talk to a trained student. Interactive (streaming tokens, multi-
// turn through the chat template, /reset, /exit) or scripted with `--prompt` (one turn per
// --prompt, for scripts and tests). The model loads the way `pupil export` reads it, so a run
// folder, a checkpoint folder, a Hugging Face folder or a Hub id all work.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { BYTE_SPECIAL_TOKENS, byteLevelTokenizerFiles } from '../../data/byte-tokenizer.ts';
import { resolveRenderer, type ChatRenderer, type TemplateChoice, type TemplateMessage } from '../../data/template.ts';
import { loadTokenizer, type TextTokenizer } from '../../data/tokenizer.ts';
import { generate, GpuCausalLM, Rng, type SamplingOptions } from '../../generate/index.ts';
import { nodeGPU } from '../../gpu/node.ts';
import { Runtime } from '../../gpu/runtime.ts';
import type { ModelConfig } from '../../models/config.ts';
import { loadPretrainedNode } from '../../models/load-node.ts';
import { ParamLayout, ParamStore } from '../../models/params.ts';
import { parseConfig } from '../../models/registry.ts';
import { promptIds } from '../../train/evaluate.ts';
import { modelSourceFlags, numberFlag, UsageError } from '../train-config.ts';
import { readTokenizerDir } from './data.ts';

const USAGE = `usage: pupil chat --checkpoint DIR [--prompt TEXT ...] [options]

DIR is a run folder (pupil train --out), a checkpoint folder, a Hugging Face model folder or a
Hub repo id. Without --prompt the chat is interactive: /reset forgets the conversation, /exit
(or Ctrl-D) quits. Each --prompt is one user turn; the replies are printed and the command exits.

options:
  --system TEXT           system message at the start of the conversation
  --template T            auto | model | chatml | alpaca (default auto)
  --temperature X         0 = greedy (default 0.7)
  --top-k K               keep the K most likely tokens (default 0 = off)
  --top-p P               nucleus sampling (default 1 = off)
  --repetition-penalty R  (default 1 = off)
  --max-new-tokens N      tokens per reply (default 256)
  --seed N                sampling seed (default 0)
  --tokenizer DIR         tokenizer folder when the model has none
  --max-length N          KV cache size in tokens (default: the model's, at most 2048)`;

/**
 * The folder holding the model: DIR itself when it has model.safetensors, else the newest
 * checkpoint inside a run folder (any sub-folder with model.safetensors, highest step first).
 */
export function resolveModelDir(dir: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return dir;
  if (existsSync(join(dir, 'model.safetensors')) || existsSync(join(dir, 'model.safetensors.index.json'))) return dir;
  const candidates: { path: string; step: number; mtime: number }[] = [];
  const visit = (d: string, depth: number) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.includes('.partial-')) continue;
      const p = join(d, e.name);
      if (existsSync(join(p, 'model.safetensors'))) {
        const m = /(\d+)$/.exec(e.name.replace(/\.previous$/, ''));
        // A `.previous` folder only counts when its save was interrupted (the main one is gone).
        if (e.name.endsWith('.previous') && existsSync(p.slice(0, -'.previous'.length))) continue;
        candidates.push({ path: p, step: m ? Number(m[1]) : -1, mtime: statSync(join(p, 'model.safetensors')).mtimeMs });
      } else if (depth > 0) visit(p, depth - 1);
    }
  };
  visit(dir, 1);
  candidates.sort((a, b) => b.step - a.step || b.mtime - a.mtime);
  return candidates[0]?.path ?? dir;
}

export interface LoadedStudent {
  rt: Runtime;
  config: ModelConfig;
  store: ParamStore;
  tokenizer: TextTokenizer;
  source: string;
  destroy(): void;
}

/** Loads a model (see resolveModelDir) onto a fresh runtime, with its tokenizer. */
export async function loadStudent(source: string, opts: { tokenizerDir?: string; rt?: Runtime } = {}): Promise<LoadedStudent> {
  const dir = resolveModelDir(source);
  const model = await loadPretrainedNode(dir);
  let files = model.tokenizerFiles;
  if (opts.tokenizerDir) files = readTokenizerDir(opts.tokenizerDir);
  if (!files && model.config.vocabSize === 256 + BYTE_SPECIAL_TOKENS.length) files = byteLevelTokenizerFiles();
  if (!files) throw new Error(`${dir} has no tokenizer.json and its vocabulary (${model.config.vocabSize}) is not the byte-level one; pass --tokenizer DIR`);
  const tokenizer = loadTokenizer(files as Parameters<typeof loadTokenizer>[0]);
  const rt = opts.rt ?? (await Runtime.create({ gpu: await nodeGPU() }));
  const { arch } = parseConfig(model.config.hf);
  const store = new ParamStore(rt, new ParamLayout(arch.parameters(model.config)));
  store.load(model.weights);
  return { rt, config: model.config, store, tokenizer, source: dir, destroy: () => store.destroy() };
}

interface ChatOptions {
  renderer: ChatRenderer;
  sampling: SamplingOptions;
  maxNewTokens: number;
  system?: string;
}

/** A conversation with the model: history, rendering, truncation to the cache, streaming. */
export class Conversation {
  private history: TemplateMessage[] = [];
  private readonly rng: Rng;

  constructor(
    private readonly lm: GpuCausalLM,
    private readonly tokenizer: TextTokenizer,
    private readonly opts: ChatOptions,
    seed: number,
  ) {
    this.rng = new Rng(seed);
    this.reset();
  }

  reset(): void {
    this.history = this.opts.system ? [{ role: 'system', content: this.opts.system }] : [];
  }

  /** Prompt ids for the history plus `user`, dropping the oldest turns until a reply fits. */
  private promptIds(messages: TemplateMessage[]): number[] {
    const budget = this.lm.maxLength - Math.min(this.opts.maxNewTokens, Math.floor(this.lm.maxLength / 2));
    const system = messages[0]?.role === 'system' ? 1 : 0;
    for (;;) {
      // Tokenized as the trainer tokenizes its prompts, so the model sees what it was trained on.
      const ids = promptIds(this.opts.renderer, this.tokenizer, messages);
      if (ids.length <= budget) return ids;
      if (messages.length - system <= 1) throw new Error(`the message is ${ids.length} tokens with the template; this model holds ${this.lm.maxLength} (prompt and reply together)`);
      messages = [...messages.slice(0, system), ...messages.slice(system + 2)];
    }
  }

  /** Streams the reply to `user` through `write` and returns it. */
  async say(user: string, write: (text: string) => void): Promise<string> {
    const messages = [...this.history, { role: 'user', content: user }];
    const ids = this.promptIds(messages);
    this.lm.reset();
    const room = this.lm.maxLength - ids.length;
    const gen = generate(this.lm, ids, { tokenizer: this.tokenizer, maxNewTokens: Math.max(1, Math.min(this.opts.maxNewTokens, room)), sampling: this.opts.sampling, rng: this.rng });
    for await (const ev of gen) if (ev.text) write(ev.text);
    const { text } = await gen.result;
    this.history = [...messages, { role: 'assistant', content: text }];
    return text;
  }
}

export async function main(argv: string[]): Promise<number> {
  let values, positionals: string[];
  const fail = (msg: string) => {
    console.error(`pupil chat: ${msg}\n\n${USAGE}`);
    return 2;
  };
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        checkpoint: { type: 'string', short: 'c' },
        prompt: { type: 'string', short: 'p', multiple: true },
        system: { type: 'string' },
        template: { type: 'string', default: 'auto' },
        temperature: { type: 'string' },
        'top-k': { type: 'string' },
        'top-p': { type: 'string' },
        'repetition-penalty': { type: 'string' },
        'max-new-tokens': { type: 'string' },
        seed: { type: 'string' },
        tokenizer: { type: 'string' },
        'max-length': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    return fail((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let source: string;
  try {
    source = modelSourceFlags(values, positionals);
  } catch (e) {
    return fail((e as Error).message);
  }
  let sampling: SamplingOptions, maxNewTokens: number, seed: number, maxLength: number | undefined;
  try {
    sampling = {
      temperature: numberFlag('temperature', values.temperature, { min: 0 }) ?? 0.7,
      topK: numberFlag('top-k', values['top-k'], { integer: true, min: 0 }) ?? 0,
      topP: numberFlag('top-p', values['top-p'], { min: 0, minExclusive: true, max: 1 }) ?? 1,
      repetitionPenalty: numberFlag('repetition-penalty', values['repetition-penalty'], { min: 0, minExclusive: true }) ?? 1,
    };
    maxNewTokens = numberFlag('max-new-tokens', values['max-new-tokens'], { integer: true, min: 1 }) ?? 256;
    seed = numberFlag('seed', values.seed, { integer: true, min: 0 }) ?? 0;
    maxLength = numberFlag('max-length', values['max-length'], { integer: true, min: 2 });
  } catch (e) {
    if (e instanceof UsageError) return fail(e.message);
    throw e;
  }

  let student: LoadedStudent | undefined;
  let lm: GpuCausalLM | undefined;
  try {
    student = await loadStudent(source, { tokenizerDir: values.tokenizer });
    lm = new GpuCausalLM(student.rt, student.config, student.store, { maxLength: maxLength === undefined ? undefined : Math.min(maxLength, student.config.maxPositions) });
    const renderer = resolveRenderer(values.template as TemplateChoice, student.tokenizer);
    const chat = new Conversation(lm, student.tokenizer, { renderer, sampling, maxNewTokens, system: values.system }, seed);
    const out = (t: string) => process.stdout.write(t);
    if (values.prompt?.length) {
      for (const p of values.prompt) {
        await chat.say(p, out);
        out('\n');
      }
      return 0;
    }
    return await interactive(chat, student.source);
  } catch (e) {
    console.error(`pupil chat: ${(e as Error).message}`);
    return 1;
  } finally {
    lm?.destroy();
    student?.destroy();
  }
}

async function interactive(chat: Conversation, source: string): Promise<number> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true, prompt: '> ' });
  console.log(`chatting with ${source} — /reset forgets the conversation, /exit quits`);
  // Ctrl-C closes the chat like Ctrl-D (the line iterator then ends).
  rl.on('SIGINT', () => rl.close());
  rl.prompt();
  try {
    for await (const line of rl) {
      const text = line.trim();
      if (text === '/exit' || text === '/quit') break;
      if (text === '/reset') {
        chat.reset();
        console.log('(conversation reset)');
      } else if (text) {
        try {
          await chat.say(text, (t) => process.stdout.write(t));
          process.stdout.write('\n');
        } catch (e) {
          console.error(`error: ${(e as Error).message}`);
        }
      }
      rl.prompt();
    }
  } finally {
    rl.close();
  }
  return 0;
}
