import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
// config.ts imports only types, so the page gets the engine's own validation without the engine.
import { resolveRunConfig, RunConfigError, runOfPath, runPath, type DistillConfig } from '../train/config.ts';
import type { RunMeta } from '../worker/protocol.ts';
import { between, describedBy, fieldBox, numberError, type Check } from './fields.ts';
import { controlStyles, themeStyles } from './theme.ts';

/** What the section adds to a RunConfig: `distill.teacher` is `run:<runId>` (resolved in the Worker). */
export type DistillSettingsValue = Omit<DistillConfig, 'topk' | 'teacher' | 'beta'> & { teacher: string; beta?: number };

interface Field {
  /** The DistillConfig key, as RunConfigError names it after `distill.`. */
  key: 'alpha' | 'temperature' | 'topK' | 'beta';
  label: string;
  hint: string;
  whole: boolean;
  check: Check;
}

const FIELDS: Field[] = [
  { key: 'alpha', label: 'Alpha', hint: "Weight of the dataset's own answers (cross-entropy); the rest (1 − alpha) follows the teacher.", whole: false, check: between(0, 1) },
  { key: 'temperature', label: 'Temperature', hint: "Softens both distributions before comparing them: above 1 shows more of the teacher's second choices.", whole: false, check: (n) => (n > 0 ? undefined : 'Must be above 0.') },
  { key: 'topK', label: 'Top-k', hint: "Teacher tokens kept per position: more is closer to its whole distribution, a little slower.", whole: true, check: between(1, 256) },
  { key: 'beta', label: 'JSD beta', hint: 'Where JSD sits between the two: 0 is forward KL, 1 is reverse KL.', whole: false, check: between(0, 1) },
];

const LOSSES = [
  { value: 'forward', label: 'forward KL' },
  { value: 'reverse', label: 'reverse KL' },
  { value: 'jsd', label: 'JSD' },
] as const;

/**
 * "Distil from a saved run": an optional section of the training controls that makes the run learn
 * from one of the user's saved runs (its last checkpoint) as well as from the data, token by token:
 * loss = alpha·CE + (1 − alpha)·D over the teacher's top-k, D being forward KL, reverse KL or JSD.
 * Only runs with a checkpoint are offered; the teacher must share the student's tokenizer, which the
 * engine checks when the run starts. Fields are checked one by one (message next to the field), then
 * with the engine's own `resolveRunConfig`.
 *
 * @fires pupil-distill-settings-change - detail: { enabled: boolean }, when the section is switched on or off
 * @attr disabled - locks every input (a run is under way)
 * @attr theme - 'light' or 'dark' (default: the system preference)
 * @csspart toggle - the "Distil from a saved run" checkbox and its label
 * @csspart fields - the teacher and the loss settings (shown when switched on)
 * @csspart field - one setting (label, control, explanation, message)
 * @csspart note - the explanation shown when no saved run has a checkpoint
 */
export class PupilDistillSettings extends LitElement {
  static override properties = {
    runs: { attribute: false },
    value: { attribute: false },
    disabled: { type: Boolean, reflect: true },
    theme: { reflect: true },
    _on: { state: true },
    _raw: { state: true },
    _errors: { state: true },
  };

  /** Saved runs (those with a checkpoint are offered as teachers). */
  declare runs: readonly RunMeta[];
  /** Settings to show instead of the defaults; a `run:` teacher switches the section on. */
  declare value?: Partial<DistillSettingsValue>;
  declare disabled: boolean;
  declare theme?: 'light' | 'dark';
  declare _on: boolean;
  declare _raw: Record<string, string>;
  declare _errors: Record<string, string>;

  constructor() {
    super();
    this.runs = [];
    this.disabled = false;
    this._on = false;
    this._raw = {};
    this._errors = {};
  }

  static override styles = [
    themeStyles,
    controlStyles,
    css`
      :host { display: block; margin-top: 12px; }
      fieldset { border: 0; margin: 0; padding: 0; min-width: 0; }
      .toggle { font-weight: 600; display: flex; gap: 6px; align-items: center; }
      .fields { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px 18px; margin-top: 8px; }
      .field { display: flex; flex-direction: column; gap: 2px; }
      .field label { font-weight: 600; }
      .teacher { grid-column: 1 / -1; }
      input, select { width: 100%; box-sizing: border-box; }
      .toggle input { width: auto; }
    `,
  ];

  /** Runs that can teach: those with a checkpoint. */
  get teacherRuns(): RunMeta[] {
    return this.runs.filter((r) => r.lastCheckpoint !== undefined);
  }

  /** Whether the run will be distilled (the section is switched on). */
  get enabled(): boolean {
    return this._on;
  }

