import { LitElement, css, html, unsafeCSS, type PropertyValues } from 'lit';
import type uPlot from 'uplot';
// uPlot's stylesheet must live inside the shadow root (document styles do not reach it).
import uplotCss from 'uplot/dist/uPlot.min.css?inline';
import type { MetricRow, TrainerEvent } from '../worker/protocol.ts';
import { controlStyles, themeStyles } from './theme.ts';

type StepEvent = Extract<TrainerEvent, { type: 'step' }>;
type EvalEvent = Extract<TrainerEvent, { type: 'eval' }>;

/** What the chart shows: the loss curves, or one of the step diagnostics. */
export type ChartView = 'loss' | 'lr' | 'gradNorm' | 'tokensPerSecond';

const VIEWS: Record<ChartView, { label: string; smooth: boolean }> = {
  loss: { label: 'Loss', smooth: true },
  lr: { label: 'Learning rate', smooth: false },
  gradNorm: { label: 'Gradient norm', smooth: true },
  tokensPerSecond: { label: 'Tokens per second', smooth: true },
};

type Col = (number | null)[];
const finite = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const fmt = (v: number | null | undefined) => (v == null ? '–' : Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01) ? v.toPrecision(3) : v.toFixed(2));

// Loaded on first render so pages that never show a chart do not pay for uPlot.
let uplotModule: Promise<typeof uPlot> | undefined;
const loadUplot = () => (uplotModule ??= import('uplot').then((m) => m.default));

/**
 * Live training curves on uPlot: train and validation loss, learning rate, gradient norm and
 * tokens per second, with a log-scale toggle, EMA smoothing, values on hover (uPlot's legend)
 * and a text summary in an aria-live region for screen readers.
 *
 * Feed it Trainer events as they come (`addStep`, `addEval`, or `add` for any event), or a stored
 * history through the `metrics` property. Events are buffered and drawn once per animation frame,
 * so thousands of points cost one `setData` per frame.
 *
 * @attr view - 'loss' (default), 'lr', 'gradNorm' or 'tokensPerSecond'
 * @attr log - logarithmic y axis
 * @attr smoothing - EMA weight from 0 (raw) to 0.99 (default 0.6); the raw curve stays faint behind
 * @attr height - plot height in CSS pixels (default 240)
 * @attr theme - 'light' or 'dark' (default: the system preference)
 * @csspart card - the outer box
 * @csspart toolbar - the row of controls above the plot
 * @csspart plot - the element uPlot draws into
 * @csspart summary - the text summary (also the aria-live region)
 * @cssprop --pupil-accent - train series colour
 * @cssprop --pupil-accent-2 - validation series colour
 */
export class PupilLossChart extends LitElement {
  static override properties = {
    view: { reflect: true },
    log: { type: Boolean, reflect: true },
    smoothing: { type: Number },
    height: { type: Number },
    theme: { reflect: true },
    summaryInterval: { type: Number, attribute: 'summary-interval' },
    _summary: { state: true },
  };

  declare view: ChartView;
  declare log: boolean;
  declare smoothing: number;
  declare height: number;
  declare theme?: 'light' | 'dark';
  /** Minimum ms between two spoken step summaries (evaluations are always announced). */
  declare summaryInterval: number;
  declare _summary: string;

  // Columns aligned on one step axis: evals at steps without a step event get nulls elsewhere.
  private xs: number[] = [];
  private cols: Record<'loss' | 'val' | 'lr' | 'gradNorm' | 'tokensPerSecond', Col> = { loss: [], val: [], lr: [], gradNorm: [], tokensPerSecond: [] };
  private lastStep?: StepEvent;
  private lastVal?: number;
  private plot?: uPlot;
  private frame = 0;
  private dirty = false;
  private announceNow = false;
  private lastAnnounce = -Infinity;
  private trailing?: ReturnType<typeof setTimeout>;
  private resizer?: ResizeObserver;
  private media?: MediaQueryList;
  private rebuildToken = 0;

  constructor() {
    super();
    this.view = 'loss';
    this.log = false;
    this.smoothing = 0.6;
    this.height = 240;
    this.summaryInterval = 5000;
    this._summary = 'No training steps yet.';
  }

  static override styles = [
    themeStyles,
    controlStyles,
    unsafeCSS(uplotCss),
    css`
      :host { display: block; }
      .toolbar { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; margin-bottom: 8px; }
      .toolbar label { display: inline-flex; gap: 6px; align-items: center; }
      input[type='range'] { width: 110px; padding: 0; }
      .plot { min-height: 40px; }
      .uplot { width: 100%; font-family: inherit; }
      .u-legend { color: var(--_fg); font-size: 0.88em; }
      .u-legend .u-marker { border-radius: 2px; }
      .summary { margin: 6px 0 0; color: var(--_muted); font-size: 0.88em; font-variant-numeric: tabular-nums; }
    `,
  ];

