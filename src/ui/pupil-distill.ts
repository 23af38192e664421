import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import type { Example } from '../data/types.ts';
import { exampleTask } from '../distill/task.ts';
import type { Teacher } from '../distill/teacher.ts';
import { runPath } from '../train/config.ts';
import type { EngineClient } from '../worker/client.ts';
import type { RunMeta } from '../worker/protocol.ts';
import { openDistillStore, setFileName, toJsonl, type DistillMode, type DistillStore, type GeneratedRecord, type GeneratedSet } from './distill-store.ts';
import { teacherAdvice, type PupilTeacherSettings, type TeacherChoice } from './pupil-teacher-settings.ts';
import { controlStyles, themeStyles } from './theme.ts';
import './pupil-teacher-settings.ts';

export interface DistillProgress {
  done: number;
  total: number;
  kept: number;
  rejected: number;
  tokens: number;
}

export interface DistillUseDetail {
  /** The records as a JSONL file, named `self-instruct-<teacher>-<date>.jsonl` (or `regenerated-…`). */
  file: File;
  set: GeneratedSet;
  /** True when the page restores, after a reload, the set the user chose before. */
  restored: boolean;
}

const PREVIEW_ROWS = 20;

/**
 * Distillation: a teacher (an OpenAI-compatible endpoint, a model in this browser, or one of the
 * user's saved runs) rewrites the responses of the current dataset, or writes new tasks from it as
 * seeds (Self-Instruct with ROUGE-L filtering), with progress, cancel (what was generated is kept),
 * a preview, a JSONL download and "Use as training set". Every generated set is kept in IndexedDB,
 * so a reload loses nothing, and the set last used for training is offered again after one.
 *
 * @fires pupil-distill-use - detail: DistillUseDetail (hand `file` to the dataset: the next run trains on it)
 * @fires pupil-distill-done - detail: { set: GeneratedSet } when a generation ends (done, cancelled or failed)
 * @fires pupil-distill-progress - detail: DistillProgress
 * @attr theme - 'light' or 'dark' (default: the system preference)
 * @attr endpoint - Hugging Face endpoint (mirror) for the in-browser teacher's model
 * @attr dataset-name - the current dataset's name, shown in the panel
 * @csspart card - the outer box
 * @csspart progress - the progress line
 * @csspart preview - the table of generated records
 * @csspart error - the error and what to do about it
 * @cssprop --pupil-* - the shared tokens of src/ui/theme.ts
 */
export class PupilDistill extends LitElement {
  static override properties = {
    client: { attribute: false },
    runs: { attribute: false },
    examples: { attribute: false },
    datasetName: { type: String, attribute: 'dataset-name' },
    endpoint: { type: String },
    disabled: { type: Boolean, reflect: true },
    theme: { reflect: true },
    _mode: { state: true },
    _count: { state: true },
    _maxTokens: { state: true },
    _temperature: { state: true },
    _seed: { state: true },
    _busy: { state: true },
    _status: { state: true },
    _progress: { state: true },
    _error: { state: true },
    _warning: { state: true },
    _sets: { state: true },
    _currentId: { state: true },
  };

  /** The engine, for the "one of my runs" teacher. */
  declare client?: EngineClient;
  declare runs: readonly RunMeta[];
  /** The current dataset: the records to regenerate, or the seeds of Self-Instruct. */
  declare examples: readonly Example[];
  declare datasetName?: string;
  /** Hugging Face endpoint for the in-browser teacher (default the Hub). */
  declare endpoint?: string;
  declare disabled: boolean;
  declare theme?: 'light' | 'dark';
  declare private _mode: DistillMode;
  declare private _count: number;
  declare private _maxTokens: number;
  declare private _temperature: number;
  /** Sampling seed sent with every request (same seed, same replies), or none. */
  declare private _seed?: number;
  declare private _busy: boolean;
  declare private _status?: string;
  declare private _progress?: DistillProgress;
  declare private _error?: { message: string; advice?: string };
  declare private _warning?: string;
  declare private _sets: GeneratedSet[];
  declare private _currentId?: string;

  private store?: Promise<DistillStore>;
  private abort?: AbortController;
  /** Loaded teachers by settings, so a second generation does not load the model again. */
  /** The teacher kept loaded between runs, under a key of what was chosen, and how to free it. */
  private loaded?: { key: string; teacher: Teacher; release: () => Promise<void> };

  constructor() {
    super();
    this.runs = [];
    this.examples = [];
    this.disabled = false;
    this._mode = 'regenerate';
    this._count = 20;
    this._maxTokens = 256;
    this._temperature = 0.7;
    this._busy = false;
    this._sets = [];
  }

