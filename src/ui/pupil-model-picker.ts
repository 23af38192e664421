import { LitElement, css, html, nothing } from 'lit';
// Types only, plus DEFAULT_SCRATCH from config.ts, which imports nothing at run time.
import { DEFAULT_SCRATCH, type RunConfigInput, type ScratchStudent } from '../train/config.ts';
import { controlStyles, themeStyles } from './theme.ts';
import { formatBytes } from '../util/format.ts';

/** config.json fields the estimate reads (Llama / Qwen2 / Mistral names, and GPT-2's). */
export type ModelShapeConfig = Record<string, unknown>;

/** The dimensions the estimate needs, whatever the architecture calls them. */
export interface ModelShape {
  arch: 'llama' | 'qwen2' | 'gpt2';
  vocab: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
  maxPositions: number;
  tie: boolean;
}

export interface MemoryEstimate {
  parameters: number;
  /** Weights, gradients and AdamW's two moments: 4 × 4 bytes per parameter. */
  stateBytes: number;
  activationBytes: number;
  totalBytes: number;
  /** The largest single buffer (weights, or the MLP activations of all layers). */
  largestBufferBytes: number;
}

const BYTE_VOCAB = 260;

/** The dimensions of a from-scratch student (byte-level vocabulary), with config.ts's defaults. */
export function scratchShape(s: Partial<ScratchStudent> = {}): ModelShape {
  const c = { ...DEFAULT_SCRATCH, ...s };
  const heads = s.heads ?? c.heads;
  const intermediate = s.intermediate ?? (c.arch === 'gpt2' ? 4 * c.hidden : 3 * c.hidden);
  return { arch: c.arch, vocab: BYTE_VOCAB, hidden: c.hidden, layers: c.layers, heads, kvHeads: c.arch === 'gpt2' ? heads : (s.kvHeads ?? Math.min(DEFAULT_SCRATCH.kvHeads, heads)), intermediate, maxPositions: c.maxPositions, tie: c.tie };
}

/** The dimensions from a Hugging Face config.json, or undefined for an architecture we do not train. */
export function configShape(cfg: ModelShapeConfig): ModelShape | undefined {
  const n = (...keys: string[]) => {
    for (const k of keys) if (typeof cfg[k] === 'number') return cfg[k] as number;
    return undefined;
  };
  const type = String(cfg.model_type ?? '');
  if (type === 'gpt2') {
    const hidden = n('n_embd', 'hidden_size');
    const heads = n('n_head', 'num_attention_heads');
    if (!hidden || !heads) return undefined;
    return { arch: 'gpt2', vocab: n('vocab_size') ?? 50257, hidden, layers: n('n_layer', 'num_hidden_layers') ?? 12, heads, kvHeads: heads, intermediate: n('n_inner') ?? 4 * hidden, maxPositions: n('n_positions', 'n_ctx') ?? 1024, tie: cfg.tie_word_embeddings !== false };
  }
  if (!['llama', 'qwen2', 'mistral'].includes(type)) return undefined;
  const hidden = n('hidden_size');
  const heads = n('num_attention_heads');
  const intermediate = n('intermediate_size');
  if (!hidden || !heads || !intermediate) return undefined;
  return { arch: type === 'qwen2' ? 'qwen2' : 'llama', vocab: n('vocab_size') ?? 32000, hidden, layers: n('num_hidden_layers') ?? 1, heads, kvHeads: n('num_key_value_heads') ?? heads, intermediate, maxPositions: n('max_position_embeddings') ?? 2048, tie: cfg.tie_word_embeddings === true };
}

/**
 * Trainable parameters, counted as the architectures in src/models define them (checked against
 * them for Llama, Qwen2 and GPT-2). Letters: V vocabulary, C hidden, L layers, K the key/value
 * width (kvHeads × C / heads), F intermediate, P positions.
 */
export function countParameters(m: ModelShape): number {
  const { vocab: V, hidden: C, layers: L, intermediate: F } = m;
  const K = (m.kvHeads * C) / m.heads;
  const head = m.tie ? 0 : V * C;
  if (m.arch === 'gpt2') {
    // wte, wpe; per layer 2 LayerNorms, c_attn, c_proj, c_fc, mlp c_proj (all with biases); ln_f.
    const layer = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C);
    return V * C + m.maxPositions * C + L * layer + 2 * C + head;
  }
  // embed; per layer 2 RMSNorms, q, k, v, o, gate, up, down (Qwen2: q/k/v biases); final norm.
  const bias = m.arch === 'qwen2' ? C + 2 * K : 0;
  const layer = 2 * C + 2 * C * C + 2 * C * K + 3 * C * F + bias;
  return V * C + L * layer + C + head;
}

