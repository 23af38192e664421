import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lengthStats } from '../../src/cli/commands/data.ts';
import { smollm2Files } from '../fixtures/tokenizers/build.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = join(root, 'test/fixtures/tokenizers/inspect.jsonl');
const pupil = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['bin/pupil.js', 'data', 'inspect', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

describe('pupil data inspect', () => {
  it('reports format, counts, rejections, length statistics and a marked example', () => {
    const { code, out } = pupil(fixture, '--max-length', '200');
    expect(code).toBe(0);
    expect(out).toMatch(/jsonl, alpaca records; 5 read, 3 kept, 2 rejected/);
    expect(out).toMatch(/line 3: .*output/);
    expect(out).toMatch(/line 4: not valid JSON/);
    expect(out).toMatch(/tokenized: 2 kept, 1 rejected \(too-long 1\)/);
    expect(out).toMatch(/line 5: 255 tokens, more than the maximum length 200/);
    expect(out).toMatch(/tokens per example: min 40, mean 53\.5, p50 40, p95 67, max 67/);
    expect(out).toContain('<|im_start|>assistant\n[[Blue.<|im_end|>]]');
  }, 60_000);

  it('uses a tokenizer folder and the Alpaca template', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pupil-tok-'));
    for (const [name, text] of Object.entries(smollm2Files())) writeFileSync(join(dir, name), text!);
    const { code, out } = pupil(fixture, '--tokenizer', dir, '--template', 'alpaca', '--show', '1');
    expect(code).toBe(0);
    expect(out).toMatch(/vocabulary 279/);
    expect(out).toContain('### Input:\nGood morning\n\n### Response:\n[[Bonjour 🙂<|im_end|>]]');
  }, 60_000);

  it('fails with usage on bad arguments', () => {
    const { code, err } = pupil(fixture, '--template', 'nope');
    expect(code).toBe(2);
    expect(err).toMatch(/unknown --template nope/);
  }, 60_000);

  it('computes nearest-rank percentiles', () => {
    expect(lengthStats([5, 1, 3, 2, 4])).toEqual({ min: 1, mean: 3, p50: 3, p95: 5, max: 5 });
    expect(lengthStats([])).toMatchObject({ max: 0 });
  });
});
