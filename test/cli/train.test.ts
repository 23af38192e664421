// `pupil train` end to end on a tiny scratch student and a slice of the bundled data: the run
// folder (metrics files, loss.svg, config.json, checkpoint), --print-config round trip, Ctrl-C
// saving a checkpoint, --resume continuing with the same losses as an uninterrupted run, and
// clear messages for bad arguments.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readMetricsCsv, readMetricsJsonl } from '../../src/cli/metrics-files.ts';
import { loadPretrainedNode } from '../../src/models/load-node.ts';
import { decodeCheckpoint } from '../../src/train/checkpoint.ts';
import { loadCheckpointDir } from '../../src/train/checkpoint-node.ts';
import { Live, pupil, pupilAsync, stepLines } from './train-helpers.ts';

// Constant learning rate without warmup: a step's loss does not depend on --steps, so a run with
// --steps 100000 (interrupted) can be compared step by step with a short uninterrupted one.
const TINY = ['--student', 'scratch', '--hidden', '32', '--layers', '1', '--heads', '2', '--kv-heads', '1', '--max-positions', '128', '--seq', '128', '--batch', '4',
  '--limit', '300', '--exact-match', '0', '--sample-tokens', '4', '--log-every', '1', '--schedule', 'constant', '--warmup-ratio', '0'];
const tmp = mkdtempSync(join(tmpdir(), 'pupil-cli-train-'));
const ref = join(tmp, 'ref');

/** Every `<tag` is closed by `</tag>` or `/>`, in order. */
function wellFormed(svg: string): boolean {
  const stack: string[] = [];
  for (const [, close, tag, self] of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (close) {
      if (stack.pop() !== tag) return false;
    } else if (!self) stack.push(tag);
  }
  return stack.length === 0;
}

