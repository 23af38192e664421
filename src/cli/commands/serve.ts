// `pupil serve --checkpoint DIR`: an OpenAI-compatible server on localhost in front of a trained
// student (src/distill/server.ts), so it can be a teacher or talk to other tools. The model loads
// as `pupil chat` loads it.
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import type { TemplateChoice } from '../../data/template.ts';
import { startChatServer } from '../../distill/server.ts';
import { PupilTeacher } from '../../distill/teachers/pupil.ts';
import type { Runtime } from '../../gpu/runtime.ts';
import { modelSourceFlags, numberFlag, UsageError } from '../train-config.ts';
import { loadStudent } from './chat.ts';

/**
 * A checkpoint, run folder, Hugging Face folder or Hub id (anything `pupil chat` loads) as an
 * in-process teacher named `pupil:<source>`; destroy() frees the model.
 */
export async function loadPupilTeacher(
  source: string,
  o: { tokenizerDir?: string; template?: TemplateChoice; maxLength?: number; defaultMaxTokens?: number; rt?: Runtime } = {},
): Promise<PupilTeacher> {
  const student = await loadStudent(source, { tokenizerDir: o.tokenizerDir, rt: o.rt });
  try {
    return PupilTeacher.fromModel(student, { name: `pupil:${source}`, template: o.template, maxLength: o.maxLength, defaultMaxTokens: o.defaultMaxTokens, owns: true });
  } catch (e) {
    student.destroy();
    throw e;
  }
}

/** An origin as browsers send it: scheme, host and optional port, nothing after. */
const ORIGIN = /^https?:\/\/[^/?#\s]+$/;

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
  --max-length N      KV cache size in tokens (default: the model's, at most 2048)
  --cors-origin O     only pages from origin O (e.g. http://localhost:5173) may call the server
                      from a browser; repeatable (default: any origin, "*")
  --no-cors           no CORS headers: browsers may not call the server from other origins`;

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
        'cors-origin': { type: 'string', multiple: true },
        'no-cors': { type: 'boolean' },
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
  const corsOrigins = values['cors-origin'] ?? [];
  if (values['no-cors'] && corsOrigins.length) return fail('--no-cors and --cors-origin contradict each other; pass one');
  for (const o of corsOrigins) if (o !== '*' && !ORIGIN.test(o)) return fail(`--cors-origin must be "*" or an origin like http://localhost:5173 (scheme, host, port; no path), got ${JSON.stringify(o)}`);
  const cors = values['no-cors'] ? false : corsOrigins.length ? corsOrigins : '*';
  try {
    port = numberFlag('port', values.port, { integer: true, min: 0, max: 65535 }) ?? 8080;
    maxTokens = numberFlag('max-tokens', values['max-tokens'], { integer: true, min: 1 }) ?? 256;
    maxLength = numberFlag('max-length', values['max-length'], { integer: true, min: 2 });
  } catch (e) {
    if (e instanceof UsageError) return fail(e.message);
    throw e;
  }

  let teacher: PupilTeacher | undefined;
  try {
    teacher = await loadPupilTeacher(source, { tokenizerDir: values.tokenizer, template: values.template as TemplateChoice, maxLength, defaultMaxTokens: maxTokens });
    const modelName = values['model-name'] ?? basename(source.replace(/[\\/]+$/, ''));
    const running = await startChatServer({ teacher, modelName, defaultMaxTokens: maxTokens, port, host: values.host, cors });
    const corsText = cors === false ? 'no CORS' : `CORS ${cors === '*' ? '*' : cors.join(', ')}`;
    console.log(`serving ${source} as "${modelName}" at ${running.baseUrl} (${corsText}; Ctrl-C stops)`);
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
    teacher?.destroy();
  }
}