/**
 * A training step's memory for a batch of B sequences of T tokens, in float32:
 *
 *   state       = 4 bytes × P × 4           (weights, gradients, AdamW m and v)
 *   activations = 4 bytes × B·T × (L·(6C + 2K + 3F) + 7C + 2K + 3F + V)
 *
 * The activation term is what src/train/memory.ts plans (saved per layer: residual, two norms,
 * q, k, v, attention output, mid residual and three MLP-wide tensors; once: the backward's
 * scratch and a chunk of logits), with the small per-head and per-row terms dropped: it lands
 * within a few percent of the real plan for the presets. memory.ts itself is not imported because
 * it pulls the GPU ops into the page.
 */
export function estimateMemory(m: ModelShape, B: number, T: number): MemoryEstimate {
  const parameters = countParameters(m);
  const { hidden: C, layers: L, intermediate: F } = m;
  const K = (m.kvHeads * C) / m.heads;
  const stateBytes = 16 * parameters;
  const rows = B * T;
  const activationBytes = 4 * rows * (L * (6 * C + 2 * K + 3 * F) + 7 * C + 2 * K + 3 * F + Math.min(m.vocab, 8192));
  return { parameters, stateBytes, activationBytes, totalBytes: stateBytes + activationBytes, largestBufferBytes: Math.max(4 * parameters, 4 * rows * L * F) };
}


const formatCount = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));

export type ModelSource = 'scratch' | 'hub' | 'local';

/** Detail of `pupil-model-change`. */
export interface ModelChange {
  /** The RunConfig `student` section. */
  student: NonNullable<RunConfigInput['student']>;
  /** The chosen local files (source 'local'): pass them to EngineClient.start with the `{ path }` student. */
  files?: File[];
  /** Parameter count, when the shape is known. */
  parameters?: number;
}

/**
 * Chooses the student: the bundled tiny scratch model (default), a Hugging Face Hub repo id, or
 * local files (a folder with config.json). Shows the parameter count and a memory estimate for
 * `batch-size` × `seq-len` (see estimateMemory for the formula), with a warning when it exceeds
 * the budget.
 *
 * @fires pupil-model-change - detail: ModelChange ({ student, files?, parameters? })
 * @attr source - 'scratch' (default), 'hub' or 'local'
 * @attr hub - the Hub repo id, e.g. HuggingFaceTB/SmolLM2-135M
 * @attr batch-size - sequences per micro-batch for the estimate (default 8)
 * @attr seq-len - tokens per sequence for the estimate (default 128)
 * @attr budget-bytes - memory budget; default: `limits.maxBufferSize` when limits are given
 * @attr endpoint - Hub endpoint to read config.json from (default https://huggingface.co)
 * @attr theme - 'light' or 'dark' (default: the system preference)
 * @csspart card - the outer box
 * @csspart estimate - the parameter count and memory table
 * @csspart warning - the over-budget message
 */
export class PupilModelPicker extends LitElement {
  static override properties = {
    source: { reflect: true },
    hub: {},
    scratch: { attribute: false },
    modelConfig: { attribute: false },
    batchSize: { type: Number, attribute: 'batch-size' },
    seqLen: { type: Number, attribute: 'seq-len' },
    budgetBytes: { type: Number, attribute: 'budget-bytes' },
    limits: { attribute: false },
    endpoint: {},
    theme: { reflect: true },
    _files: { state: true },
    _note: { state: true },
  };

  declare source: ModelSource;
  declare hub: string;
  /** The scratch student's knobs (default: config.ts DEFAULT_SCRATCH). */
  declare scratch: Partial<ScratchStudent>;
  /** config.json of the Hub or local model, when known (set by the page, or read by the picker). */
  declare modelConfig?: ModelShapeConfig;
  declare batchSize: number;
  declare seqLen: number;
  declare budgetBytes?: number;
  /** The adapter's limits (AdapterReport.limits): maxBufferSize is the default budget. */
  declare limits?: Record<string, number>;
  declare endpoint: string;
  declare theme?: 'light' | 'dark';
  declare _files: File[];
  declare _note: string;
  private fetchToken = 0;

  constructor() {
    super();
    this.source = 'scratch';
    this.hub = 'HuggingFaceTB/SmolLM2-135M';
    this.scratch = {};
    this.batchSize = 8;
    this.seqLen = 128;
    this.endpoint = 'https://huggingface.co';
    this._files = [];
    this._note = '';
  }

