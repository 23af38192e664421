// `pupil distill regenerate` and `pupil distill self-instruct` through the real CLI: an in-process
// teacher (--teacher on a tiny checkpoint), the real `pupil serve` server, and a scripted
// OpenAI-compatible endpoint where the test is about resuming, Ctrl-C, keys and counting.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudent, type LoadedStudent } from '../../src/cli/commands/chat.ts';
import { loadDatasetFile } from '../../src/data/node.ts';
import { startChatServer, type RunningServer } from '../../src/distill/server.ts';
import { PupilTeacher } from '../../src/distill/teachers/pupil.ts';
import { getRuntime } from '../helpers/gpu.ts';
import { tinyCheckpoint } from '../distill/tiny-checkpoint.ts';
import { root } from './train-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'pupil-distill-gen-'));
const KEY = 'sk-test-key-4242';
const env = { ...process.env, HF_HUB_OFFLINE: '1', NO_COLOR: '1', STUB_KEY: KEY };

interface Result { code: number | null; out: string; err: string }

function run(args: string[], onSpawn?: (child: ReturnType<typeof spawn>) => void): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/pupil.js', 'distill', ...args], { cwd: root, env });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
    onSpawn?.(child);
  });
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);

/** A scripted OpenAI-compatible endpoint: numbered lists of fresh tasks, answers without usage. */
function stubEndpoint(delayMs = 0): Promise<{ url: string; server: Server; auth: Set<string> }> {
  let n = 0;
  const auth = new Set<string>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      auth.add(String(req.headers.authorization));
      const user = JSON.parse(body).messages.at(-1).content as string;
      const text = user.startsWith('You are helping to build')
        ? [...Array.from({ length: 4 }, (_, i) => `${i + 1}. Explain the ${word(n++)} ${word(n++)} ${word(n++)} idea briefly.`), '5. Hi there.'].join('\n')
        : `Answer to: ${user.slice(0, 30)}`;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] }));
      }, delayMs);
    });
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, server, auth })));
}

/** Distinct letter-only words, so no two generated instructions look alike to ROUGE-L. */
function word(n: number): string {
  let s = '';
  for (n += 26 * 26; n > 0; n = Math.floor(n / 26)) s += String.fromCharCode(97 + (n % 26));
  return s;
}

let ckpt: string;
const data = join(tmp, 'five.jsonl');
const TASKS = ['Add 2 and 3.', 'Reverse the word apple.', 'Name a colour.', 'Add 2 and 3.', 'Count the vowels in banana.'];

beforeAll(async () => {
  ckpt = await tinyCheckpoint('pupil-distill-gen-');
  writeFileSync(data, TASKS.map((t, i) => JSON.stringify({ instruction: t, input: i === 2 ? 'warm' : '', output: 'x', id: i })).join('\n') + '\n');
});