  private fill(): void {
    const d = resolveRunConfig({ distill: { teacher: 'x' } }).distill!;
    const v = this.value ?? {};
    const teacher = (v.teacher && runOfPath(v.teacher)) ?? '';
    this._on = !!teacher;
    this._raw = {
      teacher, loss: v.loss ?? d.loss, alpha: String(v.alpha ?? d.alpha), temperature: String(v.temperature ?? d.temperature),
      topK: String(v.topK ?? d.topK), beta: String(v.beta ?? d.beta),
    };
    this._errors = {};
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('value') || !Object.keys(this._raw).length) this.fill();
  }

  /** The run chosen as teacher: the one picked, else the newest with a checkpoint. */
  private get teacherId(): string {
    return this._raw.teacher || this.teacherRuns[0]?.runId || '';
  }

  /** The numeric fields in use: beta only for JSD. */
  private get shownFields(): Field[] {
    return FIELDS.filter((f) => f.key !== 'beta' || this._raw.loss === 'jsd');
  }

  private fieldError(key: string, s: string): string | undefined {
    if (key === 'teacher') {
      if (!this.teacherRuns.length) return 'No saved run has a checkpoint yet.';
      return this.teacherRuns.some((r) => r.runId === s) ? undefined : `Run ${s || '(none)'} is no longer saved with a checkpoint: pick another.`;
    }
    const f = FIELDS.find((x) => x.key === key);
    return f && numberError(s, f.whole, f.check);
  }

  private build(): DistillSettingsValue {
    const n = (k: string) => Number(this._raw[k]);
    return {
      teacher: runPath(this.teacherId), loss: this._raw.loss as DistillSettingsValue['loss'],
      alpha: n('alpha'), temperature: n('temperature'), topK: n('topK'),
      // Only JSD reads beta: a hidden field must not fail the config.
      ...(this._raw.loss === 'jsd' ? { beta: n('beta') } : {}),
    } as DistillSettingsValue;
  }

  /**
   * Checks every field and shows the messages. Returns `{}` when switched off, `{ distill }` when
   * on and valid, or undefined (focusing the first bad field) when something is wrong.
   */
  validate(): { distill?: DistillSettingsValue } | undefined {
    if (!this._on) {
      this._errors = {};
      return {};
    }
    const errors: Record<string, string> = {};
    const keys = ['teacher', ...this.shownFields.map((f) => f.key)];
    for (const k of keys) {
      const e = this.fieldError(k, k === 'teacher' ? this.teacherId : (this._raw[k] ?? ''));
      if (e) errors[k] = e;
    }
    let distill: DistillSettingsValue | undefined;
    if (!Object.keys(errors).length) {
      distill = this.build();
      try {
        resolveRunConfig({ distill });
      } catch (e) {
        if (!(e instanceof RunConfigError)) throw e;
        const key = e.field.replace(/^distill\.?/, '');
        errors[keys.includes(key) ? key : 'teacher'] = keys.includes(key) ? e.message.slice(e.field.length + 2) : e.message;
        distill = undefined;
      }
    }
    this._errors = errors;
    if (!distill) void this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
    return distill ? { distill } : undefined;
  }

  private onInput(key: string, e: Event) {
    const value = (e.target as HTMLInputElement | HTMLSelectElement).value;
    this._raw = { ...this._raw, [key]: value };
    const err = this.fieldError(key, value);
    const { [key]: _, ...rest } = this._errors;
    this._errors = err ? { ...rest, [key]: err } : rest;
  }

  private onToggle(e: Event) {
    this._on = (e.target as HTMLInputElement).checked;
    this._errors = {};
    this.dispatchEvent(new CustomEvent('pupil-distill-settings-change', { detail: { enabled: this._on }, bubbles: true, composed: true }));
  }

  private renderField(key: string, label: string, hint: string, control: (id: string, describedBy: string, invalid: boolean) => unknown, cls = '') {
    const id = `distill-${key}`;
    const err = this._errors[key];
    return fieldBox(id, label, hint, err, control(id, describedBy(id, err), !!err), cls);
  }

  override render() {
    const runs = this.teacherRuns;
    const dis = this.disabled;
    const chosen = this.teacherId;
    const toggle = html`<label class="toggle" part="toggle"><input type="checkbox" id="distill-on" .checked=${this._on} ?disabled=${dis || (!this._on && !runs.length)}
      @change=${this.onToggle} />Distil from a saved run</label>`;
    if (!this._on) {
      return html`${toggle}${runs.length ? nothing : html`<p class="hint" part="note" data-no-teacher>No saved run has a checkpoint yet: train one first (it stays in "Runs"), then it can teach the next run.</p>`}`;
    }
    const number = (f: Field) => this.renderField(f.key, f.label, f.hint, (id, describedBy, invalid) => html`<input id=${id} inputmode="decimal" autocomplete="off" ?disabled=${dis}
      aria-describedby=${describedBy} aria-invalid=${invalid ? 'true' : 'false'} .value=${this._raw[f.key] ?? ''} @input=${(e: Event) => this.onInput(f.key, e)} />`);
    return html`${toggle}
      <fieldset>
        <legend class="sr-only">Distillation from a saved run</legend>
        <div class="fields" part="fields">
          ${this.renderField('teacher', 'Teacher run', "Its last checkpoint runs beside the student; it must use the student's tokenizer (every scratch student shares one).", (id, describedBy, invalid) =>
            runs.length
              ? html`<select id=${id} ?disabled=${dis} aria-describedby=${describedBy} aria-invalid=${invalid ? 'true' : 'false'} @change=${(e: Event) => this.onInput('teacher', e)}>
                  ${runs.map((r) => html`<option value=${r.runId} ?selected=${r.runId === chosen}>${r.name} — step ${r.lastCheckpoint} (${r.runId})</option>`)}
                </select>`
              : html`<p class="hint" part="note" data-no-teacher>No saved run has a checkpoint yet: train one first.</p>`, 'teacher')}
          ${this.renderField('loss', 'Distillation loss', 'Forward KL covers everything the teacher finds likely; reverse KL settles on its first choice; JSD sits between.', (id, describedBy) =>
            html`<select id=${id} ?disabled=${dis} aria-describedby=${describedBy} @change=${(e: Event) => this.onInput('loss', e)}>
              ${LOSSES.map((l) => html`<option value=${l.value} ?selected=${this._raw.loss === l.value}>${l.label}</option>`)}
            </select>`)}
          ${this.shownFields.map(number)}
        </div>
      </fieldset>`;
  }
}

customElements.define('pupil-distill-settings', PupilDistillSettings);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-distill-settings': PupilDistillSettings;
  }
}
