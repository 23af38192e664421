import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { describeError, EngineClient, hasWebGPU, BROWSER_ADVICE } from '../worker/client.ts';
import type { AdapterReport, EngineErrorInfo, EngineEvent, EngineOptions, RunConfigInput, RunMeta, TrainerState } from '../worker/protocol.ts';
import type { BeforeReply } from './pupil-chat.ts';
import type { DatasetChangeDetail, DatasetSource, PupilDataset } from './pupil-dataset.ts';
import type { DistillUseDetail } from './pupil-distill.ts';
import type { Example } from '../data/types.ts';
import type { PupilLossChart } from './pupil-loss-chart.ts';
import type { ModelChange } from './pupil-model-picker.ts';
import type { TrainControlsConfig } from './pupil-train-controls.ts';
import { controlStyles, themeStyles } from './theme.ts';
import './pupil-adapter-info.ts';
import './pupil-chat.ts';
import './pupil-dataset.ts';
import './pupil-distill.ts';
import './pupil-loss-chart.ts';
import './pupil-model-picker.ts';
import './pupil-runs.ts';
import './pupil-train-controls.ts';

type ExactMatch = NonNullable<Extract<EngineEvent, { type: 'eval' }>['exactMatch']>;
type Student = RunConfigInput['student'];

/**
 * What the studio trains when nothing else is said: a ~0.3 M-parameter scratch student on the
 * bundled tasks, the recipe of `npm run experiment:sft`, scaled to finish in minutes on a laptop GPU.
 */
export const STUDIO_DEFAULTS: RunConfigInput = {
  name: 'studio',
  student: { scratch: { arch: 'llama', hidden: 96, layers: 3, heads: 4, kvHeads: 2, maxPositions: 128 } },
  data: { source: 'bundled' },
  train: { lr: 4e-3, maxSteps: 800, batchSize: 16, seqLen: 128 },
  eval: { every: 200, exactMatch: 64 },
  save: { every: 200 },
};

/**
 * Advice for what the page can recognise in an engine message: a distillation teacher that does
 * not fit, or one that speaks another vocabulary.
 */
