// `pupil distill regenerate --teacher-onnx`: a transformers.js teacher (onnxruntime in-process)
// loaded from the local Hub stand-in (HF_ENDPOINT), here our own ONNX export of a tiny llama.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../fixtures/hub/server.ts';
import { writeRepo } from '../fixtures/hub/make-fixtures.ts';
import { makeOnnxFixture } from '../fixtures/hub/make-onnx-fixture.ts';
import { root } from './train-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'pupil-distill-onnx-'));
let server: HubServer;

beforeAll(async () => {
  await writeRepo(join(tmp, 'hub'), 'tiny/llama-onnx', makeOnnxFixture().files);
  server = await startHubServer(join(tmp, 'hub'));
});
afterAll(async () => server?.close());

describe('pupil distill regenerate --teacher-onnx', () => {
  it('regenerates every record with the transformers.js teacher, with provenance', async () => {
    const data = join(tmp, 'data.jsonl'), out = join(tmp, 'out.jsonl');
    writeFileSync(data, ['Say hello.', 'Name a colour.', 'Count to three.'].map((instruction) => JSON.stringify({ instruction, output: 'x' })).join('\n') + '\n');
    const env = { ...process.env, HF_ENDPOINT: server.url, PUPIL_HUB_CACHE: join(tmp, 'cache'), NO_COLOR: '1' };
    // Not spawnSync: the Hub stand-in runs in this process and must keep answering.
    const child = spawn(process.execPath, ['bin/pupil.js', 'distill', 'regenerate', '--teacher-onnx', 'tiny/llama-onnx', '--data', data, '--out', out, '--max-tokens', '8', '--temperature', '0'], { cwd: root, env });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((res) => child.on('close', res));
    expect(code, stderr).toBe(0);
    const records = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(records.map((x) => x.instruction)).toEqual(['Say hello.', 'Name a colour.', 'Count to three.']);
    for (const x of records) {
      expect(x.output).not.toBe('x');
      expect(x.teacher).toBe('transformers:tiny/llama-onnx (cpu)');
    }
  }, 60_000);

  it('refuses two teachers at once', () => {
    const r = spawnSync(process.execPath, ['bin/pupil.js', 'distill', 'regenerate', '--teacher-onnx', 'a/b', '--teacher-url', 'http://127.0.0.1:1/v1', '--teacher-model', 'm', '--data', 'x', '--out', 'y.jsonl'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--teacher-url and --teacher-onnx both name a teacher; pass one');
  });
});
