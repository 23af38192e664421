import { LitElement, css, html, nothing, type PropertyValues } from 'lit';
import { controlStyles, themeStyles } from './theme.ts';
import type { LoadResult } from '../data/load.ts';
import type { TrainedSpan } from '../data/render.ts';
import type { Example } from '../data/types.ts';
import type { DataSource } from '../train/config.ts';

/** Where the examples come from, in RunConfig terms ('bundled', { url }, { hub, file }). */
export type DatasetSource = Exclude<DataSource, { path: string }>;
export type DatasetMode = 'bundled' | 'file' | 'url' | 'hub';

export interface DatasetChangeDetail {
  /** Goes straight into RunConfig `data.source`; a dropped file arrives as a blob: URL. */
  source: DatasetSource;
  /** What the page's own read of the data found (a sample for the bundled set). */
  kept: number;
  rejected: number;
}

const BUNDLED_PREVIEW = 200;
const SHOWN_REJECTIONS = 10;

/**
 * Chooses the training data and shows what the trainer will see of it: a preview of the first
 * records, the validation report (kept, rejected by reason, the first rejections with their line),
 * and one example rendered through ChatML with the tokens that carry loss highlighted. The data is
 * read in the page with the same reader the Worker uses, so the report matches the run's.
 *
 * @fires pupil-dataset-change - detail: DatasetChangeDetail, once a source has been read and kept something
 * @csspart card - the outer box
 * @csspart drop - the drop zone for files
 * @csspart preview - the preview table
 * @csspart report - the validation report
 * @csspart example - the rendered example
 * @cssprop --pupil-fg - text colour
 * @cssprop --pupil-bg - background colour
 * @cssprop --pupil-border - border colour
 * @cssprop --pupil-accent - colour of focus and the active choice
 * @cssprop --pupil-trained-bg - background of trained tokens in the rendered example
 * @cssprop --pupil-danger - colour of rejections and errors
 */
export class PupilDataset extends LitElement {
  static override properties = {
    mode: { type: String, reflect: true },
    url: { type: String },
    hubRepo: { type: String, attribute: 'hub-repo' },
    hubFile: { type: String, attribute: 'hub-file' },
    endpoint: { type: String },
    previewRows: { type: Number, attribute: 'preview-rows' },
    disabled: { type: Boolean, reflect: true },
    source: { attribute: false },
    result: { attribute: false },
    _spans: { state: true },
    _busy: { state: true },
    _error: { state: true },
    _fileName: { state: true },
  };

  /** Which kind of source the form shows. */
  declare mode: DatasetMode;
  declare url: string;
  declare hubRepo: string;
  declare hubFile: string;
  /** Hub endpoint for `hub` sources. */
  declare endpoint: string;
  declare previewRows: number;
  /** Set while a run trains: the data of a run cannot change under it. */
  declare disabled: boolean;
  /** The source last read successfully. */
  declare source: DatasetSource;
  /** What reading it gave. */
  declare result?: LoadResult;
  declare private _spans?: TrainedSpan[];
  declare private _busy: boolean;
  declare private _error?: string;
  declare private _fileName?: string;

  private blobUrl?: string;
  private generation = 0;

  constructor() {
    super();
    this.mode = 'bundled';
    this.url = '';
    this.hubRepo = '';
    this.hubFile = '';
    this.endpoint = 'https://huggingface.co';
    this.previewRows = 5;
    this.disabled = false;
    this.source = 'bundled';
    this._busy = false;
  }

  static override styles = [themeStyles, controlStyles, css`
    :host { display: block; }
    h3 { font-size: 14px; margin: 12px 0 4px; }
    fieldset { border: 0; padding: 0; margin: 0 0 8px; display: flex; flex-wrap: wrap; gap: 4px 14px; }
    legend { font-weight: 600; padding: 0; margin-bottom: 4px; }
    .row { display: flex; gap: 8px; flex-wrap: wrap; align-items: end; margin: 6px 0; }
    label.field { display: flex; flex-direction: column; font-size: 12px; gap: 2px; }
    input[type='text'], input[type='url'] { min-width: 16em; }
    .drop { border: 2px dashed var(--_border); border-radius: 8px; padding: 14px; text-align: center; margin: 6px 0; }
    .drop.over { border-color: var(--_accent); }
    table { border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 13px; }
    th, td { text-align: left; vertical-align: top; padding: 3px 6px; border-bottom: 1px solid var(--_border); overflow-wrap: anywhere; white-space: pre-wrap; }
    th.line, td.line { width: 4em; font-variant-numeric: tabular-nums; }
    .bad { color: var(--_danger); }
    ul { margin: 4px 0; padding-left: 20px; }
    pre.example { white-space: pre-wrap; overflow-wrap: anywhere; font: 12px/1.5 var(--_mono); margin: 4px 0; padding: 8px; border-radius: 6px; border: 1px solid var(--_border); }
    mark { background: var(--pupil-trained-bg, color-mix(in srgb, var(--_accent) 28%, transparent)); color: inherit; border-radius: 2px; }
    .note { font-size: 12px; color: var(--_muted); }
  `];