export function adviceFor(message: string, distilling = /teacher/.test(message)): { advice?: string } {
  if (distilling && /does not fit this device/.test(message)) {
    return { advice: "The plan counts the distillation teacher too (its weights, forward pass and logits, under 'head'), beside the student: pick a smaller teacher run, or lower the batch size or sequence length." };
  }
  if (/distillation teacher .*(vocabulary|tokenizer)/.test(message)) {
    return { advice: "The teacher must use the student's tokenizer: pick a teacher run trained from the same kind of student (every scratch student shares the byte-level tokenizer)." };
  }
  return {};
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Later objects win field by field; arrays and other values are replaced whole. */
export function mergeConfig<T>(...parts: (T | undefined)[]): T {
  const out: Record<string, unknown> = {};
  for (const p of parts) {
    if (!isObj(p)) continue;
    for (const [k, v] of Object.entries(p)) {
      if (v === undefined) continue;
      // A student is one choice among scratch / hub / path / config: never a blend of two.
      out[k] = isObj(v) && isObj(out[k]) && k !== 'student' ? mergeConfig(out[k], v) : v;
    }
  }
  return out as T;
}

/**
 * The whole studio in one element: dataset, distillation (a teacher writes or rewrites the training
 * data), model, hyperparameters and controls, live curves,
 * chat with the result beside the model before fine-tuning, and saved runs. It owns the engine
 * Worker (an EngineClient), or uses the one given in `client`.
 *
 * Configuration: `config` is the starting point (merged over STUDIO_DEFAULTS); what the user then
 * picks in the dataset, model and controls wins over it.
 *
 * @fires pupil-step - detail: the Trainer's step event (tagged with runId)
 * @fires pupil-eval - detail: the Trainer's eval event, with exactMatch when the bundled set is used
 * @fires pupil-done - detail: the done event with the run summary
 * @fires pupil-error - detail: { message, advice? } (engine errors, a missing WebGPU, a bad config)
 * @attr storage - 'opfs', 'indexeddb' or 'memory' (default: the best this browser has)
 * @attr endpoint - Hugging Face endpoint for Hub students and datasets
 * @attr theme - 'light' or 'dark' (default: the system preference)
 * @csspart card - each section's box
 * @csspart status - the status line
 * @csspart score - the held-out exact match before and after
 * @csspart loss-meaning - what the training loss means, for a distilled run (the Trainer's summary)
 * @csspart nogpu - the explanation shown without WebGPU
 * @cssprop --pupil-* - the shared tokens of src/ui/theme.ts, inherited by every part
 */
export class PupilStudio extends LitElement {
  static override properties = {
    config: { attribute: false },
    client: { attribute: false },
    storage: { type: String },
    endpoint: { type: String },
    theme: { reflect: true },
    runs: { attribute: false },
    _state: { state: true },
    _runId: { state: true },
    _step: { state: true },
    _total: { state: true },
    _loss: { state: true },
    _before: { state: true },
    _after: { state: true },
    _baseline: { state: true },
    _report: { state: true },
    _error: { state: true },
    _student: { state: true },
    _examples: { state: true },
    _datasetName: { state: true },
    _lossMeaning: { state: true },
  };

  declare config?: RunConfigInput;
  declare client?: EngineClient;
  declare storage?: EngineOptions['storage'];
  declare endpoint?: string;
  declare theme?: 'light' | 'dark';
  /** Saved runs, newest first (refreshed after each run ends). */
  declare runs: RunMeta[];
  declare private _state: 'idle' | TrainerState;
  declare private _runId?: string;
  declare private _step?: number;
  declare private _total?: number;
  declare private _loss?: number;
  declare private _before?: ExactMatch;
  declare private _after?: ExactMatch;
  declare private _baseline: BeforeReply[];
  declare private _report?: AdapterReport;
  declare private _error?: EngineErrorInfo;
  declare private _student?: Student;
  /** The dataset's records as the page read them: what the distillation panel starts from. */
  declare private _examples: readonly Example[];
  declare private _datasetName?: string;
  /** What the training loss means when it is not plain cross-entropy (the Trainer's distillation summary). */
  declare private _lossMeaning?: string;

  private dataSource?: DatasetSource;
  /** The model folder picked under "Local files" (the student is then `{ path }`). */
  private studentFiles?: File[];
  private controlValues: Pick<RunConfigInput, 'train' | 'eval' | 'save' | 'distill'> = { train: STUDIO_DEFAULTS.train, eval: STUDIO_DEFAULTS.eval, save: STUDIO_DEFAULTS.save };
  private ownsClient = false;
  private unsubscribe?: () => void;
  private firstEvalStep?: number;
  /** The run started or opened learns from a teacher (memory errors then name it in their advice). */
  private distilling = false;

  constructor() {
    super();
    this.runs = [];
    this._state = 'idle';
    this._baseline = [];
    this._examples = [];
  }

  static override styles = [themeStyles, controlStyles, css`
    :host { display: block; }
    .grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 12px; }
    .wide { grid-column: 1 / -1; }
    @media (max-width: 760px) { .grid { grid-template-columns: minmax(0, 1fr); } }
    .bar { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; }
    .score b { font-variant-numeric: tabular-nums; font-size: 1.15em; }
    .nogpu { border-color: var(--_danger); }
    .error { font-size: 1em; }
    /* The adapter card predates the shared tokens: hand it the studio's colours. */
    pupil-adapter-info { --pupil-bg: var(--_bg); --pupil-fg: var(--_fg); }
  `];

  private get effective(): RunConfigInput {
    return mergeConfig<RunConfigInput>(STUDIO_DEFAULTS, this.config);
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (!hasWebGPU()) {
      this._error = { name: 'NoWebGPUError', message: 'This browser does not expose WebGPU (navigator.gpu is missing), so it cannot train here.', advice: BROWSER_ADVICE };
      this.fire('pupil-error', this._error);
      return;
    }
    if (!this.client) {
      this.client = EngineClient.create({ ...(this.storage ? { storage: this.storage } : {}), ...(this.endpoint ? { endpoint: this.endpoint } : {}) });
      this.ownsClient = true;
    }
    this.unsubscribe = this.client.on((e) => this.onEngineEvent(e));
    void this.boot(this.client);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.unsubscribe?.();
    if (this.ownsClient) {
      this.client?.terminate();
      this.client = undefined;
    }
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('config') || !this.hasUpdated) {
      const c = this.effective;
      if (this._student === undefined) this._student = c.student;
      // One object per config: the controls refill their fields whenever `values` changes identity.
      this.controlValues = { train: c.train, eval: c.eval, save: c.save, ...(c.distill ? { distill: c.distill } : {}) };
    }
  }

  private async boot(client: EngineClient): Promise<void> {
    try {
      this._report = await client.probe();
    } catch (e) {
      this._error = describeError(e);
      this.fire('pupil-error', this._error);
      return;
    }
    await this.refreshRuns();
    const s = await client.status().catch(() => undefined);
    if (s?.runId) {
      this._runId = s.runId;
      this._state = s.state;
    }
  }

  /** Reloads the list of saved runs from the engine's storage. */
  async refreshRuns(): Promise<void> {
    if (!this.client) return;
    try {
      this.runs = await this.client.listRuns();
    } catch (e) {
      this._error = describeError(e);
    }
  }

  private fire(type: string, detail: unknown) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  private get chart(): PupilLossChart | null {
    return this.renderRoot.querySelector('pupil-loss-chart');
  }

  private onEngineEvent(e: EngineEvent): void {
    if (this._runId && e.runId !== this._runId) return;
    switch (e.type) {
      case 'status':
        this._state = e.state;
        // The Trainer says once, while loading, what its training loss means.
        if (e.detail?.startsWith('distillation from ')) this._lossMeaning = e.detail;
        break;
      case 'step':
        this._step = e.step;
        this._loss = e.loss;
        this.chart?.addStep(e);
        this.fire('pupil-step', e);
        break;
      case 'eval':
        this.chart?.addEval(e);
        if (e.exactMatch) this.noteExactMatch(e.step, e.exactMatch);
        this.fire('pupil-eval', e);
        break;
      case 'sample':
        // The step-0 samples head the chat's "before" column; new questions go to the initial weights.
        if (e.step === 0) this._baseline = [...this._baseline.filter((b) => b.prompt !== e.prompt), { prompt: e.prompt, text: e.text }];
        break;
      case 'done':
        this._step = e.summary.steps;
        this._total = e.summary.totalSteps;
        this.fire('pupil-done', e);
        void this.refreshRuns();
        break;
      case 'error':
        const advice = adviceFor(e.message, this.distilling);
        this._error = { name: 'TrainingError', message: e.message, ...advice };
        this.fire('pupil-error', { message: e.message, runId: e.runId, lastCheckpoint: e.lastCheckpoint, ...advice });
        void this.refreshRuns();
        break;
    }
  }

  private noteExactMatch(step: number, m: ExactMatch) {
    this.firstEvalStep ??= step;
    if (step === this.firstEvalStep) this._before = m;
    else this._after = m;
  }

  /** Starts a run from `config` merged with what the user picked; resolves with its id. */
  async start(controls?: TrainControlsConfig): Promise<string | undefined> {
    const client = this.client;
    if (!client) return undefined;
    const picked: RunConfigInput = {
      ...(this._student ? { student: this._student } : {}),
      ...(this.dataSource ? { data: { source: this.dataSource } } : {}),
      ...(controls ?? {}),
    };
    const config = mergeConfig<RunConfigInput>(this.effective, picked);
    // Counting epochs in the controls means no fixed step count from the defaults.
    if (controls?.train.epochs !== undefined && controls.train.maxSteps === undefined && config.train) delete config.train.maxSteps;
    // The controls' distillation section decides, on or off, over any distill in `config`.
    if (controls) {
      if (controls.distill) config.distill = controls.distill;
      else delete config.distill;
    }
    // Exact match scores the held-out bundled tasks: with other data it cannot be computed.
    if (config.data?.source !== 'bundled' && config.data?.source !== undefined) config.eval = { ...config.eval, exactMatch: 0 };
    this._error = undefined;
    this._before = this._after = undefined;
    this.firstEvalStep = undefined;
    this._baseline = [];
    this._step = undefined;
    this._loss = undefined;
    this._lossMeaning = undefined;
    this.distilling = !!config.distill;
    // The new run's id is known only when start() returns, after its loading status (the
    // distillation summary among them) and maybe its first steps: take every event until then.
    this._runId = undefined;
    this.chart?.reset();
    this._state = 'loading';
    try {
      const files = config.student && 'path' in config.student ? this.studentFiles : undefined;
      const runId = await client.start(config, files);
      this._runId = runId;
      const s = await client.status();
      this._total = s.totalSteps;
      void this.refreshRuns();
      return runId;
    } catch (e) {
      this._state = 'error';
      this.failed(e);
      return undefined;
    }
  }

  private async call(what: () => Promise<unknown>) {
    try {
      await what();
    } catch (e) {
      this.failed(e);
    }
  }

  /** Shows and fires an error from the engine, with the page's own advice where it has none. */
  private failed(e: unknown) {
    const d = describeError(e);
    this._error = d.advice ? d : { ...d, ...adviceFor(d.message, this.distilling) };
    this.fire('pupil-error', this._error);
  }

  private onDataset(e: CustomEvent<DatasetChangeDetail>) {
    this.dataSource = e.detail.source;
    const result = (e.currentTarget as PupilDataset).result;
    this._examples = result?.examples ?? [];
    this._datasetName = result?.summary.file;
  }

  /** Generated records become the training data, exactly as if the user had loaded that file. */
  private onDistillUse(e: CustomEvent<DistillUseDetail>) {
    void this.renderRoot.querySelector('pupil-dataset')?.loadFile(e.detail.file);
  }

  private onModel(e: CustomEvent<ModelChange>) {
    this._student = e.detail.student;
    this.studentFiles = e.detail.files;
  }

  /** The picked folder if it is the one `runId`'s student was loaded from (a reload loses files). */
  private filesFor(runId: string): File[] | undefined {
    const student = this.runs.find((r) => r.runId === runId)?.config.student;
    const picked = this._student;
    return student && 'path' in student && picked && 'path' in picked && picked.path === student.path ? this.studentFiles : undefined;
  }

  /** Loads a stored run's history into the chart and its checkpoint into the engine. */
  async openRun(runId: string, opts: { train?: boolean } = {}): Promise<void> {
    const client = this.client;
    if (!client) return;
    await this.call(async () => {
      this._error = undefined;
      this._runId = runId;
      this._before = this._after = undefined;
      this._lossMeaning = undefined;
      this.distilling = !!this.runs.find((r) => r.runId === runId)?.config.distill;
      this.firstEvalStep = undefined;
      const rows = await client.metrics(runId);
      const chart = this.chart;
      if (chart) chart.metrics = rows;
      for (const r of rows) if (r.kind === 'eval' && r.exactMatch) this.noteExactMatch(r.step, r.exactMatch as ExactMatch);
      if (opts.train) await client.resumeRun(runId, this.filesFor(runId));
      else await client.openRun(runId, this.filesFor(runId));
      const s = await client.status();
      this._state = s.state;
      this._step = s.step;
      this._total = s.totalSteps;
    });
  }

  private async exportRun(runId: string) {
    const client = this.client;
    if (!client) return;
    await this.call(async () => {
      if ((await client.status()).runId !== runId) await this.openRun(runId);
      const zip = await client.exportModel({ dtype: 'f32' });
      const url = URL.createObjectURL(new Blob([zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
      const a = Object.assign(document.createElement('a'), { href: url, download: `${runId}.zip` });
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  }

  private async deleteRun(runId: string) {
    await this.call(() => this.client!.deleteRun(runId));
    if (this._runId === runId) this._runId = undefined;
    await this.refreshRuns();
  }

  override render() {
    const noGpu = this._error?.name === 'NoWebGPUError' || (this._error && !this._report && this._error.advice);
    const running = this._state === 'loading' || this._state === 'running' || this._state === 'paused' || this._state === 'stopping';
    const chatReady = !!this._runId && !noGpu && this._state !== 'loading' && this._state !== 'error' && this._state !== 'idle';
    return html`
      ${noGpu ? html`<section class="card nogpu" part="card nogpu" role="alert">
        <h2>This browser cannot train models here</h2>
        <p>Pupil trains on your GPU through WebGPU, and this browser does not offer it. ${this._error!.advice ?? BROWSER_ADVICE}</p>
        <p class="hint">You can still look at a dataset below; training and chat need WebGPU.</p>
      </section>` : nothing}
      <div class="grid">
        <section class="card bar wide" part="card status" aria-live="polite">
          <span data-state=${this._state}>State: <b>${this._state}</b></span>
          ${this._runId ? html`<span>Run: <b>${this._runId}</b></span>` : nothing}
          ${this._step !== undefined ? html`<span data-step=${this._step}>Step <b>${this._step}</b>${this._total ? html` / ${this._total}` : nothing}</span>` : nothing}
          ${this._loss !== undefined ? html`<span>Loss <b>${this._loss.toFixed(3)}</b></span>` : nothing}
          ${this._lossMeaning ? html`<span class="hint" part="loss-meaning" data-distill>${this._lossMeaning}</span>` : nothing}
          <span class="score" part="score" data-before=${this._before ? String(this._before.rate) : ''} data-after=${this._after ? String(this._after.rate) : ''}>
            Held-out exact match: before ${this.renderScore(this._before)} → after ${this.renderScore(this._after)}
          </span>
        </section>
        ${this._error && !noGpu ? html`<p class="error wide" role="alert">${this._error.message}${this._error.advice ? html` — ${this._error.advice}` : nothing}</p>` : nothing}
        <pupil-dataset theme=${this.theme ?? nothing} .disabled=${running} .endpoint=${this.endpoint ?? 'https://huggingface.co'} @pupil-dataset-change=${this.onDataset}></pupil-dataset>
        <div>
          <pupil-model-picker theme=${this.theme ?? nothing} .student=${this._student} .limits=${this._report?.limits}
            .batchSize=${this.controlValues.train?.batchSize ?? 8} .seqLen=${this.controlValues.train?.seqLen ?? 128} .endpoint=${this.endpoint ?? 'https://huggingface.co'} @pupil-model-change=${this.onModel}></pupil-model-picker>
          ${noGpu ? nothing : html`<pupil-train-controls theme=${this.theme ?? nothing} .state=${this._state} .student=${this._student} .values=${this.controlValues} .runs=${this.runs}
            @pupil-start=${(e: CustomEvent<TrainControlsConfig>) => void this.start(e.detail)}
            @pupil-pause=${() => this.call(() => this.client!.pause())}
            @pupil-resume=${() => this.call(() => this.client!.resume())}
            @pupil-stop=${() => this.call(() => this.client!.stop())}></pupil-train-controls>`}
        </div>
        <pupil-distill class="wide" theme=${this.theme ?? nothing} .client=${noGpu ? undefined : this.client} .runs=${this.runs} .examples=${this._examples}
          .datasetName=${this._datasetName} .endpoint=${this.endpoint} @pupil-distill-use=${this.onDistillUse}></pupil-distill>
        ${noGpu ? nothing : html`<pupil-loss-chart class="wide" theme=${this.theme ?? nothing}></pupil-loss-chart>
        <pupil-chat class="wide" theme=${this.theme ?? nothing} .client=${this.client} .ready=${chatReady} .baseline=${this._baseline}></pupil-chat>
        <pupil-runs class="wide" .theme=${this.theme} .runs=${this.runs} .activeRun=${running ? this._runId : undefined}
          @pupil-open-run=${(e: CustomEvent<{ runId: string }>) => this.openRun(e.detail.runId)}
          @pupil-resume-run=${(e: CustomEvent<{ runId: string }>) => this.openRun(e.detail.runId, { train: true })}
          @pupil-export-run=${(e: CustomEvent<{ runId: string }>) => this.exportRun(e.detail.runId)}
          @pupil-delete-run=${(e: CustomEvent<{ runId: string }>) => this.deleteRun(e.detail.runId)}></pupil-runs>`}
        <pupil-adapter-info class="wide" theme=${this.theme ?? nothing} .report=${this._report} .error=${noGpu || (!this._report && this._error) ? this._error : undefined}></pupil-adapter-info>
      </div>`;
  }

  private renderScore(m?: ExactMatch) {
    return m ? html`<b>${(m.rate * 100).toFixed(0)}%</b> (${m.correct}/${m.total})` : html`<b>–</b>`;
  }
}

customElements.define('pupil-studio', PupilStudio);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-studio': PupilStudio;
  }
}