  static override styles = [themeStyles, controlStyles, css`
    :host { display: block; }
    h3 { font-size: 14px; margin: 12px 0 4px; }
    fieldset { border: 0; padding: 0; margin: 8px 0; display: flex; flex-wrap: wrap; gap: 4px 14px; align-items: end; }
    legend { font-weight: 600; padding: 0; margin-bottom: 4px; }
    label.field { display: flex; flex-direction: column; font-size: 12px; gap: 2px; }
    input[type='number'] { width: 6em; }
    .row { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; margin: 6px 0; }
    progress { width: 160px; }
    table { border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 13px; }
    th, td { text-align: left; vertical-align: top; padding: 3px 6px; border-bottom: 1px solid var(--_border); overflow-wrap: anywhere; white-space: pre-wrap; }
    .bad { color: var(--_danger); }
    .warn { color: var(--_warning); }
    .note { font-size: 12px; color: var(--_muted); }
  `];

  override connectedCallback(): void {
    super.connectedCallback();
    void this.restore();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.abort?.abort();
    void this.dropLoaded();
  }

  /** Frees the loaded teacher: a browser model's memory, or the engine's teacher slot. */
  private async dropLoaded(): Promise<void> {
    const loaded = this.loaded;
    this.loaded = undefined;
    await loaded?.release();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    // A run's teacher lives in the engine: a deleted run takes its loaded teacher with it.
    if (changed.has('runs') && this.loaded?.key.startsWith(runPath('')) && !this.runs.some((r) => runPath(r.runId) === this.loaded!.key)) this.loaded = undefined;
  }

  private getStore(): Promise<DistillStore> {
    this.store ??= openDistillStore();
    return this.store;
  }

  /** Lists the stored sets; the one last used for training is handed out again (a reload). */
  private async restore(): Promise<void> {
    const store = await this.getStore();
    this._sets = await store.list();
    this._currentId ??= this._sets[0]?.id;
    const used = this._sets.find((s) => s.used);
    if (used) this.fireUse(used, true);
  }

  /** The set shown: the one being generated, or the newest. */
  get current(): GeneratedSet | undefined {
    return this._sets.find((s) => s.id === this._currentId);
  }

  private get settings(): PupilTeacherSettings | null {
    return this.renderRoot.querySelector('pupil-teacher-settings');
  }

