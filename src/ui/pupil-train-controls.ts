import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
// config.ts imports only types, so the page gets the engine's own validation without the engine.
import { resolveRunConfig, RunConfigError, type EvalConfig, type RunConfig, type RunConfigInput, type TrainHyper } from '../train/config.ts';
import type { EngineStatus, RunMeta } from '../worker/protocol.ts';
import type { DistillSettingsValue, PupilDistillSettings } from './pupil-distill-settings.ts';
import { atLeast, between, describedBy, fieldBox, numberError, type Check } from './fields.ts';
import { controlStyles, themeStyles } from './theme.ts';
import './pupil-distill-settings.ts';

/** The parts of a RunConfig the controls own; merge with `name`, `student` and `data` to start. */
export interface TrainControlsConfig {
  train: Pick<TrainHyper, 'lr' | 'warmupRatio' | 'schedule' | 'batchSize' | 'seqLen' | 'accumulation' | 'weightDecay' | 'maxGradNorm' | 'seed'> & { maxSteps?: number; epochs?: number };
  eval: Pick<EvalConfig, 'every'>;
  save: { every: number };
  /** Present when "Distil from a saved run" is on: the teacher is `run:<runId>`. */
  distill?: DistillSettingsValue;
}

export type ControlsState = EngineStatus['state'];

type Kind = 'float' | 'int' | 'schedule';
interface Field {
  /** Dotted RunConfig path, as RunConfigError names it. */
  path: string;
  label: string;
  hint: string;
  kind: Kind;
  check?: Check;
}


// The length field's path switches between train.maxSteps and train.epochs with the unit select.
const FIELDS: Field[] = [
  { path: 'train.lr', label: 'Learning rate', hint: 'Peak step size of AdamW; too high diverges, too low learns slowly.', kind: 'float', check: (n) => (n > 0 && n < 1 ? undefined : 'Must be above 0 and below 1.') },
  { path: 'train.warmupRatio', label: 'Warmup ratio', hint: 'Share of the steps over which the rate ramps up from zero.', kind: 'float', check: between(0, 1) },
  { path: 'train.schedule', label: 'Schedule', hint: 'How the rate decays after warmup.', kind: 'schedule' },
  { path: 'length', label: 'Length', hint: 'How long to train: optimizer steps, or passes over the data.', kind: 'float', check: (n) => (n > 0 ? undefined : 'Must be above 0.') },
  { path: 'train.batchSize', label: 'Batch size', hint: 'Sequences per micro-batch; memory grows with it.', kind: 'int', check: atLeast(1) },
  { path: 'train.seqLen', label: 'Sequence length', hint: 'Tokens per sequence; longer examples are rejected.', kind: 'int', check: atLeast(2) },
  { path: 'train.accumulation', label: 'Accumulation', hint: 'Micro-batches summed per optimizer step (a larger batch for the same memory).', kind: 'int', check: atLeast(1) },
  { path: 'train.weightDecay', label: 'Weight decay', hint: 'Pulls weights towards zero each step (AdamW, decoupled).', kind: 'float', check: between(0, 1) },
  { path: 'train.maxGradNorm', label: 'Gradient clipping', hint: 'Largest gradient norm before scaling down; 0 turns clipping off.', kind: 'float', check: atLeast(0) },
  { path: 'train.seed', label: 'Seed', hint: 'Shuffling and dropout seed: the same seed repeats the run.', kind: 'int', check: between(0, 4294967295) },
  { path: 'eval.every', label: 'Evaluate every', hint: 'Steps between validation-loss evaluations; 0 only at start and end.', kind: 'int', check: atLeast(0) },
  { path: 'save.every', label: 'Save every', hint: 'Steps between checkpoints you can resume from; 0 only at the end.', kind: 'int', check: atLeast(0) },
];

const get = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((a, k) => (a && typeof a === 'object' ? (a as Record<string, unknown>)[k] : undefined), o);
const idOf = (path: string) => path.replace(/\./g, '-');

