// The loss curve of a run as a self-contained SVG (no native modules, opens in any browser):
// training loss per step (raw, faint, plus a smoothed line), validation loss at each eval with
// markers, axes with ticks, a legend, and an optional log-scale loss axis.

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface LossPlotOptions {
  train: readonly (readonly [number, number])[];
  validation?: readonly (readonly [number, number])[];
  title?: string;
  logScale?: boolean;
  width?: number;
  height?: number;
  /** Exponential moving average factor for the smoothed training line (0 = none). */
  smoothing?: number;
}

const TRAIN_COLOR = '#1f77b4';
const VAL_COLOR = '#d62728';

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Round-number ticks (1, 2, 5 × 10^k) covering [lo, hi], about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  // The round step nearest the raw one (in ratio), so a range never gets only two ticks.
  const step = [1, 2, 5, 10].map((m) => m * mag).reduce((a, b) => (Math.abs(Math.log(b / raw)) < Math.abs(Math.log(a / raw)) ? b : a));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** Ticks for a log axis: each decade, and 2 and 5 within it when the range is short. */
export function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const decades = Math.log10(hi) - Math.log10(lo);
  const mults = decades < 1 ? [1, 1.5, 2, 3, 4, 5, 6, 8] : decades < 3 ? [1, 2, 5] : [1];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of mults) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

function ema(points: readonly (readonly [number, number])[], alpha: number): [number, number][] {
  let s: number | undefined;
  return points.map(([x, y]) => {
    s = s === undefined ? y : alpha * s + (1 - alpha) * y;
    return [x, s];
  });
}

/** One line of a chart; `markers` draws a dot on every point, `faint` a thin translucent line. */
export interface Line extends Series {
  /** Legend text (default the name, which also names the path's class). */
  label?: string;
  color: string;
  width?: number;
  faint?: boolean;
  markers?: boolean;
  /** Leave out of the legend (e.g. the raw line under a smoothed one). */
  hideInLegend?: boolean;
}