  private fire(type: string, detail: unknown) {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  private async makeTeacher(choice: TeacherChoice, signal: AbortSignal): Promise<{ teacher: Teacher; short: string; concurrency: number }> {
    if (choice.kind === 'endpoint') {
      await this.dropLoaded();
      if (!/^https?:\/\//.test(choice.baseUrl)) throw new Error(`Base URL: give the endpoint's address, starting with http:// or https:// (got "${choice.baseUrl}")`);
      if (!choice.model) throw new Error('Model: give the model id the endpoint serves ("List models" fills it in)');
      const { OpenAITeacher } = await import('../distill/teachers/openai.ts');
      const teacher = new OpenAITeacher({ baseUrl: choice.baseUrl, model: choice.model, apiKey: choice.apiKey, concurrency: choice.concurrency, retries: 2 });
      return { teacher, short: choice.model, concurrency: choice.concurrency };
    }
    if (choice.kind === 'run') {
      if (!choice.runId) throw new Error('No saved run with a checkpoint to use as a teacher: train one first');
      if (!this.client) throw new Error('The engine is not available (this page has no WebGPU): a saved run cannot be a teacher here');
      const key = runPath(choice.runId);
      if (this.loaded?.key !== key) {
        await this.dropLoaded();
        this._status = `Loading run ${choice.runId} as the teacher…`;
        const info = await this.client.loadTeacher(choice.runId);
        const client = this.client;
        this.loaded = { key, teacher: client.runTeacher(info), release: () => client.unloadTeacher() };
      }
      return { teacher: this.loaded.teacher, short: choice.runId, concurrency: 1 };
    }
    if (!/^[\w.-]+\/[\w.-]+$/.test(choice.model)) throw new Error(`Model: give a Hugging Face Hub id as owner/name (got "${choice.model}")`);
    const key = `browser:${choice.model}:${choice.device}`;
    if (this.loaded?.key !== key) {
      await this.dropLoaded();
      this._status = `Loading ${choice.model}…`;
      // Loaded on first use: transformers.js stays out of the default bundle.
      const { TransformersTeacher } = await import('../distill/teachers/transformers.ts');
      const teacher = await TransformersTeacher.load({
        model: choice.model, device: choice.device, signal, ...(this.endpoint ? { remoteHost: this.endpoint } : {}),
        onProgress: (p) => (this._status = `Downloading ${choice.model}: ${p.file} ${p.total ? Math.round((100 * p.loaded) / p.total) : 0}%`),
      });
      this.loaded = { key, teacher, release: () => teacher.dispose() };
    }
    return { teacher: this.loaded.teacher, short: choice.model.split('/').pop()!, concurrency: 1 };
  }

  /** Runs the chosen mode with the chosen teacher; resolves with the set (also stored). */
  async generate(): Promise<GeneratedSet | undefined> {
    if (this._busy) return undefined;
    const choice = this.settings?.value;
    if (!choice) return undefined;
    // The records the command line would take too (single-turn tasks, with their extra fields).
    const seeds = this.examples.flatMap((ex) => {
      const t = exampleTask(ex);
      return typeof t === 'string' ? [] : [{ ...t.task, output: t.output }];
    });
    this._error = this._warning = undefined;
    if (!seeds.length) {
      this._error = { message: 'The current dataset has no single-turn record to start from: choose one in the Dataset section first.' };
      return undefined;
    }
    const skipped = this.examples.length - seeds.length;
    if (skipped) this._warning = `${skipped} of ${this.examples.length} records are not single-turn tasks (prompt/completion or multi-turn) and were left out.`;
    const ac = new AbortController();
    this.abort = ac;
    this._busy = true;
    const count = Math.max(0, Math.floor(this._count));
    const todo = this._mode === 'regenerate' ? seeds.slice(0, count || seeds.length) : [];
    const target = this._mode === 'regenerate' ? todo.length : Math.max(1, count);
    this._progress = { done: 0, total: target, kept: 0, rejected: 0, tokens: 0 };
    let set: GeneratedSet | undefined;
    let lastError: string | undefined;
    const store = await this.getStore();
    const write = async () => {
      if (!set) return;
      set.updated = Date.now();
      await store.save(set);
      this._sets = [set, ...this._sets.filter((s) => s.id !== set!.id)];
    };
    // Writes run one after another. While records arrive, at most one a second (each rewrites the
    // whole set); the final save writes whatever came after the last one.
    let chain = Promise.resolve(), lastWrite = 0;
    const save = (whileGenerating = false): Promise<void> => {
      if (whileGenerating && Date.now() - lastWrite < 1000) return chain;
      lastWrite = Date.now();
      return (chain = chain.then(write));
    };
    try {
      const made = await this.makeTeacher(choice, ac.signal);
      // Failed calls are counted by the loops; the last message says why, for the advice.
      const teacher: Teacher = { name: made.teacher.name, generate: (m, o) => made.teacher.generate(m, o).catch((e) => ((lastError = (e as Error).message ?? String(e)), Promise.reject(e))) };
      const now = Date.now();
      set = { id: `${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`, name: setFileName(this._mode, made.short, new Date(now)), mode: this._mode, teacher: made.teacher.name, created: now, updated: now, records: [], target, rejected: 0, status: 'running' };
      this._currentId = set.id;
      await save();
      this._status = `Generating with ${made.teacher.name}…`;
      const options = { maxTokens: this._maxTokens, temperature: this._temperature, ...(this._seed !== undefined ? { seed: this._seed } : {}) };
      if (this._mode === 'regenerate') {
        const { regenerateResponses } = await import('../distill/regenerate.ts');
        // Each record is stored as it arrives (completion order), so a closed tab keeps them; the
        // finished set is then rewritten in the dataset's order.
        const arrived: GeneratedRecord[] = [];
        const r = await regenerateResponses(teacher, todo, {
          concurrency: made.concurrency, signal: ac.signal, options,
          // A saved run answers in the prompt format it was trained on: no system turn added.
          ...(choice.kind === 'run' ? { system: null } : {}),
          onProgress: (p) => this.progress({ done: p.done, total: p.total, kept: p.done - p.failed, rejected: p.failed, tokens: p.completionTokens }),
          onRecord: (rec) => {
            arrived.push({ ...rec } as GeneratedRecord);
            set!.records = arrived;
            void save(true);
          },
        });
        set.records = r.records.map((x) => ({ ...x }) as GeneratedRecord);
        set.rejected = r.failures.length;
        if (r.failures.length && r.records.length) this._warning = `${r.failures.length} failed (line ${r.failures[0].line}: ${r.failures[0].message}); the others are kept.`;
      } else {
        const { selfInstruct } = await import('../distill/self-instruct.ts');
        const it = selfInstruct(teacher, {
          seeds, target, concurrency: made.concurrency, signal: ac.signal, maxIdleRounds: 3, seed: now % 2 ** 31,
          instructionOptions: { maxTokens: Math.max(this._maxTokens, 512), temperature: 1 }, responseOptions: options,
          onProgress: (p) => this.progress({ done: p.kept, total: p.target, kept: p.kept, rejected: Object.values(p.rejected).reduce((a, b) => a + b, 0), tokens: p.completionTokens }),
        });
        try {
          for await (const rec of it) {
            set.records.push({ ...rec });
            this.progress({ ...this._progress!, done: set.records.length, kept: set.records.length });
            await save(true);
          }
        } catch (e) {
          if (!ac.signal.aborted) throw e;
        }
        set.rejected = this._progress!.rejected;
      }
      set.status = ac.signal.aborted ? 'cancelled' : set.records.length ? 'done' : 'failed';
      if (!set.records.length && !ac.signal.aborted) this._error = { message: `The teacher gave nothing usable${lastError ? `: ${lastError}` : ''}.`, advice: teacherAdvice(lastError ?? '', choice.kind === 'endpoint' ? choice.baseUrl : undefined) };
      await save();
    } catch (e) {
      const message = (e as Error).message ?? String(e);
      this._error = { message, advice: teacherAdvice(message, choice.kind === 'endpoint' ? choice.baseUrl : undefined) };
      if (set) {
        set.status = 'failed';
        await save();
      }
    } finally {
      this._busy = false;
      this._status = undefined;
      this.abort = undefined;
    }
    if (set) this.fire('pupil-distill-done', { set });
    return set;
  }

  private progress(p: DistillProgress) {
    this._progress = p;
    this.fire('pupil-distill-progress', p);
  }

  /** Stops generating; what was generated so far is kept. */
  cancel(): void {
    this.abort?.abort();
  }

  /** Hands the set to the studio's dataset (as if the user had loaded that file). */
  async use(set = this.current): Promise<void> {
    if (!set?.records.length) return;
    const store = await this.getStore();
    for (const s of this._sets) {
      const was = !!s.used;
      s.used = s.id === set.id;
      if (was !== s.used) await store.save(s);
    }
    this._sets = [...this._sets];
    this.fireUse(set, false);
  }

  private fireUse(set: GeneratedSet, restored: boolean) {
    const file = new File([toJsonl(set.records)], set.name, { type: 'application/jsonl' });
    this.fire('pupil-distill-use', { file, set, restored } satisfies DistillUseDetail);
  }

  private download(set: GeneratedSet) {
    const url = URL.createObjectURL(new Blob([toJsonl(set.records)], { type: 'application/jsonl' }));
    const a = Object.assign(document.createElement('a'), { href: url, download: set.name });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  private async removeSet(set: GeneratedSet) {
    await (await this.getStore()).remove(set.id);
    this._sets = this._sets.filter((s) => s.id !== set.id);
    if (this._currentId === set.id) this._currentId = this._sets[0]?.id;
  }

  override render() {
    const busy = this._busy;
    const dis = this.disabled || busy;
    const n = this.examples.length;
    return html`<section class="card" part="card" aria-labelledby="h" aria-busy=${String(busy)}>
      <h2 id="h">Distillation</h2>
      <p class="note">A teacher writes the responses the student learns from${this.datasetName ? html`, starting from <b>${this.datasetName}</b> (${n} records)` : nothing}.</p>
      <pupil-teacher-settings theme=${this.theme ?? nothing} .runs=${this.runs} .disabled=${dis}></pupil-teacher-settings>
      <fieldset ?disabled=${dis}>
        <legend>What to generate</legend>
        <label><input type="radio" name="mode" value="regenerate" .checked=${this._mode === 'regenerate'} @change=${() => (this._mode = 'regenerate')} /> Regenerate the responses of the current dataset</label>
        <label><input type="radio" name="mode" value="self-instruct" .checked=${this._mode === 'self-instruct'} @change=${() => (this._mode = 'self-instruct')} /> New tasks from it as seeds (Self-Instruct)</label>
      </fieldset>
      <fieldset ?disabled=${dis}>
        <label class="field" for="count">${this._mode === 'regenerate' ? 'First N records (0: all)' : 'New records'}<input id="count" type="number" min="0" .value=${String(this._count)} @change=${(e: Event) => (this._count = Number((e.target as HTMLInputElement).value) || 0)} /></label>
        <label class="field" for="max-tokens">Max tokens per response<input id="max-tokens" type="number" min="1" .value=${String(this._maxTokens)} @change=${(e: Event) => (this._maxTokens = Math.max(1, Number((e.target as HTMLInputElement).value) || 256))} /></label>
        <label class="field" for="temperature">Temperature<input id="temperature" type="number" min="0" max="2" step="0.1" .value=${String(this._temperature)} @change=${(e: Event) => (this._temperature = Math.max(0, Number((e.target as HTMLInputElement).value)))} /></label>
        <label class="field" for="seed">Seed<input id="seed" type="number" min="0" step="1" placeholder="random" .value=${this._seed === undefined ? '' : String(this._seed)} @change=${(e: Event) => { const v = (e.target as HTMLInputElement).value; this._seed = v === '' ? undefined : Math.max(0, Math.floor(Number(v))); }} /></label>
      </fieldset>
      <div class="row">
        <button class="primary" data-generate ?disabled=${dis || !n} @click=${() => this.generate()}>Generate</button>
        ${busy ? html`<button data-cancel @click=${() => this.cancel()}>Cancel (keep what is done)</button>` : nothing}
        ${this._status ? html`<span role="status">${this._status}</span>` : nothing}
      </div>
      ${this._progress ? this.renderProgress(this._progress) : nothing}
      ${this._error ? html`<p class="bad" role="alert" part="error" data-error>${this._error.message}${this._error.advice ? html`<br />${this._error.advice}` : nothing}</p>` : nothing}
      ${this._warning ? html`<p class="warn" data-warning>${this._warning}</p>` : nothing}
      ${this.renderSets()}
    </section>`;
  }

  private renderProgress(p: DistillProgress) {
    return html`<div class="row" part="progress" aria-live="polite" data-done=${p.done} data-total=${p.total} data-kept=${p.kept}>
      <progress max=${Math.max(p.total, 1)} value=${p.done}></progress>
      <span>${p.done} / ${p.total} · kept <b>${p.kept}</b> · rejected ${p.rejected} · ${p.tokens} tokens</span>
    </div>`;
  }

  private renderSets() {
    const set = this.current;
    if (!set) return nothing;
    const status = set.status === 'running' && !this._busy ? 'interrupted' : set.status;
    return html`<h3>Generated</h3>
      ${this._sets.length > 1
        ? html`<label class="field" for="sets">Saved sets<select id="sets" @change=${(e: Event) => (this._currentId = (e.target as HTMLSelectElement).value)}>
            ${this._sets.map((s) => html`<option value=${s.id} ?selected=${s.id === set.id}>${s.name} (${s.records.length})${s.used ? ' — training set' : ''}</option>`)}
          </select></label>`
        : nothing}
      <p data-set=${set.id} data-records=${set.records.length} data-used=${String(!!set.used)}>
        <b>${set.name}</b>: ${set.records.length} records from ${set.teacher} (${status}${set.rejected ? `, ${set.rejected} rejected` : ''})${set.used ? html` · <b>the training set</b>` : nothing}</p>
      <div class="row">
        <button class="primary" data-use ?disabled=${this._busy || !set.records.length} @click=${() => this.use(set)}>Use as training set</button>
        <button data-download ?disabled=${!set.records.length} @click=${() => this.download(set)}>Download JSONL</button>
        <button data-delete class="danger" ?disabled=${this._busy && set.id === this._currentId} @click=${() => this.removeSet(set)}>Delete</button>
      </div>
      ${set.records.length
        ? html`<table part="preview" aria-label="generated records">
            <thead><tr><th scope="col">Instruction</th><th scope="col">Input</th><th scope="col">Output</th><th scope="col">Teacher</th></tr></thead>
            <tbody>${set.records.slice(0, PREVIEW_ROWS).map((r) => html`<tr><td>${r.instruction}</td><td>${r.input}</td><td>${r.output}</td><td>${r.teacher}</td></tr>`)}</tbody>
          </table>
          ${set.records.length > PREVIEW_ROWS ? html`<p class="note">The first ${PREVIEW_ROWS} of ${set.records.length}.</p>` : nothing}`
        : nothing}`;
  }
}

customElements.define('pupil-distill', PupilDistill);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-distill': PupilDistill;
  }
  interface HTMLElementEventMap {
    'pupil-distill-use': CustomEvent<DistillUseDetail>;
    'pupil-distill-done': CustomEvent<{ set: GeneratedSet }>;
    'pupil-distill-progress': CustomEvent<DistillProgress>;
  }
}