describe('pupil train', () => {
  let run: ReturnType<typeof pupil>;
  beforeAll(() => {
    run = pupil(['train', ...TINY, '--steps', '12', '--eval-every', '6', '--save-every', '6', '--name', 'tiny', '--out', ref]);
  }, 120_000);

  it('trains and writes the run folder: metrics, loss.svg, config.json, checkpoint', async () => {
    expect(run.err).not.toMatch(/pupil train:/);
    expect(run.code).toBe(0);
    const shown = stepLines(run.out);
    expect([...shown.keys()]).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(run.out).toMatch(/eval @ step 6: val loss \d+\.\d{4} perplexity/);
    expect(run.out).toMatch(/checkpoint at step 12 saved to/);
    expect(run.out).toMatch(/done: 12\/12 steps/);

    const rows = readMetricsJsonl(join(ref, 'metrics.jsonl'));
    const steps = rows.filter((r) => r.type === 'step');
    const evals = rows.filter((r) => r.type === 'eval');
    expect(steps.map((r) => r.step)).toEqual([...shown.keys()]);
    expect(evals.map((r) => r.step)).toEqual([0, 6, 12]);
    for (const r of steps) {
      expect(r.loss!.toFixed(4)).toBe(shown.get(r.step));
      expect(r.tokensPerSecond).toBeGreaterThan(0);
      expect(r.time).toBeGreaterThan(0);
    }
    expect(evals[2].valLoss).toBeLessThan(evals[0].valLoss!);
    expect(evals[0].perplexity).toBeCloseTo(Math.exp(evals[0].valLoss!), 6);
    // The CSV holds the same rows as the JSONL.
    expect(readMetricsCsv(join(ref, 'metrics.csv'))).toEqual(rows);

    const svg = readFileSync(join(ref, 'loss.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(wellFormed(svg)).toBe(true);
    expect(svg.match(/data-series="train" [^>]*d="([^"]+)"/)![1].match(/[ML]/g)).toHaveLength(12);
    expect(svg.match(/data-series="validation" [^>]*d="([^"]+)"/)![1].match(/[ML]/g)).toHaveLength(3);

    const ck = decodeCheckpoint(await loadCheckpointDir(join(ref, 'checkpoint')));
    expect(ck.state.step).toBe(12);
    const model = await loadPretrainedNode(join(ref, 'checkpoint'));
    expect(model.config.hiddenSize).toBe(32);
    expect(model.tokenizerFiles?.['tokenizer.json']).toBeDefined();
    expect([...model.weights.keys()].sort()).toEqual([...ck.params.keys()].sort());
  });

  it('--print-config prints the resolved config; it re-runs unchanged', () => {
    const saved = readFileSync(join(ref, 'config.json'), 'utf8');
    const cfg = JSON.parse(saved);
    expect(cfg.name).toBe('tiny');
    expect(cfg.train).toMatchObject({ maxSteps: 12, batchSize: 4, seqLen: 128, schedule: 'constant', lr: 1e-3 });
    expect(cfg.student.scratch).toMatchObject({ hidden: 32, layers: 1 });
    const again = pupil(['train', '--config', join(ref, 'config.json'), '--print-config']);
    expect(again.code).toBe(0);
    expect(again.out).toBe(saved);
    // Flags win over the file.
    const file = join(tmp, 'run.json');
    writeFileSync(file, JSON.stringify({ train: { lr: 0.5, batchSize: 3 } }));
    const over = JSON.parse(pupil(['train', '--config', file, '--lr', '0.01', '--print-config']).out);
    expect(over.train).toMatchObject({ lr: 0.01, batchSize: 3 });
  });

  it('Ctrl-C saves a checkpoint; --resume continues from it with the uninterrupted losses', async () => {
    const dir = join(tmp, 'interrupted');
    const a = new Live(['train', ...TINY, '--steps', '100000', '--eval-every', '0', '--save-every', '0', '--name', 'tiny', '--out', dir]);
    await a.waitFor(/^step 3\//m);
    a.child.kill('SIGINT');
    expect(await a.exited).toBe(130);
    expect(a.out).toMatch(/interrupted: finishing the step in flight and saving a checkpoint/);
    const k = Number(a.out.match(/stopped at step (\d+); continue with: pupil train --resume /)![1]);
    expect(k).toBeGreaterThanOrEqual(3);
    expect(decodeCheckpoint(await loadCheckpointDir(join(dir, 'checkpoint'))).state.step).toBe(k);

    const target = Math.max(k, 12) + 2;
    const b = new Live(['train', '--resume', dir, '--log-every', '1']);
    await b.waitFor(new RegExp(`^step ${target}/`, 'm'));
    b.child.kill('SIGINT');
    expect(await b.exited).toBe(130);
    expect(b.out).toMatch(new RegExp(`resuming interrupted from step ${k}\\b`));
    expect(Math.min(...stepLines(b.out).keys())).toBe(k + 1);

    // One row per step, no duplicates across the interruption, and the reference's losses.
    const rows = readMetricsJsonl(join(dir, 'metrics.jsonl')).filter((r) => r.type === 'step');
    const m = rows.length;
    expect(rows.map((r) => r.step)).toEqual(Array.from({ length: m }, (_, i) => i + 1));
    expect(m).toBeGreaterThanOrEqual(target);
    const reference = readMetricsJsonl(join(ref, 'metrics.jsonl')).filter((r) => r.type === 'step');
    expect(rows.slice(0, 12).map((r) => r.loss)).toEqual(reference.map((r) => r.loss));
    expect(readMetricsCsv(join(dir, 'metrics.csv')).filter((r) => r.type === 'step').map((r) => r.step)).toEqual(rows.map((r) => r.step));
  }, 180_000);

  it('says what is wrong with its arguments (exit 2) and fails cleanly on errors (exit 1)', async () => {
    const cases: [string[], RegExp, number][] = [
      [['--steps', 'abc'], /--steps expects an integer, got "abc"/, 2],
      [['--lr=-1', '--print-config'], /config train\.lr: expected a positive number, got -1/, 2],
      [['--bogus'], /Unknown option '--bogus'/, 2],
      [['--config', join(tmp, 'nope.json')], /--config .*nope\.json: no such file/, 2],
      [['--student', 'some/model', '--hidden', '8'], /--hidden only applies to a scratch student/, 2],
      [['--data', join(tmp, 'missing.jsonl')], /--data .*missing\.jsonl: no such file/, 2],
      [['--out', ref], /already holds a run; continue it with --resume/, 2],
      [['--resume', tmp], /no checkpoint there/, 2],
      [['--seq', '512', '--max-positions', '128', '--print-config'], /train\.seqLen: 512 exceeds the student's maxPositions \(128\)/, 2],
      [['--student', 'scratch', '--batch', '2', '--steps', '1', '--limit', '40', '--max-length', '8', '--seq', '8', '--max-positions', '8', '--out', join(tmp, 'empty')], /pupil train: no training examples left/, 1],
    ];
    const results = await Promise.all(cases.map(([args]) => pupilAsync(['train', ...args])));
    results.forEach((r, i) => {
      expect(r.err, cases[i][0].join(' ')).toMatch(cases[i][1]);
      expect(r.code, cases[i][0].join(' ')).toBe(cases[i][2]);
    });
  }, 120_000);
});
