// The loss-curve SVG: well-formed, both series where the points are, ticks that cover the data,
// the log scale placing decades evenly.
import { describe, expect, it } from 'vitest';
import { lineChartSvg, logTicks, lossCurveSvg, niceTicks, PALETTE } from '../../src/cli/plot.ts';

/** Every `<tag` is closed by `</tag>` or `/>` in order: enough to catch a broken SVG writer. */
function checkWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    const [, close, tag, selfClose] = m;
    if (close) expect(stack.pop(), `</${tag}>`).toBe(tag);
    else if (!selfClose) stack.push(tag);
  }
  expect(stack).toEqual([]);
}

/** The (x, y) pairs of a path's `d` attribute. */
function pathPoints(svg: string, series: string): [number, number][] {
  const d = new RegExp(`data-series="${series}"[^>]* d="([^"]+)"`).exec(svg)?.[1];
  expect(d, series).toBeDefined();
  return [...d!.matchAll(/[ML]([-\d.]+),([-\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

describe('loss curve SVG', () => {
  const train = Array.from({ length: 100 }, (_, i) => [i + 1, 5 * Math.exp(-i / 30) + 0.5] as const);
  const validation = [[25, 3], [50, 1.8], [100, 1.1]] as const;

  it('draws train and validation series inside the plot, with ticks and a legend', () => {
    const svg = lossCurveSvg({ train, validation, title: 'run <1> & co' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    checkWellFormed(svg);
    expect(svg).toContain('run &lt;1&gt; &amp; co');
    expect(svg).toContain('validation loss');
    const t = pathPoints(svg, 'train'), v = pathPoints(svg, 'validation');
    expect(t).toHaveLength(100);
    expect(v).toHaveLength(3);
    expect(pathPoints(svg, 'train-smoothed')).toHaveLength(100);
    // Loss falls, so SVG y (downwards) grows; the x axis runs left to right.
    expect(t[99][1]).toBeGreaterThan(t[0][1]);
    expect(t[99][0]).toBeGreaterThan(t[0][0]);
    for (const [x, y] of [...t, ...v]) {
      expect(x).toBeGreaterThanOrEqual(64);
      expect(x).toBeLessThanOrEqual(700);
      expect(y).toBeGreaterThanOrEqual(20);
      expect(y).toBeLessThanOrEqual(420 - 48);
    }
    // The validation point at step 100 sits at the same x as the last training point.
    expect(v[2][0]).toBeCloseTo(t[99][0], 1);
    expect(svg.match(/<circle /g)).toHaveLength(3);
  });

  it('log scale: equal ratios are equal distances, non-positive losses are left out', () => {
    const svg = lossCurveSvg({ train: [[1, 10], [2, 1], [3, 0.1], [4, 0], [5, -1]], logScale: true, smoothing: 0 });
    checkWellFormed(svg);
    expect(svg).toContain('loss (log scale)');
    const p = pathPoints(svg, 'train');
    expect(p).toHaveLength(3);
    expect(p[1][1] - p[0][1]).toBeCloseTo(p[2][1] - p[1][1], 0);
    const linear = pathPoints(lossCurveSvg({ train: [[1, 10], [2, 1], [3, 0.1]], smoothing: 0 }), 'train');
    expect(linear[1][1] - linear[0][1]).toBeGreaterThan(5 * (linear[2][1] - linear[1][1]));
  });

  it('survives no data, one point and NaN losses', () => {
    for (const svg of [lossCurveSvg({ train: [] }), lossCurveSvg({ train: [[3, 2]] }), lossCurveSvg({ train: [[1, NaN], [2, 1], [3, Infinity]] })]) {
      checkWellFormed(svg);
      expect(svg).not.toMatch(/NaN|Infinity/);
    }
  });

  it('a chart of several named lines: one path and one legend entry each, on a shared scale', () => {
    const lines = ['sft', 'teacher-data', 'sft+kd'].map((name, i) => ({ name, color: PALETTE[i], markers: true, points: [[100, 3 - i], [200, 2 - i / 2]] as [number, number][] }));
    const svg = lineChartSvg({ lines, title: 'held-out', yLabel: 'validation loss' });
    checkWellFormed(svg);
    for (const l of lines) expect(svg).toContain(`>${l.name}</text>`);
    const ys = lines.map((l) => pathPoints(svg, l.name.replace('+', '\\+'))[0][1]);
    // Higher loss is drawn lower on the page: sft (3) above teacher-data (2) above sft+kd (1) in value.
    expect(ys[0]).toBeLessThan(ys[1]);
    expect(ys[1]).toBeLessThan(ys[2]);
    expect(svg).toContain('validation loss</text>');
  });

  it('ticks: round numbers covering the range', () => {
    expect(niceTicks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
    expect(niceTicks(0.13, 0.87)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(1.6, 11.8)).toEqual([2, 4, 6, 8, 10]);
    expect(logTicks(0.5, 20)).toEqual([0.5, 1, 2, 5, 10, 20]);
    expect(logTicks(1e-3, 10)).toEqual([1e-3, 1e-2, 0.1, 1, 10]);
  });
});
