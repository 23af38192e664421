import { LitElement, css, html, nothing } from 'lit';
import type { RunMeta } from '../worker/protocol.ts';
import { controlStyles, themeStyles } from './theme.ts';

/** Which teacher writes the responses, and how to reach it. */
export type TeacherChoice =
  | { kind: 'endpoint'; baseUrl: string; model: string; apiKey?: string; concurrency: number }
  | { kind: 'browser'; model: string; device: 'webgpu' | 'wasm' }
  | { kind: 'run'; runId: string };

const SETTINGS_KEY = 'pupil.teacher';
const API_KEY_KEY = 'pupil.teacher.apiKey';
const DEFAULTS = { kind: 'endpoint' as TeacherChoice['kind'], baseUrl: 'http://127.0.0.1:11434/v1', model: '', concurrency: 2, browserModel: 'HuggingFaceTB/SmolLM2-360M-Instruct', device: 'webgpu' as const, runId: '' };
type Saved = typeof DEFAULTS | (Omit<typeof DEFAULTS, 'device'> & { device: 'webgpu' | 'wasm' });

/**
 * What a failed teacher call means and what to do about it, from its message (OpenAITeacher's
 * errors name the HTTP status; a browser reports CORS refusals and unreachable hosts alike as a
 * failed fetch).
 */
export function teacherAdvice(message: string, baseUrl?: string): string | undefined {
  const origin = typeof location !== 'undefined' ? location.origin : 'this page';
  if (/HTTP 401|HTTP 403/.test(message)) return 'The endpoint refused the request: check the API key (it must belong to this endpoint), or that the model is allowed for it.';
  if (/HTTP 404/.test(message)) return 'Not found: check the model id ("List models" shows what the endpoint has) and that the base URL ends in /v1.';
  if (/HTTP 429/.test(message)) return 'Rate limited: lower the concurrency, or wait and generate again (what was generated is kept).';
  if (/HTTP 5\d\d/.test(message)) return 'The endpoint failed: look at its log (a model too big for its memory is a common cause).';
  if (/Failed to fetch|NetworkError|Load failed|fetch failed|CORS/i.test(message)) {
    return `The endpoint${baseUrl ? ` at ${baseUrl}` : ''} did not answer, or the browser blocked it (CORS). Check that it runs; then let this page call it: \`pupil serve\` allows pages already; start Ollama with OLLAMA_ORIGINS=${origin} (or *); llama.cpp's server and vLLM need their CORS option (vLLM: --allowed-origins). A hosted API that refuses browsers needs a small proxy.`;
  }
  if (/could not locate|not found|404|Unauthorized/i.test(message)) return 'Check the model id on the Hugging Face Hub (owner/name) and that it has ONNX weights for transformers.js.';
  return undefined;
}

/**
 * The teacher choice of the distillation panel: an OpenAI-compatible endpoint (base URL, model with
 * a "List models" button, API key, concurrency), a model run in this browser by transformers.js
 * (Hub id, WebGPU or WASM), or one of the user's saved Pupil runs. Settings are remembered on this
 * device; the API key only when "remember on this device" is ticked (it is otherwise kept in
 * memory only), and "Forget" removes it.
 *
 * @fires pupil-teacher-change - detail: TeacherChoice, whenever a field changes
 * @attr theme - 'light' or 'dark' (default: the system preference)
 * @csspart fields - the settings of the chosen teacher
 */
export class PupilTeacherSettings extends LitElement {
  static override properties = {
    runs: { attribute: false },
    disabled: { type: Boolean, reflect: true },
    theme: { reflect: true },
    _s: { state: true },
    _apiKey: { state: true },
    _remember: { state: true },
    _models: { state: true },
    _listing: { state: true },
    _listError: { state: true },
  };

  /** Saved runs to offer as teachers (those with a checkpoint). */
  declare runs: readonly RunMeta[];
  declare disabled: boolean;
  declare theme?: 'light' | 'dark';
  declare private _s: Saved;
  declare private _apiKey: string;
  declare private _remember: boolean;
  declare private _models: string[];
  declare private _listing: boolean;
  declare private _listError?: string;

  constructor() {
    super();
    this.runs = [];
    this.disabled = false;
    this._s = { ...DEFAULTS, ...readJson(SETTINGS_KEY) };
    const key = safeStorage()?.getItem(API_KEY_KEY);
    this._apiKey = key ?? '';
    this._remember = key !== null && key !== undefined;
    this._models = [];
    this._listing = false;
  }

