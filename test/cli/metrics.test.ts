// metrics.jsonl and metrics.csv: rows round-trip (NaN and Infinity included), truncation for a
// resumed run, a torn last line is ignored; and the progress output without a terminal.
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CSV_HEADER, MetricsFiles, readMetricsCsv, readMetricsJsonl, type MetricsRow } from '../../src/cli/metrics-files.ts';
import { formatDuration, Progress } from '../../src/cli/progress.ts';

const rows: MetricsRow[] = [
  { type: 'step', step: 1, time: 0.5, loss: 5.5, lr: 1e-3, gradNorm: 2.25, tokensPerSecond: 1000, tokensSeen: 512, accuracy: 0.125, skipped: false },
  { type: 'step', step: 2, time: 1, loss: NaN, lr: 1e-3, gradNorm: Infinity, tokensPerSecond: 990, tokensSeen: 1024, skipped: true },
  { type: 'eval', step: 2, time: 1.5, valLoss: 4.75, perplexity: Math.exp(4.75), exactMatch: 0.25 },
  { type: 'step', step: 3, time: 2, loss: 4.5, lr: 9e-4, gradNorm: 1.5, tokensPerSecond: 1010, tokensSeen: 1536, accuracy: 0.25, skipped: false },
];

describe('metrics files', () => {
  it('JSONL and CSV hold the same rows', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pupil-metrics-'));
    const files = new MetricsFiles(dir);
    for (const r of rows) files.append(r);
    expect(readMetricsJsonl(files.jsonlPath)).toEqual(rows);
    const csv = readFileSync(files.csvPath, 'utf8').split('\n');
    expect(csv[0]).toBe(CSV_HEADER);
    expect(csv[2]).toBe('step,2,1,nan,0.001,inf,990,1024,,1,,,');
    expect(readMetricsCsv(files.csvPath)).toEqual(rows);
  });

  it('a resumed run drops rows past its checkpoint and keeps appending; a torn line is skipped', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pupil-metrics-'));
    let files = new MetricsFiles(dir);
    for (const r of rows) files.append(r);
    appendFileSync(files.jsonlPath, '{"type":"step","st');
    files = new MetricsFiles(dir); // reopening keeps what is there
    expect(files.rows()).toHaveLength(4);
    files.truncateAfter(2);
    expect(files.rows().map((r) => [r.type, r.step])).toEqual([['step', 1], ['step', 2], ['eval', 2]]);
    files.append(rows[3]);
    expect(readMetricsCsv(files.csvPath)).toEqual(rows);
  });
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

describe('progress without a terminal', () => {
  it('prints plain step lines every few steps, with tokens/s and an ETA at the recent pace', () => {
    const sink = new Sink();
    let t = 0;
    const p = new Progress({ total: 100, stream: sink as unknown as NodeJS.WriteStream, every: 25, now: () => t });
    for (let s = 1; s <= 100; s++) {
      t += 500; // 2 steps per second
      p.step({ step: s, loss: 5 - s / 50, lr: 1e-3, tokensPerSecond: 2048, gradNorm: 1, skipped: s === 60 });
    }
    p.log('eval: val loss 3.0');
    p.stop();
    const lines = sink.text.trimEnd().split('\n');
    expect(lines.map((l) => /^step (\d+)\//.exec(l)?.[1] ?? l)).toEqual(['1', '26', '51', '60', '85', '100', 'eval: val loss 3.0']);
    expect(lines[0]).toBe('step 1/100 | loss 4.9800 | lr 1.00e-3 | grad 1.000 | 2048 tok/s | eta 50s');
    expect(lines[2]).toContain('eta 25s');
    expect(lines[3]).toContain('SKIPPED');
    expect(sink.text).not.toMatch(/\x1b|\r/);
  });

  it('formats durations', () => {
    expect([formatDuration(5.4), formatDuration(65), formatDuration(3 * 3600 + 120), formatDuration(NaN)]).toEqual(['5s', '1m05s', '3h02m', '?']);
  });
});

describe('progress tokens/s', () => {
  it('is the rate over the recent steps when tokens seen are given', () => {
    const sink = new Sink();
    let t = 0;
    const p = new Progress({ total: 10, stream: sink as unknown as NodeJS.WriteStream, every: 1, now: () => t });
    // One step's own rate swings wildly (metrics resolve in bursts); the window's does not.
    const own = [10, 1e7, 5, 1e6];
    own.forEach((r, i) => {
      t += 1000;
      p.step({ step: i + 1, loss: 1, lr: 0, tokensPerSecond: r, tokensSeen: 100 * (i + 1) });
    });
    expect(sink.text.trimEnd().split('\n').map((l) => l.match(/(\d+) tok\/s/)![1])).toEqual(['10', '100', '100', '100']);
    expect(sink.text).toMatch(/lr 0 \|/);
  });
});