  static override styles = [
    themeStyles,
    controlStyles,
    css`
      :host { display: block; }
      fieldset { border: 0; padding: 0; margin: 0 0 10px; }
      legend { font-weight: 600; margin-bottom: 4px; }
      .choice { display: flex; flex-direction: column; gap: 4px; margin: 6px 0; }
      .choice > label { display: inline-flex; gap: 6px; align-items: center; }
      .sub { margin-left: 24px; display: flex; flex-direction: column; gap: 2px; }
      .sub input[type='text'] { max-width: 360px; }
      table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
      th { text-align: left; font-weight: normal; color: var(--_muted); padding: 1px 14px 1px 0; }
      td { text-align: right; }
      .warning { margin: 8px 0 0; padding: 6px 10px; border: 1px solid var(--_warning); border-radius: calc(var(--_radius) - 2px); }
    `,
  ];

  /** The shape of the chosen model, when known. */
  get shape(): ModelShape | undefined {
    if (this.source === 'scratch') return scratchShape(this.scratch);
    return this.modelConfig ? configShape(this.modelConfig) : undefined;
  }

  /** The estimate for the chosen model at `batchSize` × `seqLen`, when its shape is known. */
  get estimate(): MemoryEstimate | undefined {
    const s = this.shape;
    return s && estimateMemory(s, this.batchSize, this.seqLen);
  }

  /** The budget the estimate is checked against: `budgetBytes`, else the adapter's maxBufferSize. */
  get budget(): number | undefined {
    return this.budgetBytes ?? this.limits?.maxBufferSize;
  }

  /**
   * The RunConfig `student` section for the current choice. Setting it selects the matching
   * source (scratch knobs, Hub id, or local) without firing `pupil-model-change`.
   */
  set student(s: RunConfigInput['student'] | undefined) {
    if (!s || typeof s !== 'object') return;
    if ('scratch' in s) {
      this.source = 'scratch';
      this.scratch = { ...(s.scratch ?? {}) };
    } else if ('hub' in s) {
      const changed = this.source !== 'hub' || this.hub !== s.hub;
      this.source = 'hub';
      this.hub = s.hub;
      if (changed) {
        this.modelConfig = undefined;
        void this.fetchConfig();
      }
    } else if ('path' in s) {
      this.source = 'local';
    } else if ('config' in s) {
      this.source = 'local';
      this.modelConfig = s.config as ModelShapeConfig;
    }
  }

  get student(): ModelChange['student'] {
    if (this.source === 'hub') return { hub: this.hub.trim() };
    if (this.source === 'local') return { path: this._files[0]?.webkitRelativePath.split('/')[0] || this._files[0]?.name || 'local' };
    return { scratch: { ...DEFAULT_SCRATCH, ...this.scratch } };
  }

  private emit() {
    const detail: ModelChange = { student: this.student, ...(this.source === 'local' ? { files: this._files } : {}), ...(this.estimate ? { parameters: this.estimate.parameters } : {}) };
    this.dispatchEvent(new CustomEvent('pupil-model-change', { detail, bubbles: true, composed: true }));
  }

  private setSource(s: ModelSource) {
    this.source = s;
    this._note = '';
    if (s !== 'scratch') this.modelConfig = undefined;
    if (s === 'hub' && this.hub.trim()) void this.fetchConfig();
    this.emit();
  }

  // The Hub's config.json is small and public: reading it is what makes the estimate possible.
  private async fetchConfig() {
    const token = ++this.fetchToken;
    const repo = this.hub.trim();
    if (!/^[\w.-]+\/[\w.-]+$/.test(repo)) {
      this._note = 'Expected a repo id like owner/name.';
      return;
    }
    this._note = 'Reading config.json…';
    try {
      const r = await fetch(`${this.endpoint.replace(/\/$/, '')}/${repo}/resolve/main/config.json`);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const cfg = (await r.json()) as ModelShapeConfig;
      if (token !== this.fetchToken) return;
      this.modelConfig = cfg;
      this._note = configShape(cfg) ? '' : `Architecture ${String(cfg.model_type)} is not one Pupil trains (Llama, Qwen2, GPT-2).`;
      this.emit();
    } catch (e) {
      if (token === this.fetchToken) this._note = `Could not read ${repo}'s config.json (${(e as Error).message}): size unknown.`;
    }
  }

  private async onFiles(e: Event) {
    const files = [...((e.target as HTMLInputElement).files ?? [])];
    this._files = files;
    const cfgFile = files.find((f) => f.name === 'config.json');
    this.modelConfig = undefined;
    this._note = cfgFile ? '' : 'No config.json among the chosen files: size unknown.';
    if (cfgFile) {
      try {
        this.modelConfig = JSON.parse(await cfgFile.text()) as ModelShapeConfig;
      } catch (err) {
        this._note = `config.json is not valid JSON (${(err as Error).message}).`;
      }
    }
    this.emit();
  }