  static override styles = [themeStyles, controlStyles, css`
    :host { display: block; }
    fieldset { border: 0; padding: 0; margin: 0 0 8px; display: flex; flex-wrap: wrap; gap: 4px 14px; }
    legend { font-weight: 600; padding: 0; margin-bottom: 4px; }
    .row { display: flex; gap: 8px; flex-wrap: wrap; align-items: end; margin: 6px 0; }
    label.field { display: flex; flex-direction: column; font-size: 12px; gap: 2px; }
    input[type='url'], input[type='text'] { min-width: 16em; }
    input[type='number'] { width: 5em; }
    .bad { color: var(--_danger); }
    .note { font-size: 12px; color: var(--_muted); }
  `];

  /** The current choice (the API key included, never stored unless remembered). */
  get value(): TeacherChoice {
    const s = this._s;
    if (s.kind === 'browser') return { kind: 'browser', model: s.browserModel.trim(), device: s.device };
    if (s.kind === 'run') return { kind: 'run', runId: s.runId || this.usableRuns[0]?.runId || '' };
    return { kind: 'endpoint', baseUrl: s.baseUrl.trim().replace(/\/+$/, ''), model: s.model.trim(), concurrency: s.concurrency, ...(this._apiKey ? { apiKey: this._apiKey } : {}) };
  }

  private get usableRuns(): RunMeta[] {
    return this.runs.filter((r) => r.lastCheckpoint !== undefined);
  }

  private set(patch: Partial<Saved>) {
    this._s = { ...this._s, ...patch } as Saved;
    safeStorage()?.setItem(SETTINGS_KEY, JSON.stringify(this._s));
    this.changed();
  }

  private changed() {
    this.dispatchEvent(new CustomEvent('pupil-teacher-change', { detail: this.value, bubbles: true, composed: true }));
  }

  private setKey(key: string) {
    this._apiKey = key;
    if (this._remember) safeStorage()?.setItem(API_KEY_KEY, key);
    this.changed();
  }

  private setRemember(on: boolean) {
    this._remember = on;
    if (on) safeStorage()?.setItem(API_KEY_KEY, this._apiKey);
    else safeStorage()?.removeItem(API_KEY_KEY);
  }

  /** Removes the remembered key from this device and from the page. */
  forgetKey() {
    safeStorage()?.removeItem(API_KEY_KEY);
    this._remember = false;
    this.setKey('');
  }

  /** GET {baseUrl}/models: fills the model suggestions (and the model, when it is empty). */
  async listModels(): Promise<string[]> {
    const v = this.value;
    if (v.kind !== 'endpoint') return [];
    this._listing = true;
    this._listError = undefined;
    try {
      const res = await fetch(`${v.baseUrl}/models`, { headers: v.apiKey ? { authorization: `Bearer ${v.apiKey}` } : {} });
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      const j = (await res.json()) as { data?: { id?: string }[]; models?: { name?: string }[] };
      const ids = (j.data?.map((m) => m.id) ?? j.models?.map((m) => m.name) ?? []).filter((x): x is string => typeof x === 'string');
      this._models = ids;
      if (!ids.length) this._listError = `${v.baseUrl}/models lists no model`;
      else if (!this._s.model || !ids.includes(this._s.model)) this.set({ model: ids[0] });
      return ids;
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      this._listError = `${v.baseUrl}/models: ${msg}. ${teacherAdvice(msg, v.baseUrl) ?? ''}`;
      return [];
    } finally {
      this._listing = false;
    }
  }

  override render() {
    const kinds: [TeacherChoice['kind'], string][] = [['endpoint', 'An endpoint (OpenAI-compatible)'], ['browser', 'In this browser (transformers.js)'], ['run', 'One of my Pupil runs']];
    return html`<fieldset ?disabled=${this.disabled}>
        <legend>Teacher</legend>
        ${kinds.map(([k, label]) => html`<label><input type="radio" name="teacher" value=${k} .checked=${this._s.kind === k} @change=${() => this.set({ kind: k })} /> ${label}</label>`)}
      </fieldset>
      <div part="fields">${this.renderFields()}</div>`;
  }