describe('pupil distill regenerate', () => {
  it('--teacher CHECKPOINT: 5 records with provenance that load as a dataset; resumes after a torn write', async () => {
    const out = join(tmp, 'regen.jsonl');
    const r = await run(['regenerate', '--teacher', ckpt, '--data', data, '--out', out, '--max-tokens', '8', '--temperature', '1']);
    expect(r.code, r.err).toBe(0);
    const recs = lines(out);
    expect(recs.map((x) => x.instruction).sort()).toEqual([...TASKS].sort());
    for (const x of recs) {
      expect(x).toMatchObject({ teacher: `pupil:${ckpt}`, prompt_version: 'regenerate-v2' });
      expect(Date.parse(x.generated_at)).toBeGreaterThan(0);
      expect(x.output.length).toBeGreaterThan(0);
    }
    expect(recs.find((x) => x.instruction === 'Name a colour.')!.input).toBe('warm');
    // Completion tokens come from the in-process teacher's usage: exact, 8 per record at most.
    const m = /done: 5\/5 regenerated \(5 new\), 0 failed, 0 skipped, (\d+) tokens,/.exec(r.out);
    expect(m, r.out).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(5);
    expect(Number(m![1])).toBeLessThanOrEqual(40);
    const loaded = await loadDatasetFile(out);
    expect(loaded.summary).toMatchObject({ format: 'alpaca', kept: 5 });
    expect(loaded.rejections).toEqual([]);

    // Two whole records and a third cut mid-line, as a crash leaves them.
    const partial = join(tmp, 'partial.jsonl');
    const text = readFileSync(out, 'utf8').split('\n');
    writeFileSync(partial, `${text[0]}\n${text[1]}\n${text[2].slice(0, 30)}`);
    const again = await run(['regenerate', '--teacher', ckpt, '--data', data, '--out', partial, '--max-tokens', '8']);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/dropped an incomplete last line \(line 3/);
    expect(again.out).toMatch(/resuming: 2 of 5 records/);
    expect(again.out).toMatch(/5\/5 regenerated \(3 new\)/);
    const resumed = lines(partial);
    expect(resumed.slice(0, 2)).toEqual(recs.slice(0, 2));
    // The repeated task is there twice, as in the data; nothing else repeats.
    expect(resumed.map((x) => x.instruction).sort()).toEqual([...TASKS].sort());
    const done = await run(['regenerate', '--teacher', ckpt, '--data', data, '--out', partial, '--limit', '3']);
    expect(done.code).toBe(0);
    expect(done.out).toMatch(/already holds all 3 records/);
  }, 60_000);

  it('bad flags and files are named', () => {
    const sync = (args: string[]) => spawnSync(process.execPath, ['bin/pupil.js', 'distill', ...args], { cwd: root, env, encoding: 'utf8' });
    const both = sync(['regenerate', '--teacher', ckpt, '--teacher-url', 'http://127.0.0.1:1/v1', '--teacher-model', 'm', '--data', data, '--out', join(tmp, 'x.jsonl')]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--teacher and --teacher-url both name a teacher/);
    const noOut = sync(['regenerate', '--teacher', ckpt, '--data', data]);
    expect(noOut.status).toBe(2);
    expect(noOut.stderr).toMatch(/--out FILE\.jsonl is missing/);
    const missing = join(tmp, 'no-such-file.jsonl');
    const unreadable = sync(['regenerate', '--teacher', ckpt, '--data', missing, '--out', join(tmp, 'x.jsonl')]);
    expect(unreadable.status).toBe(1);
    expect(unreadable.stderr).toContain(`${missing}: cannot open the file`);
    const noKey = sync(['self-instruct', '--teacher-url', 'http://127.0.0.1:1/v1', '--teacher-model', 'm', '--api-key-env', 'PUPIL_NO_SUCH_VAR', '--count', '1', '--out', join(tmp, 'x.jsonl')]);
    expect(noKey.status).toBe(2);
    expect(noKey.stderr).toMatch(/PUPIL_NO_SUCH_VAR: that environment variable is not set/);
    const badOut = join(tmp, 'bad-out.jsonl');
    writeFileSync(badOut, '{"instruction":"a","output":"b"}\nnot json\n{"instruction":"c"}\n');
    const corrupt = sync(['regenerate', '--teacher', ckpt, '--data', data, '--out', badOut]);
    expect(corrupt.status).toBe(1);
    expect(corrupt.stderr).toContain(`${badOut}:2: not valid JSON`);
    expect(existsSync(join(tmp, 'x.jsonl'))).toBe(false);
  }, 30_000);
});