  override connectedCallback(): void {
    super.connectedCallback();
    if (!this.result && this.mode === 'bundled') void this.useBundled();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('result')) void this.renderExample();
  }

  /** Takes the bundled synthetic tasks (no network). */
  async useBundled(): Promise<void> {
    this.mode = 'bundled';
    await this.read('bundled', async (load) => {
      const { generateDataset, toJsonl } = await import('../data/synthetic/index.ts');
      // A sample only: generating all 19 000 records in the page would stall it for no benefit.
      const { train } = generateDataset({ train: BUNDLED_PREVIEW, test: 1 });
      return load(toJsonl(train), { name: 'pupil-tasks (sample)' });
    });
  }

  /** Reads a dropped or picked file; the run gets it as a blob: URL. */
  async loadFile(file: File): Promise<void> {
    this.mode = 'file';
    this._fileName = file.name;
    if (this.blobUrl) URL.revokeObjectURL(this.blobUrl);
    this.blobUrl = URL.createObjectURL(file);
    await this.read({ url: this.blobUrl }, (load) => load(file, { name: file.name }));
  }

  async loadUrl(url: string): Promise<void> {
    this.mode = 'url';
    this.url = url;
    await this.read({ url }, async (load) => load(await fetchBody(url), { name: new URL(url, location.href).pathname.split('/').pop() || 'dataset' }));
  }

  async loadHub(repo: string, file: string): Promise<void> {
    this.mode = 'hub';
    this.hubRepo = repo;
    this.hubFile = file;
    const url = `${this.endpoint}/datasets/${repo}/resolve/main/${file}`;
    await this.read({ hub: repo, file }, async (load) => load(await fetchBody(url), { name: file.split('/').pop() }));
  }

  private async read(source: DatasetSource, get: (load: typeof import('../data/load.ts').loadDataset) => Promise<LoadResult>): Promise<void> {
    const mine = ++this.generation;
    this._busy = true;
    this._error = undefined;
    try {
      const { loadDataset } = await import('../data/load.ts');
      const result = await get(loadDataset);
      if (mine !== this.generation) return;
      this.result = result;
      if (result.summary.kept === 0) {
        this._error = 'No record could be used: see the rejections below.';
        return;
      }
      this.source = source;
      const detail: DatasetChangeDetail = { source, kept: result.summary.kept, rejected: result.rejections.length };
      this.dispatchEvent(new CustomEvent('pupil-dataset-change', { detail, bubbles: true, composed: true }));
    } catch (e) {
      if (mine !== this.generation) return;
      this.result = undefined;
      this._error = (e as Error).message ?? String(e);
    } finally {
      if (mine === this.generation) this._busy = false;
    }
  }

  private async renderExample(): Promise<void> {
    const ex = this.result?.examples[0];
    this._spans = undefined;
    if (!ex) return;
    const mine = this.generation;
    const [{ byteLevelTokenizer }, { jinjaRenderer, CHATML_TEMPLATE }, { tokenizeExample }, { trainedSpans }] = await Promise.all([
      import('../data/byte-tokenizer.ts'), import('../data/template.ts'), import('../data/mask.ts'), import('../data/render.ts'),
    ]);
    const tokenizer = byteLevelTokenizer();
    const r = tokenizeExample(ex, { tokenizer, renderer: jinjaRenderer(CHATML_TEMPLATE, tokenizer, 'chatml'), policy: 'assistant' });
    if (mine === this.generation && r.ok) this._spans = trainedSpans(r.example, tokenizer);
  }

  private onDrop(e: DragEvent) {
    e.preventDefault();
    (e.currentTarget as HTMLElement).classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file && !this.disabled) void this.loadFile(file);
  }

  private onDragOver(e: DragEvent) {
    e.preventDefault();
    (e.currentTarget as HTMLElement).classList.add('over');
  }

  private onPick(e: Event) {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (file) void this.loadFile(file);
  }

  private setMode(mode: DatasetMode) {
    this.mode = mode;
    if (mode === 'bundled') void this.useBundled();
  }

  private submitUrl(e: Event) {
    e.preventDefault();
    const v = (this.renderRoot.querySelector('#url') as HTMLInputElement).value.trim();
    if (v) void this.loadUrl(v);
  }

  private submitHub(e: Event) {
    e.preventDefault();
    const repo = (this.renderRoot.querySelector('#hub-repo') as HTMLInputElement).value.trim();
    const file = (this.renderRoot.querySelector('#hub-file') as HTMLInputElement).value.trim();
    if (repo && file) void this.loadHub(repo, file);
  }

  override render() {
    const modes: [DatasetMode, string][] = [['bundled', 'Bundled tasks'], ['file', 'A file'], ['url', 'A URL'], ['hub', 'Hugging Face dataset']];
    return html`<section class="card" part="card" aria-labelledby="h" aria-busy=${String(this._busy)}>
      <h2 id="h">Dataset</h2>
      <fieldset ?disabled=${this.disabled}>
        <legend>Source</legend>
        ${modes.map(([m, label]) => html`<label><input type="radio" name="mode" value=${m} .checked=${this.mode === m} @change=${() => this.setMode(m)} /> ${label}</label>`)}
      </fieldset>
      ${this.renderSourceForm()}
      ${this._busy ? html`<p role="status">Reading…</p>` : nothing}
      ${this._error ? html`<p class="bad" role="alert">${this._error}</p>` : nothing}
      ${this.result ? this.renderResult(this.result) : nothing}
    </section>`;
  }

  private renderSourceForm() {
    switch (this.mode) {
      case 'file':
        return html`<div class="drop" part="drop" @dragover=${this.onDragOver} @dragleave=${(e: DragEvent) => (e.currentTarget as HTMLElement).classList.remove('over')} @drop=${this.onDrop}>
          <label for="file">Drop a JSONL, JSON, CSV, TSV or Parquet file here, or choose one:</label>
          <input id="file" type="file" accept=".jsonl,.json,.csv,.tsv,.parquet,.gz" ?disabled=${this.disabled} @change=${this.onPick} />
          ${this._fileName ? html`<div class="note">${this._fileName}</div>` : nothing}
        </div>`;
      case 'url':
        return html`<form class="row" @submit=${this.submitUrl}>
          <label class="field" for="url">URL of a dataset file<input id="url" type="url" required .value=${this.url} placeholder="https://…/train.jsonl" ?disabled=${this.disabled} /></label>
          <button type="submit" ?disabled=${this.disabled}>Read</button>
        </form>`;
      case 'hub':
        return html`<form class="row" @submit=${this.submitHub}>
          <label class="field" for="hub-repo">Dataset repository<input id="hub-repo" type="text" required .value=${this.hubRepo} placeholder="tatsu-lab/alpaca" ?disabled=${this.disabled} /></label>
          <label class="field" for="hub-file">File in it<input id="hub-file" type="text" required .value=${this.hubFile} placeholder="data/train-00000-of-00001.parquet" ?disabled=${this.disabled} /></label>
          <button type="submit" ?disabled=${this.disabled}>Read</button>
        </form>`;
      default:
        return html`<p class="note">Verifiable synthetic instruction tasks (arithmetic, letters, lists, facts), generated in the page: no network needed. Held-out tasks are scored by exact match.</p>`;
    }
  }

  private renderResult(r: LoadResult) {
    const s = r.summary;
    const reasons = Object.entries(s.rejected).sort((a, b) => b[1] - a[1]);
    const rows = r.examples.slice(0, this.previewRows);
    return html`
      <h3>Preview</h3>
      <table part="preview" aria-label="first records">
        <thead><tr><th class="line" scope="col">Line</th><th scope="col">Prompt</th><th scope="col">Response</th></tr></thead>
        <tbody>${rows.map((ex) => html`<tr><td class="line">${ex.source.line}</td><td>${promptOf(ex)}</td><td>${responseOf(ex)}</td></tr>`)}</tbody>
      </table>
      <div part="report" class="report">
        <h3>Validation</h3>
        <p data-kept=${s.kept} data-rejected=${r.rejections.length}>${s.file}: ${s.fileFormat}, ${s.format} records; <b>${s.kept}</b> kept of ${s.read} read,
          <span class=${r.rejections.length ? 'bad' : ''}>${r.rejections.length} rejected</span>${reasons.length ? html` (${reasons.map(([k, n]) => `${n} ${k}`).join(', ')})` : nothing}.</p>
        ${r.rejections.length
          ? html`<ul aria-label="first rejections">${r.rejections.slice(0, SHOWN_REJECTIONS).map((j) => html`<li class="rejection" data-line=${j.source.line}>line ${j.source.line}: ${j.reason} — ${j.message}</li>`)}</ul>`
          : nothing}
      </div>
      ${this._spans
        ? html`<h3>First example as the model sees it</h3>
            <p class="note">ChatML with the byte-level tokenizer of a scratch student; <mark>highlighted</mark> tokens carry the loss.</p>
            <pre class="example" part="example" aria-label="rendered example">${this._spans.map((sp) => (sp.trained ? html`<mark class="trained">${sp.text}</mark>` : sp.text))}</pre>`
        : nothing}`;
  }
}

async function fetchBody(url: string): Promise<ReadableStream<Uint8Array>> {
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  return res.body as ReadableStream<Uint8Array>;
}

function promptOf(ex: Example): string {
  if (ex.kind === 'completion') return ex.prompt;
  if (ex.alpaca) return ex.alpaca.input ? `${ex.alpaca.instruction}\n\n${ex.alpaca.input}` : ex.alpaca.instruction;
  return ex.messages.filter((m) => m.role !== 'assistant').map((m) => m.content).join('\n\n');
}

function responseOf(ex: Example): string {
  if (ex.kind === 'completion') return ex.completion;
  return ex.messages.findLast((m) => m.role === 'assistant')?.content ?? '';
}

customElements.define('pupil-dataset', PupilDataset);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-dataset': PupilDataset;
  }
  interface HTMLElementEventMap {
    'pupil-dataset-change': CustomEvent<DatasetChangeDetail>;
  }
}