  private renderFields() {
    const s = this._s;
    const dis = this.disabled;
    if (s.kind === 'browser') {
      return html`<div class="row">
          <label class="field" for="hf-model">Model on the Hugging Face Hub<input id="hf-model" type="text" .value=${s.browserModel} placeholder="HuggingFaceTB/SmolLM2-360M-Instruct" ?disabled=${dis} @change=${(e: Event) => this.set({ browserModel: (e.target as HTMLInputElement).value })} /></label>
          <label class="field" for="device">Runs on<select id="device" ?disabled=${dis} @change=${(e: Event) => this.set({ device: (e.target as HTMLSelectElement).value as 'webgpu' | 'wasm' })}>
            <option value="webgpu" ?selected=${s.device === 'webgpu'}>WebGPU</option><option value="wasm" ?selected=${s.device === 'wasm'}>WASM (CPU)</option></select></label>
        </div>
        <p class="note">Downloaded once (then cached by the browser) when you generate; it needs ONNX weights (the onnx-community and HuggingFaceTB repositories have them).</p>`;
    }
    if (s.kind === 'run') {
      const runs = this.usableRuns;
      if (!runs.length) return html`<p class="note" data-no-runs>No saved run has a checkpoint yet: train one first (a larger student makes a better teacher).</p>`;
      const chosen = this.value.kind === 'run' ? (this.value as { runId: string }).runId : '';
      return html`<div class="row"><label class="field" for="run">Saved run<select id="run" ?disabled=${dis} @change=${(e: Event) => this.set({ runId: (e.target as HTMLSelectElement).value })}>
          ${runs.map((r) => html`<option value=${r.runId} ?selected=${r.runId === chosen}>${r.name} — step ${r.lastCheckpoint} (${r.runId})</option>`)}
        </select></label></div>
        <p class="note">Its last checkpoint runs in the engine Worker beside the model being trained.</p>`;
    }
    return html`<div class="row">
        <label class="field" for="base-url">Base URL<input id="base-url" type="url" .value=${s.baseUrl} placeholder="http://127.0.0.1:11434/v1" ?disabled=${dis} @change=${(e: Event) => this.set({ baseUrl: (e.target as HTMLInputElement).value })} /></label>
        <label class="field" for="model">Model<input id="model" type="text" list="models" .value=${s.model} placeholder="qwen2.5:7b-instruct" ?disabled=${dis} @change=${(e: Event) => this.set({ model: (e.target as HTMLInputElement).value })} /></label>
        <datalist id="models">${this._models.map((m) => html`<option value=${m}></option>`)}</datalist>
        <button type="button" data-list-models ?disabled=${dis || this._listing} @click=${() => this.listModels()}>${this._listing ? 'Listing…' : 'List models'}</button>
      </div>
      <div class="row">
        <label class="field" for="api-key">API key (if the endpoint needs one)<input id="api-key" type="password" autocomplete="off" .value=${this._apiKey} ?disabled=${dis} @change=${(e: Event) => this.setKey((e.target as HTMLInputElement).value)} /></label>
        <label><input type="checkbox" data-remember .checked=${this._remember} ?disabled=${dis} @change=${(e: Event) => this.setRemember((e.target as HTMLInputElement).checked)} /> remember on this device</label>
        ${this._remember || this._apiKey ? html`<button type="button" data-forget ?disabled=${dis} @click=${() => this.forgetKey()}>Forget</button>` : nothing}
        <label class="field" for="concurrency">Requests at once<input id="concurrency" type="number" min="1" max="64" .value=${String(s.concurrency)} ?disabled=${dis} @change=${(e: Event) => this.set({ concurrency: Math.max(1, Math.round(Number((e.target as HTMLInputElement).value)) || 1) })} /></label>
      </div>
      <p class="note">${this._remember ? 'The key is stored in this browser (localStorage) until you press Forget.' : 'The key stays in this page only: a reload forgets it.'}</p>
      ${this._listError ? html`<p class="bad" role="alert" data-list-error>${this._listError}</p>` : nothing}`;
  }
}

function safeStorage(): Storage | undefined {
  try {
    return typeof localStorage === 'undefined' ? undefined : localStorage;
  } catch {
    return undefined; // blocked storage (some privacy settings) throws on access
  }
}

function readJson(key: string): Partial<Saved> {
  try {
    const v = JSON.parse(safeStorage()?.getItem(key) ?? '{}') as unknown;
    return typeof v === 'object' && v !== null ? (v as Partial<Saved>) : {};
  } catch {
    return {};
  }
}

customElements.define('pupil-teacher-settings', PupilTeacherSettings);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-teacher-settings': PupilTeacherSettings;
  }
  interface HTMLElementEventMap {
    'pupil-teacher-change': CustomEvent<TeacherChoice>;
  }
}