  /** The current one-line summary (what the live region says, without its throttling). */
  get summary(): string {
    const s = this.lastStep;
    if (!s) return this.lastVal !== undefined ? `validation loss ${fmt(this.lastVal)}` : 'No training steps yet.';
    return `step ${s.step}: loss ${fmt(finite(s.loss))}${this.lastVal !== undefined ? ` (validation ${fmt(this.lastVal)})` : ''}`;
  }

  /** Number of points on the step axis (for tests and embedders that cap history). */
  get length(): number {
    return this.xs.length;
  }

  /** Adds one optimizer step (a Trainer `step` event). */
  addStep(e: Pick<StepEvent, 'step' | 'loss' | 'lr' | 'gradNorm' | 'tokensPerSecond'> & Partial<StepEvent>): void {
    const i = this.rowFor(e.step);
    this.cols.loss[i] = finite(e.loss);
    this.cols.lr[i] = finite(e.lr);
    this.cols.gradNorm[i] = finite(e.gradNorm);
    this.cols.tokensPerSecond[i] = finite(e.tokensPerSecond);
    if (!this.lastStep || e.step >= this.lastStep.step) this.lastStep = { type: 'step', epoch: 0, tokensSeen: 0, skipped: false, elapsedMs: 0, ...e };
    this.schedule();
  }

  /** Adds one evaluation (a Trainer `eval` event); only `valLoss` is drawn. */
  addEval(e: Pick<EvalEvent, 'step' | 'valLoss'> & Partial<EvalEvent>): void {
    const v = finite(e.valLoss);
    if (v === null) return;
    this.cols.val[this.rowFor(e.step)] = v;
    this.lastVal = v;
    this.announceNow = true;
    this.schedule();
  }

  /** Routes any Trainer event: steps and evals are drawn, the rest ignored. */
  add(e: TrainerEvent): void {
    if (e.type === 'step') this.addStep(e);
    else if (e.type === 'eval') this.addEval(e);
  }

  /** Clears every point (a new run). */
  reset(): void {
    this.xs = [];
    for (const k of Object.keys(this.cols) as (keyof typeof this.cols)[]) this.cols[k] = [];
    this.lastStep = undefined;
    this.lastVal = undefined;
    this.announceNow = true;
    this.schedule();
  }

  /** A stored history (EngineClient.metrics(runId)): replaces what the chart shows. */
  set metrics(rows: readonly MetricRow[]) {
    this.reset();
    for (const r of rows) {
      if (r.kind === 'step') this.addStep(r as unknown as StepEvent);
      else if (r.kind === 'eval') this.addEval(r as unknown as EvalEvent);
    }
  }