/**
 * Hyperparameters with defaults and one-line explanations, and the start / pause / resume / stop
 * buttons, enabled according to `state` (inputs are locked while a run is under way). The length
 * defaults to 300 steps (switchable to epochs). Input is checked field by field (message next to the
 * field) and then with the engine's own `resolveRunConfig`, so what it fires will be accepted.
 * Below them, `<pupil-distill-settings>` optionally makes the run distil from one of `runs`.
 *
 * @fires pupil-start - detail: TrainControlsConfig (`train`, `eval`, `save` parts of a RunConfig)
 * @fires pupil-pause
 * @fires pupil-resume
 * @fires pupil-stop
 * @attr state - engine state: 'idle' (default), 'loading', 'ready', 'running', 'paused', 'stopping', 'done', 'error'
 * @attr theme - 'light' or 'dark' (default: the system preference)
 * @csspart card - the outer box
 * @csspart fields - the grid of hyperparameters
 * @csspart buttons - the row of buttons
 * @csspart field - one hyperparameter (label, input, explanation, message)
 * @csspart start - the start button
 * @csspart pause - the pause button
 * @csspart resume - the resume button
 * @csspart stop - the stop button
 * @csspart distill - the "Distil from a saved run" section (`<pupil-distill-settings>`)
 */
export class PupilTrainControls extends LitElement {
  static override properties = {
    state: { reflect: true },
    student: { attribute: false },
    values: { attribute: false },
    runs: { attribute: false },
    theme: { reflect: true },
    _raw: { state: true },
    _errors: { state: true },
    _unit: { state: true },
  };

  declare state: ControlsState;
  /** The student the run will train (a RunConfig `student`): sets the defaults (learning rate, weight decay) and the longest sequence. */
  declare student?: RunConfigInput['student'];
  /** Values to show instead of the defaults, e.g. `{ train: { maxSteps: 300 }, eval: { every: 50 } }`. */
  declare values?: Pick<RunConfigInput, 'train' | 'eval' | 'save' | 'distill'>;
  /** Saved runs: those with a checkpoint can be the distillation teacher. */
  declare runs: readonly RunMeta[];
  declare theme?: 'light' | 'dark';
  declare _raw: Record<string, string>;
  declare _errors: Record<string, string>;
  declare _unit: 'steps' | 'epochs';

  constructor() {
    super();
    this.state = 'idle';
    this.runs = [];
    this._raw = {};
    this._errors = {};
    this._unit = 'steps';
  }

  static override styles = [
    themeStyles,
    controlStyles,
    css`
      :host { display: block; }
      fieldset { border: 0; margin: 0; padding: 0; min-width: 0; }
      .fields { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px 18px; }
      .field { display: flex; flex-direction: column; gap: 2px; }
      .field label { font-weight: 600; }
      .row { display: flex; gap: 6px; }
      .row input { flex: 1; min-width: 0; }
      input { width: 100%; box-sizing: border-box; }
      .buttons { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 14px; }
    `,
  ];

  /** The engine's defaults for the current student, as the form shows them. */
  private defaults(): RunConfig {
    let c: RunConfig;
    try {
      c = resolveRunConfig({ student: this.student });
    } catch {
      c = resolveRunConfig({});
    }
    return c;
  }