export interface LineChartOptions {
  lines: readonly Line[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  logScale?: boolean;
  width?: number;
  height?: number;
}

/** A palette that stays distinguishable in print and for common colour blindness (Okabe–Ito). */
export const PALETTE = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9', '#000000'] as const;

/** Lines over a shared x axis as a self-contained SVG: grid, ticks, axis labels, legend. */
export function lineChartSvg(opts: LineChartOptions): string {
  const width = opts.width ?? 720, height = opts.height ?? 420;
  const log = opts.logScale ?? false;
  const ok = (p: readonly [number, number]) => Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!log || p[1] > 0);
  const lines = opts.lines.map((l) => ({ ...l, points: l.points.filter(ok) }));
  const all = lines.flatMap((l) => l.points);
  const margin = { left: 64, right: 20, top: opts.title ? 40 : 20, bottom: 48 };
  const pw = width - margin.left - margin.right, ph = height - margin.top - margin.bottom;

  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  if (!all.length) [x0, x1, y0, y1] = [0, 1, log ? 1 : 0, log ? 10 : 1];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = log ? [y0 / 2, y1 * 2] : [y0 - 1, y1 + 1];
  const xTicks = niceTicks(x0, x1);
  let yTicks: number[];
  if (log) {
    yTicks = logTicks(y0, y1);
    if (yTicks.length < 2) yTicks = [y0, y1].map((v) => Number(v.toPrecision(3)));
  } else {
    // Pad the value axis a little so a line does not sit on the frame.
    const pad = (y1 - y0) * 0.05;
    y0 = y0 >= 0 ? Math.max(0, y0 - pad) : y0 - pad;
    y1 += pad;
    yTicks = niceTicks(y0, y1);
  }
  const ty = (v: number) => (log ? Math.log(v) : v);
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => margin.top + ph - ((ty(y) - ty(y0)) / (ty(y1) - ty(y0))) * ph;
  const path = (pts: readonly (readonly [number, number])[]) => pts.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  if (opts.title) parts.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(opts.title)}</text>`);
  parts.push(`<g class="grid" stroke="#e5e5e5">`);
  for (const t of yTicks) parts.push(`<line x1="${margin.left}" x2="${margin.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}"/>`);
  for (const t of xTicks) parts.push(`<line x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${margin.top}" y2="${margin.top + ph}"/>`);
  parts.push(`</g>`);
  parts.push(`<g class="axes" stroke="black"><line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${margin.top + ph}"/><line x1="${margin.left}" x2="${margin.left + pw}" y1="${margin.top + ph}" y2="${margin.top + ph}"/></g>`);
  parts.push(`<g class="y-ticks" text-anchor="end">`);
  for (const t of yTicks) parts.push(`<text x="${margin.left - 6}" y="${(sy(t) + 4).toFixed(1)}">${fmt(t)}</text>`);
  parts.push(`</g><g class="x-ticks" text-anchor="middle">`);
  for (const t of xTicks) parts.push(`<text x="${sx(t).toFixed(1)}" y="${margin.top + ph + 16}">${fmt(t)}</text>`);
  parts.push(`</g>`);
  parts.push(`<text x="${margin.left + pw / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(opts.xLabel ?? 'step')}</text>`);
  parts.push(`<text transform="translate(16 ${margin.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(opts.yLabel ?? 'loss')}${log ? ' (log scale)' : ''}</text>`);

  for (const l of lines) {
    if (!l.points.length) continue;
    const cls = escapeXml(l.name);
    parts.push(`<path class="series ${cls}" data-series="${cls}" fill="none" stroke="${l.color}" stroke-width="${l.width ?? 2}"${l.faint ? ' stroke-opacity="0.3"' : ''} d="${path(l.points)}"/>`);
    if (l.markers) parts.push(`<g fill="${l.color}">${l.points.map(([x, y]) => `<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3"/>`).join('')}</g>`);
  }
  const legend = lines.filter((l) => !l.hideInLegend && l.points.length);
  if (legend.length) {
    const lw = Math.max(140, 44 + 7 * Math.max(...legend.map((l) => (l.label ?? l.name).length)));
    const lx = margin.left + pw - lw - 10, ly = margin.top + 10;
    parts.push(`<g class="legend"><rect x="${lx}" y="${ly}" width="${lw}" height="${4 + 20 * legend.length}" fill="white" stroke="#ccc"/>`);
    legend.forEach((l, i) => {
      const y = ly + 12 + 20 * i;
      parts.push(`<line x1="${lx + 8}" x2="${lx + 28}" y1="${y}" y2="${y}" stroke="${l.color}" stroke-width="2"/><text x="${lx + 34}" y="${y + 4}">${escapeXml(l.label ?? l.name)}</text>`);
    });
    parts.push(`</g>`);
  }
  parts.push(`</svg>`);
  return parts.join('\n') + '\n';
}

/** A run's loss curve: raw training loss (faint) under a smoothed line, validation loss with markers. */
export function lossCurveSvg(opts: LossPlotOptions): string {
  const train = opts.train.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
  const smoothing = opts.smoothing ?? (train.length > 50 ? 0.9 : 0);
  const lines: Line[] = [];
  if (train.length) {
    lines.push({ name: 'train', label: 'train loss', points: train, color: TRAIN_COLOR, width: 1, faint: smoothing > 0, hideInLegend: smoothing > 0 });
    if (smoothing) lines.push({ name: 'train-smoothed', label: 'train loss', points: ema(train, smoothing), color: TRAIN_COLOR });
  }
  if (opts.validation?.length) lines.push({ name: 'validation', label: 'validation loss', points: opts.validation, color: VAL_COLOR, markers: true });
  return lineChartSvg({ lines, title: opts.title, logScale: opts.logScale, width: opts.width, height: opts.height });
}
