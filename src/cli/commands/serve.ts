// `pupil serve --checkpoint DIR`: an OpenAI-compatible server on localhost in front of a trained
// student (src/distill/server.ts), so it can be a teacher or talk to other tools. The model loads
// as `pupil chat` loads it.
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveRenderer, type TemplateChoice } from '../../data/template.ts';
import { startChatServer } from '../../distill/server.ts';
import { GpuCausalLM } from '../../generate/index.ts';
import { modelSourceFlags, numberFlag, UsageError } from '../train-config.ts';
import { loadStudent, type LoadedStudent } from './chat.ts';

const USAGE = `usage: pupil serve --checkpoint DIR [options]

Serves the model at http://HOST:PORT/v1 (POST /v1/chat/completions, streaming or not;
GET /v1/models). Requests are answered one at a time. DIR is anything pupil chat accepts.

options:
  --port N            (default 8080; 0 = any free port)
  --host H            (default 127.0.0.1; other hosts expose the model to the network)
  --model-name NAME   the model id clients use (default: the folder name)
  --template T        auto | model | chatml | alpaca (default auto)
  --max-tokens N      reply length when a request gives no max_tokens (default 256)
  --tokenizer DIR     tokenizer folder when the model has none
  --max-length N      KV cache size in tokens (default: the model's, at most 2048)`;

export async function main(argv: string[]): Promise<number> {
  let values, positionals: string[];
  const fail = (msg: string) => {
    console.error(`pupil serve: ${msg}\n\n${USAGE}`);
    return 2;
  };
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        checkpoint: { type: 'string', short: 'c' },
        port: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        'model-name': { type: 'string' },
        template: { type: 'string', default: 'auto' },
        'max-tokens': { type: 'string' },
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
  let port: number, maxTokens: number, maxLength: number | undefined;
  try {
    port = numberFlag('port', values.port, { integer: true, min: 0, max: 65535 }) ?? 8080;
    maxTokens = numberFlag('max-tokens', values['max-tokens'], { integer: true, min: 1 }) ?? 256;
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
    const modelName = values['model-name'] ?? basename(student.source);
    const running = await startChatServer({ model: lm, tokenizer: student.tokenizer, renderer, modelName, defaultMaxTokens: maxTokens, port, host: values.host });
    console.log(`serving ${student.source} as "${modelName}" at ${running.baseUrl} (Ctrl-C stops)`);
    await new Promise<void>((res) => {
      const stop = () => void running.close().then(res);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return 0;
  } catch (e) {
    console.error(`pupil serve: ${(e as Error).message}`);
    return 1;
  } finally {
    lm?.destroy();
    student?.destroy();
  }
}