  // Index of `step` on the axis, inserting a row of nulls if it is new. Events nearly always
  // arrive in order, so this is a push; a binary search handles the rest.
  private rowFor(step: number): number {
    const xs = this.xs;
    const n = xs.length;
    if (n && xs[n - 1] === step) return n - 1;
    let i = n;
    if (n && xs[n - 1] > step) {
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (xs[mid] < step) lo = mid + 1;
        else hi = mid;
      }
      if (xs[lo] === step) return lo;
      i = lo;
    }
    xs.splice(i, 0, step);
    for (const c of Object.values(this.cols)) c.splice(i, 0, null);
    return i;
  }

  private schedule(): void {
    this.dirty = true;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    this.frame = 0;
    if (!this.dirty) return;
    this.dirty = false;
    this.plot?.setData(this.data());
    this.maybeAnnounce();
  }

  private maybeAnnounce(): void {
    const now = performance.now();
    clearTimeout(this.trailing);
    if (this.announceNow || now - this.lastAnnounce >= this.summaryInterval) {
      this.announceNow = false;
      this.lastAnnounce = now;
      this._summary = this.summary;
    } else {
      // The last step of a burst is still announced once things go quiet.
      this.trailing = setTimeout(() => this.maybeAnnounce(), this.summaryInterval - (now - this.lastAnnounce));
    }
  }

  // Bias-corrected EMA (as TensorBoard): early points are not dragged towards zero.
  private smooth(col: Col): Col {
    const b = Math.min(Math.max(this.smoothing, 0), 0.999);
    if (b === 0) return col;
    let ema = 0;
    let k = 0;
    return col.map((v) => {
      if (v === null || (this.log && v <= 0)) return null;
      ema = b * ema + (1 - b) * v;
      k++;
      return ema / (1 - b ** k);
    });
  }

  private data(): uPlot.AlignedData {
    const pos = (c: Col): Col => (this.log ? c.map((v) => (v !== null && v > 0 ? v : null)) : c);
    const view = VIEWS[this.view] ? this.view : 'loss';
    const main = pos(this.cols[view]);
    const out: Col[] = [];
    if (VIEWS[view].smooth) out.push(main, this.smooth(main));
    else out.push(main);
    if (view === 'loss') out.push(pos(this.cols.val));
    return [this.xs, ...out] as uPlot.AlignedData;
  }

  private token(name: string, fallback: string): string {
    return getComputedStyle(this).getPropertyValue(name).trim() || fallback;
  }

  private async rebuild(): Promise<void> {
    const token = ++this.rebuildToken;
    const UPlot = await loadUplot();
    const host = this.renderRoot.querySelector<HTMLElement>('.plot');
    if (token !== this.rebuildToken || !host || !this.isConnected) return;
    this.plot?.destroy();
    const fg = this.token('--_fg', '#1d1d1f');
    const grid = this.token('--_border', '#d0d4da');
    const a1 = this.token('--_accent', '#2b6cd4');
    const a2 = this.token('--_accent-2', '#d9711c');
    const view = VIEWS[this.view] ? this.view : 'loss';
    const label = view === 'loss' ? 'train loss' : VIEWS[view].label.toLowerCase();
    const value = (_u: uPlot, v: number | null) => fmt(v);
    const series: uPlot.Series[] = [{ label: 'step', value: (_u, v) => (v == null ? '–' : String(v)) }];
    if (VIEWS[view].smooth) {
      series.push({ label: `${label} (raw)`, stroke: a1, width: 1, alpha: 0.3, value, spanGaps: true, points: { show: false } });
      series.push({ label: this.smoothing > 0 ? `${label} (smoothed)` : label, stroke: a1, width: 2, value, spanGaps: true, points: { show: false } });
    } else {
      series.push({ label, stroke: a1, width: 2, value, spanGaps: true, points: { show: false } });
    }
    if (view === 'loss') series.push({ label: 'validation loss', stroke: a2, width: 2, value, spanGaps: true, points: { show: true, size: 6, fill: a2 } });
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    this.plot = new UPlot(
      {
        width: Math.max(200, host.clientWidth || 600),
        height: this.height,
        series,
        scales: { x: { time: false }, y: this.log ? { distr: 3, log: 10 } : { auto: true } },
        axes: [{ ...axis, label: 'step' }, { ...axis, size: 56 }],
        cursor: { drag: { x: false, y: false }, points: { size: 6 } },
        // Filled markers for the drawn curves, hollow for the faint raw one behind the smoothed.
        legend: { live: true, markers: { fill: (_u, i) => (i > 0 && !String(series[i].label).endsWith('(raw)') ? String(series[i].stroke) : 'transparent') } },
      },
      this.data(),
      host,
    );
    const canvas = host.querySelector('canvas');
    canvas?.setAttribute('role', 'img');
    canvas?.setAttribute('aria-label', `${VIEWS[view].label} by step${this.log ? ', logarithmic scale' : ''}`);
    this.dispatchEvent(new Event('pupil-chart-ready'));
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.media = matchMedia('(prefers-color-scheme: dark)');
    this.media.addEventListener('change', this.onScheme);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.media?.removeEventListener('change', this.onScheme);
    this.resizer?.disconnect();
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    clearTimeout(this.trailing);
    this.plot?.destroy();
    this.plot = undefined;
  }

  private onScheme = () => void this.rebuild();

  protected override firstUpdated(): void {
    const host = this.renderRoot.querySelector<HTMLElement>('.plot')!;
    this.resizer = new ResizeObserver(() => {
      if (this.plot && host.clientWidth > 0 && Math.abs(this.plot.width - host.clientWidth) > 1) this.plot.setSize({ width: host.clientWidth, height: this.height });
    });
    this.resizer.observe(host);
  }

  protected override updated(changed: PropertyValues<this>): void {
    // uPlot cannot switch a scale's distribution or its series in place: build a new one.
    if (!this.plot || changed.has('view') || changed.has('log') || changed.has('theme') || changed.has('height') || changed.has('smoothing')) void this.rebuild();
  }

  private onView(e: Event) {
    this.view = (e.target as HTMLSelectElement).value as ChartView;
  }

  override render() {
    const id = 'smooth';
    return html`<div class="card" part="card">
      <div class="toolbar" part="toolbar">
        <label>Show
          <select @change=${this.onView} .value=${this.view}>
            ${(Object.keys(VIEWS) as ChartView[]).map((v) => html`<option value=${v} ?selected=${v === this.view}>${VIEWS[v].label}</option>`)}
          </select>
        </label>
        <label><input type="checkbox" .checked=${this.log} @change=${(e: Event) => (this.log = (e.target as HTMLInputElement).checked)} /> Log scale</label>
        <label for=${id}>Smoothing
          <input id=${id} type="range" min="0" max="0.99" step="0.01" .value=${String(this.smoothing)}
            aria-valuetext=${this.smoothing.toFixed(2)}
            @change=${(e: Event) => (this.smoothing = Number((e.target as HTMLInputElement).value))} />
          <span aria-hidden="true">${this.smoothing.toFixed(2)}</span>
        </label>
      </div>
      <div class="plot" part="plot"></div>
      <p class="summary" part="summary" role="status" aria-live="polite">${this._summary}</p>
    </div>`;
  }
}

customElements.define('pupil-loss-chart', PupilLossChart);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-loss-chart': PupilLossChart;
  }
}