describe('pupil distill self-instruct', () => {
  let student: LoadedStudent;
  let teacher: PupilTeacher;
  let served: RunningServer;

  beforeAll(async () => {
    student = await loadStudent(ckpt, { rt: await getRuntime() });
    teacher = PupilTeacher.fromModel(student, { name: 'pupil:tiny' });
    served = await startChatServer({ teacher, modelName: 'tiny' });
  });

  afterAll(async () => {
    await served?.close();
    teacher?.destroy();
    student?.destroy();
  });

  it('through the real pupil serve: a gibberish teacher keeps nothing and the run says why', async () => {
    const out = join(tmp, 'si-served.jsonl');
    const r = await run(['self-instruct', '--teacher-url', served.baseUrl, '--teacher-model', 'tiny', '--count', '2', '--max-idle-rounds', '2', '--max-tokens', '24', '--out', out]);
    expect(r.code, r.err).toBe(1);
    // Usage came back from the server: exact counts, no estimate mark; 2 rounds, one list each.
    const m = /done: 0 kept \(0 new\), \d+ rejected.*, (\d+) tokens, /.exec(r.out);
    expect(m, r.out).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![1])).toBeLessThanOrEqual(48);
    expect(r.err).toMatch(/stopped after 2 rounds in a row without a new record/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('scripted endpoint: --seeds, the key from --api-key-env, estimated tokens, resume to a larger --count', async () => {
    const stub = await stubEndpoint();
    try {
      const seeds = join(tmp, 'seeds.jsonl');
      writeFileSync(seeds, [{ instruction: 'Give three tips for staying healthy.', output: 'Sleep.' }, { messages: [{ role: 'user', content: 'Name the capital of France.' }, { role: 'assistant', content: 'Paris' }] }].map((x) => JSON.stringify(x)).join('\n'));
      const out = join(tmp, 'si.jsonl');
      const base = ['self-instruct', '--teacher-url', stub.url, '--teacher-model', 'stub', '--api-key-env', 'STUB_KEY', '--seeds', seeds, '--out', out];
      const first = await run([...base, '--count', '3']);
      expect(first.code, first.err).toBe(0);
      expect(first.out).toMatch(/done: 3 kept \(3 new\), 1 rejected \(too-short 1\), ~\d+ tokens \(estimated: characters\/4\)/);
      const a = lines(out);
      expect(a.length).toBe(3);
      for (const x of a) {
        expect(x).toMatchObject({ teacher: `openai:${stub.url} model=stub`, prompt_version: 'self-instruct-v2', input: '' });
        expect(x.output).toMatch(/^Answer to: /);
      }
      const second = await run([...base, '--count', '6']);
      expect(second.code, second.err).toBe(0);
      expect(second.out).toMatch(/resuming: 3 records/);
      const b = lines(out);
      expect(b.length).toBe(6);
      expect(b.slice(0, 3)).toEqual(a);
      expect(new Set(b.map((x) => x.instruction)).size).toBe(6);
      expect([...stub.auth]).toEqual([`Bearer ${KEY}`]);
      for (const text of [first.out, first.err, second.out, second.err, readFileSync(out, 'utf8')]) expect(text).not.toContain(KEY);
      expect((await loadDatasetFile(out)).summary.kept).toBe(6);
    } finally {
      stub.server.close();
    }
  }, 60_000);

  it('Ctrl-C stops cleanly: exit 130, every written line whole, the summary counts them', async () => {
    const stub = await stubEndpoint(150);
    try {
      const out = join(tmp, 'si-int.jsonl');
      const r = await run(['self-instruct', '--teacher-url', stub.url, '--teacher-model', 'stub', '--count', '100', '--concurrency', '1', '--out', out], (child) => {
        const poll = setInterval(() => {
          if (existsSync(out) && readFileSync(out, 'utf8').length > 0) {
            clearInterval(poll);
            child.kill('SIGINT');
          }
        }, 50);
      });
      expect(r.code, r.err).toBe(130);
      const kept = Number(/interrupted: (\d+) kept/.exec(r.out)?.[1]);
      expect(kept).toBeGreaterThan(0);
      expect(lines(out).length).toBe(kept);
      expect(readFileSync(out, 'utf8').endsWith('\n')).toBe(true);
    } finally {
      stub.server.close();
    }
  }, 60_000);
});
