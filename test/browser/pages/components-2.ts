// <pupil-dataset> and <pupil-chat> on their own, the chat against a stubbed engine client that
// streams a fixed reply one character every 40 ms, so a test can see tokens arrive and stop it.
import '../../../src/ui/pupil-dataset.ts';
import '../../../src/ui/pupil-chat.ts';
import type { ChatBackend } from '../../../src/ui/pupil-chat.ts';
import type { TokenStream } from '../../../src/worker/client.ts';
import type { GenerateRequest, GenerateSummary, Message, TokenEvent } from '../../../src/worker/protocol.ts';

export const REPLY = 'Sure: <b>37</b> & done.';

const calls: Message[][] = [];
const options: (GenerateRequest | undefined)[] = [];
let cancelled = false;

const stub: ChatBackend = {
  generate(messages: Message[], o?: GenerateRequest): TokenStream {
    calls.push(messages);
    options.push(o);
    cancelled = false;
    let text = '';
    let resolve!: (s: GenerateSummary) => void;
    const result = new Promise<GenerateSummary>((r) => (resolve = r));
    return {
      result,
      async *[Symbol.asyncIterator](): AsyncGenerator<TokenEvent> {
        for (const ch of REPLY) {
          await new Promise((r) => setTimeout(r, 40));
          if (cancelled) break;
          text += ch;
          yield { token: ch.charCodeAt(0), text: ch };
        }
        resolve({ text, finishReason: cancelled ? 'cancelled' : 'eos', tokens: text.length });
      },
    };
  },
  async cancelGeneration() {
    cancelled = true;
  },
};

const chat = document.querySelector('pupil-chat')!;
chat.client = stub;
chat.ready = true;
chat.baseline = [{ prompt: 'Calculate 35 + 2.', text: 'qq<i>zz</i>' }];

const changes: unknown[] = [];
document.addEventListener('pupil-dataset-change', (e) => changes.push((e as CustomEvent).detail));
const replies: unknown[] = [];
document.addEventListener('pupil-chat-reply', (e) => replies.push((e as CustomEvent).detail));
const beforeReplies: unknown[] = [];
document.addEventListener('pupil-chat-before-reply', (e) => beforeReplies.push((e as CustomEvent).detail));

Object.assign(window, { __stub: { calls, options, changes, replies, beforeReplies, REPLY }, __ready: true });