  private fill(): void {
    const d = this.defaults();
    const v = this.values ?? {};
    const raw: Record<string, string> = {};
    for (const f of FIELDS) {
      if (f.path === 'length') continue;
      raw[f.path] = String(get(v, f.path) ?? get(d, f.path));
    }
    const steps = get(v, 'train.maxSteps') ?? d.train.maxSteps;
    this._unit = steps !== undefined || get(v, 'train.epochs') === undefined ? 'steps' : 'epochs';
    raw.length = String(this._unit === 'steps' ? (steps ?? 300) : (get(v, 'train.epochs') ?? d.train.epochs));
    this._raw = raw;
    this._errors = {};
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('student') || changed.has('values') || !Object.keys(this._raw).length) this.fill();
  }

  private fieldError(f: Field, s: string): string | undefined {
    if (f.kind === 'schedule') return undefined;
    return numberError(s, f.kind === 'int' || (f.path === 'length' && this._unit === 'steps'), f.check);
  }

  private build(): TrainControlsConfig {
    const n = (p: string) => Number(this._raw[p]);
    const len = n('length');
    return {
      train: {
        lr: n('train.lr'),
        warmupRatio: n('train.warmupRatio'),
        schedule: this._raw['train.schedule'] as TrainHyper['schedule'],
        ...(this._unit === 'steps' ? { maxSteps: len } : { epochs: len }),
        batchSize: n('train.batchSize'),
        seqLen: n('train.seqLen'),
        accumulation: n('train.accumulation'),
        weightDecay: n('train.weightDecay'),
        maxGradNorm: n('train.maxGradNorm'),
        seed: n('train.seed'),
      },
      eval: { every: n('eval.every') },
      save: { every: n('save.every') },
    };
  }

  /**
   * Checks every field, shows the messages and returns the config, or undefined (focusing the
   * first bad field) when something is wrong.
   */
  validate(): TrainControlsConfig | undefined {
    const errors: Record<string, string> = {};
    for (const f of FIELDS) {
      const e = this.fieldError(f, this._raw[f.path] ?? '');
      if (e) errors[f.path] = e;
    }
    // Both sections show their messages, whichever fails first.
    const section = this.renderRoot.querySelector<PupilDistillSettings>('pupil-distill-settings');
    const distill = section ? section.validate() : {};
    let config: TrainControlsConfig | undefined;
    if (!Object.keys(errors).length && distill) {
      config = { ...this.build(), ...distill };
      try {
        resolveRunConfig({ student: this.student, ...config });
      } catch (e) {
        if (!(e instanceof RunConfigError)) throw e;
        const path = e.field === 'train.maxSteps' || e.field === 'train.epochs' ? 'length' : e.field;
        const known = FIELDS.some((f) => f.path === path);
        errors[known ? path : 'train.seqLen'] = known ? e.message.slice(e.field.length + 2) : e.message;
        config = undefined;
      }
    }
    this._errors = errors;
    if (!config) {
      void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
    }
    return config;
  }

  private onInput(f: Field, e: Event) {
    const value = (e.target as HTMLInputElement | HTMLSelectElement).value;
    this._raw = { ...this._raw, [f.path]: value };
    const err = this.fieldError(f, value);
    const { [f.path]: _, ...rest } = this._errors;
    this._errors = err ? { ...rest, [f.path]: err } : rest;
  }

  private fire(name: string, detail?: unknown) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  private onStart() {
    const config = this.validate();
    if (config) this.fire('pupil-start', config);
  }

  private renderField(f: Field, locked: boolean) {
    const id = idOf(f.path);
    const err = this._errors[f.path];
    const described = describedBy(id, err);
    let control;
    if (f.kind === 'schedule') {
      control = html`<select id=${id} ?disabled=${locked} aria-describedby=${described} .value=${this._raw[f.path]} @change=${(e: Event) => this.onInput(f, e)}>
        ${['cosine', 'linear', 'constant'].map((s) => html`<option value=${s} ?selected=${this._raw[f.path] === s}>${s}</option>`)}
      </select>`;
    } else {
      const input = html`<input id=${id} inputmode="decimal" autocomplete="off" ?disabled=${locked} aria-describedby=${described}
        aria-invalid=${err ? 'true' : 'false'} .value=${this._raw[f.path] ?? ''} @input=${(e: Event) => this.onInput(f, e)} />`;
      control =
        f.path === 'length'
          ? html`<div class="row">${input}<select aria-label="Length unit" ?disabled=${locked} .value=${this._unit}
              @change=${(e: Event) => { this._unit = (e.target as HTMLSelectElement).value as 'steps' | 'epochs'; this.onInput(f, { target: { value: this._raw.length } } as unknown as Event); }}>
              <option value="steps" ?selected=${this._unit === 'steps'}>steps</option>
              <option value="epochs" ?selected=${this._unit === 'epochs'}>epochs</option>
            </select></div>`
          : input;
    }
    return fieldBox(id, f.label, f.hint, err, control);
  }

  override render() {
    const s = this.state;
    const canStart = s === 'idle' || s === 'done' || s === 'error' || s === 'ready';
    const locked = !canStart;
    return html`<div class="card" part="card">
      <fieldset>
        <legend class="sr-only">Training hyperparameters</legend>
        <div class="fields" part="fields">${FIELDS.map((f) => this.renderField(f, locked))}</div>
      </fieldset>
      <pupil-distill-settings part="distill" theme=${this.theme ?? nothing} .runs=${this.runs} .value=${this.values?.distill} ?disabled=${locked}></pupil-distill-settings>
      <div class="buttons" part="buttons" role="group" aria-label="Training">
        <button class="primary" part="start" ?disabled=${!canStart} @click=${this.onStart}>Start training</button>
        <button part="pause" ?disabled=${s !== 'running'} @click=${() => this.fire('pupil-pause')}>Pause</button>
        <button part="resume" ?disabled=${s !== 'paused'} @click=${() => this.fire('pupil-resume')}>Resume</button>
        <button class="danger" part="stop" ?disabled=${s !== 'running' && s !== 'paused'} @click=${() => this.fire('pupil-stop')}>Stop</button>
      </div>
    </div>`;
  }
}

customElements.define('pupil-train-controls', PupilTrainControls);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-train-controls': PupilTrainControls;
  }
}
