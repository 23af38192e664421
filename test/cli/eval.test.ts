// `pupil eval` on a run trained by `pupil train`: the validation loss it measures on the run's
// own split is the trainer's last one, exact match comes with a per-family table; bench and eval
// argument errors.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readMetricsJsonl } from '../../src/cli/metrics-files.ts';
import { pupil, pupilAsync } from './train-helpers.ts';

const dir = join(mkdtempSync(join(tmpdir(), 'pupil-cli-eval-')), 'run');

describe('pupil eval', () => {
  beforeAll(() => {
    const r = pupil(['train', '--student', 'scratch', '--hidden', '32', '--layers', '1', '--heads', '2', '--kv-heads', '1', '--max-positions', '128', '--seq', '128',
      '--batch', '4', '--limit', '200', '--steps', '4', '--exact-match', '6', '--sample-tokens', '2', '--eval-batches', '0', '--out', dir]);
    expect(r.code, r.err).toBe(0);
  }, 120_000);

  it('prints validation loss, perplexity and exact match per family; the run\'s split gives the trainer\'s figures', () => {
    const last = readMetricsJsonl(join(dir, 'metrics.jsonl')).filter((r) => r.type === 'eval').at(-1)!;
    expect(last.step).toBe(4);
    const r = pupil(['eval', '--checkpoint', dir, '--exact-match', '6']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^checkpoint .*checkpoint \(step 4\)$/m);
    const m = r.out.match(/^validation \((\d+) examples, (\d+) batches, (\d+) tokens\): loss (\S+), perplexity (\S+), token accuracy/m)!;
    expect(m).not.toBeNull();
    expect(Number(m[1])).toBe(10); // 5% of the 200 examples
    expect(m[4]).toBe(last.valLoss!.toFixed(4));
    expect(Number(m[5])).toBeCloseTo(Math.exp(last.valLoss!), 2);
    const em = r.out.match(/^exact match on 6 held-out bundled tasks: (\S+)% \((\d+)\/6\)$/m)!;
    expect(Number(em[2])).toBe(Math.round(last.exactMatch! * 6));
    expect(r.out).toMatch(/^ {2}family +correct +total +rate$/m);
    expect(r.out).toMatch(/^ {2}all +\d+ +6 +\d+\.\d%$/m);
  }, 60_000);

  it('--data and --json: the loss on another file, as JSON', () => {
    const r = pupil(['eval', '--checkpoint', join(dir, 'checkpoint'), '--data', 'bundled', '--batches', '2', '--exact-match', '0', '--json']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.step).toBe(4);
    expect(j.validation.batches).toBe(2);
    expect(j.validation.examples).toBeGreaterThan(900); // the 1000 held-out test records, a few too long
    expect(j.validation.perplexity).toBeCloseTo(Math.exp(j.validation.loss), 6);
    expect(j.exactMatch).toBeUndefined();
  }, 60_000);

  it('says what is wrong with its arguments (eval, bench)', async () => {
    const cases: [string[], RegExp, number][] = [
      [['eval'], /pupil eval: --checkpoint DIR is missing/, 2],
      [['eval', '--checkpoint', dir, '--exact-match', '-3'], /argument is ambiguous|--exact-match must be an integer >= 0/, 2],
      [['eval', '--checkpoint', dir, '--data', join(tmpdir(), 'none.jsonl')], /--data .*none\.jsonl: no such file/, 2],
      [['eval', '--checkpoint', dir, '--batch', '1.5'], /--batch must be an integer >= 1, got "1\.5"/, 2],
      [['bench', 'nope'], /pupil bench: unknown suite "nope"; choose one of: kernels, train/, 2],
    ];
    const results = await Promise.all(cases.map(([args]) => pupilAsync(args)));
    results.forEach((r, i) => {
      expect(r.err, cases[i][0].join(' ')).toMatch(cases[i][1]);
      expect(r.code, cases[i][0].join(' ')).toBe(cases[i][2]);
    });
  }, 60_000);
});