  private renderEstimate() {
    const est = this.estimate;
    const shape = this.shape;
    if (!est || !shape) return html`<p class="hint" part="estimate">Parameter count and memory appear once the model's config.json is known.</p>`;
    const budget = this.budget;
    const maxBinding = this.limits?.maxStorageBufferBindingSize;
    const over = budget !== undefined && est.totalBytes > budget;
    const tooBig = maxBinding !== undefined && est.largestBufferBytes > maxBinding;
    return html`<div part="estimate">
      <p class="hint">${shape.arch} · ${shape.layers} layers · hidden ${shape.hidden} · ${shape.heads} heads (${shape.kvHeads} key/value) · vocabulary ${shape.vocab}</p>
      <table aria-label="Size and memory estimate">
        <tr><th scope="row">Parameters</th><td data-params=${est.parameters}>${formatCount(est.parameters)} (${est.parameters.toLocaleString('en')})</td></tr>
        <tr><th scope="row">Weights, gradients, AdamW</th><td>${formatBytes(est.stateBytes)}</td></tr>
        <tr><th scope="row">Activations (batch ${this.batchSize} × ${this.seqLen} tokens)</th><td>${formatBytes(est.activationBytes)}</td></tr>
        <tr><th scope="row">Estimated total</th><td data-total=${est.totalBytes}><b>${formatBytes(est.totalBytes)}</b></td></tr>
        ${budget !== undefined ? html`<tr><th scope="row">Budget</th><td>${formatBytes(budget)}</td></tr>` : nothing}
      </table>
      ${over || tooBig
        ? html`<p class="warning" part="warning" role="alert">
            ${over ? `This will probably not fit: about ${formatBytes(est.totalBytes)} needed, ${formatBytes(budget!)} available. ` : ''}
            ${tooBig ? `One buffer (${formatBytes(est.largestBufferBytes)}) exceeds the adapter's binding limit (${formatBytes(maxBinding!)}). ` : ''}
            Try a smaller batch or sequence length, or a smaller model.
          </p>`
        : nothing}
    </div>`;
  }

  override render() {
    const s = this.source;
    const sc = { ...DEFAULT_SCRATCH, ...this.scratch };
    return html`<div class="card" part="card">
      <fieldset>
        <legend>Student model</legend>
        <div class="choice">
          <label><input type="radio" name="src" value="scratch" .checked=${s === 'scratch'} @change=${() => this.setSource('scratch')} /> Tiny model from scratch (bundled, no download)</label>
          ${s === 'scratch' ? html`<div class="sub hint">${sc.arch}, ${sc.layers} layers, hidden ${sc.hidden}, byte-level tokenizer: learns the bundled tasks in minutes.</div>` : nothing}
        </div>
        <div class="choice">
          <label><input type="radio" name="src" value="hub" .checked=${s === 'hub'} @change=${() => this.setSource('hub')} /> Hugging Face Hub</label>
          ${s === 'hub'
            ? html`<div class="sub">
                <label for="hub">Repository id</label>
                <input id="hub" type="text" spellcheck="false" autocomplete="off" .value=${this.hub} aria-describedby="hub-hint"
                  @input=${(e: Event) => { this.hub = (e.target as HTMLInputElement).value; this.modelConfig = undefined; }}
                  @change=${() => { void this.fetchConfig(); this.emit(); }} />
                <span class="hint" id="hub-hint">Llama, Qwen2 or GPT-2 family, e.g. HuggingFaceTB/SmolLM2-135M. Needs the network.</span>
              </div>`
            : nothing}
        </div>
        <div class="choice">
          <label><input type="radio" name="src" value="local" .checked=${s === 'local'} @change=${() => this.setSource('local')} /> Local files</label>
          ${s === 'local'
            ? html`<div class="sub">
                <label for="files">Model folder (config.json, safetensors, tokenizer)</label>
                <input id="files" type="file" webkitdirectory multiple aria-describedby="files-hint" @change=${this.onFiles} />
                <span class="hint" id="files-hint">${this._files.length ? `${this._files.length} files chosen.` : 'Nothing is uploaded: files stay on this computer.'}</span>
              </div>`
            : nothing}
        </div>
      </fieldset>
      ${this._note ? html`<p class="hint" role="status">${this._note}</p>` : nothing}
      ${this.renderEstimate()}
    </div>`;
  }
}

customElements.define('pupil-model-picker', PupilModelPicker);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-model-picker': PupilModelPicker;
  }
}
