import { LitElement, css, html, nothing } from 'lit';
import { controlStyles, themeStyles } from './theme.ts';
import type { TokenStream } from '../worker/client.ts';
import type { GenerateRequest, GenerateSummary, Message } from '../worker/protocol.ts';

/** What the chat needs of the engine: EngineClient fits, and so does a stub in tests. */
export interface ChatBackend {
  generate(messages: Message[], options?: GenerateRequest): TokenStream;
  cancelGeneration(): Promise<void>;
}

/** A reply recorded before fine-tuning (the trainer's samples at step 0). */
export interface BeforeReply {
  prompt: string;
  text: string;
}

export interface Sampling {
  temperature: number;
  topK: number;
  topP: number;
  maxNewTokens: number;
}

interface Turn extends Message {
  /** Set on the assistant turn while its tokens stream in. */
  streaming?: boolean;
  finish?: GenerateSummary['finishReason'];
}

/**
 * Multi-turn chat with the loaded model: the Worker applies the model's chat template to the
 * messages and streams the reply token by token. Beside it, the model before fine-tuning: the
 * replies recorded at step 0, and (with `compare`) its own answer to each new question, asked
 * after the fine-tuned one with `model: 'initial'`, in a conversation of its own.
 *
 * @fires pupil-chat-reply - detail: GenerateSummary, when a reply ends (also when stopped)
 * @fires pupil-chat-before-reply - detail: GenerateSummary, when the model before fine-tuning has answered
 * @csspart card - the outer box
 * @csspart log - the conversation
 * @csspart before - the replies before fine-tuning
 * @csspart before-log - the conversation with the model before fine-tuning
 * @csspart input - the message box
 * @cssprop --pupil-fg - text colour
 * @cssprop --pupil-bg - background colour
 * @cssprop --pupil-border - border colour
 * @cssprop --pupil-accent - colour of focus and the user's turns
 */
export class PupilChat extends LitElement {
  static override properties = {
    client: { attribute: false },
    ready: { type: Boolean, reflect: true },
    system: { type: String },
    baseline: { attribute: false },
    sampling: { attribute: false },
    messages: { attribute: false },
    compare: { attribute: false },
    _before: { state: true },
    _beforeError: { state: true },
    _busy: { state: true },
    _error: { state: true },
  };

  declare client?: ChatBackend;
  /** A model is loaded and can answer. */
  declare ready: boolean;
  /** Optional system message put before every conversation. */
  declare system: string;
  declare baseline: BeforeReply[];
  /** Greedy by default: the held-out exact-match is scored greedily too. */
  declare sampling: Sampling;
  /** The conversation so far (user and assistant turns). */
  declare messages: Turn[];
  /** Also ask the model before fine-tuning each new question (default true). */
  declare compare: boolean;
  declare private _before: Turn[];
  declare private _beforeError?: string;
  declare private _busy: boolean;
  declare private _error?: string;

  private stream?: TokenStream;

  constructor() {
    super();
    this.ready = false;
    this.system = '';
    this.baseline = [];
    this.sampling = { temperature: 0, topK: 0, topP: 1, maxNewTokens: 64 };
    this.messages = [];
    this.compare = true;
    this._before = [];
    this._busy = false;
  }

  static override styles = [themeStyles, controlStyles, css`
    :host { display: block; }
    h3 { font-size: 13px; margin: 0 0 6px; opacity: 0.8; }
    .cols { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 12px; }
    @media (max-width: 640px) { .cols { grid-template-columns: 1fr; } }
    .log { min-height: 120px; max-height: 360px; overflow-y: auto; display: flex; flex-direction: column; gap: 6px; }
    .turn { white-space: pre-wrap; overflow-wrap: anywhere; padding: 6px 10px; border-radius: 8px; border: 1px solid var(--_border); }
    .user { align-self: flex-end; border-color: var(--_accent); max-width: 85%; }
    .assistant { align-self: flex-start; max-width: 95%; }
    .streaming::after, .bstreaming::after { content: '▍'; animation: blink 1s steps(2) infinite; }
    @keyframes blink { 50% { opacity: 0; } }
    .who { font-size: 11px; opacity: 0.65; display: block; }
    .before { font-size: 13px; max-height: 360px; overflow-y: auto; }
    .before dt { font-weight: 600; margin-top: 6px; }
    .before dd { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font-family: var(--_mono); font-size: 12px; }
    .before button { font: inherit; font-size: 12px; padding: 0 6px; }
    form { display: flex; gap: 8px; margin-top: 8px; align-items: end; }
    textarea { flex: 1; min-height: 2.6em; resize: vertical; }
    details { margin-top: 8px; font-size: 13px; }
    .settings { display: flex; flex-wrap: wrap; gap: 8px 16px; margin-top: 6px; }
    .settings label { display: flex; flex-direction: column; font-size: 12px; }
    .settings input { width: 7em; }
    .note { font-size: 12px; color: var(--_muted); }
    .bad { color: var(--_danger); }
    .before .turn { font-size: 12px; }
    .before .log { min-height: 0; margin-top: 8px; }
  `];

  /** Sends `text` as the next user turn and streams the reply. */
  async send(text: string): Promise<GenerateSummary | undefined> {
    const client = this.client;
    if (!client || !this.ready || this._busy || !text.trim()) return undefined;
    this._error = undefined;
    const history: Message[] = this.messages.map(({ role, content }) => ({ role, content }));
    history.push({ role: 'user', content: text });
    const reply: Turn = { role: 'assistant', content: '', streaming: true };
    this.messages = [...this.messages, { role: 'user', content: text }, reply];
    this._busy = true;
    try {
      const summary = await this.stream_(client, history, reply, {}, () => (this.messages = [...this.messages]));
      this.dispatchEvent(new CustomEvent('pupil-chat-reply', { detail: summary, bubbles: true, composed: true }));
      // Asked second, so the fine-tuned reply is never kept waiting; not after a stop.
      if (this.compare && summary.finishReason !== 'cancelled') await this.askBefore(client, text);
      return summary;
    } catch (e) {
      this._error = (e as Error).message ?? String(e);
      return undefined;
    } finally {
      this.messages = [...this.messages];
      this._busy = false;
    }
  }

  private async askBefore(client: ChatBackend, text: string) {
    this._beforeError = undefined;
    const history: Message[] = [...this._before.map(({ role, content }) => ({ role, content })), { role: 'user', content: text }];
    const reply: Turn = { role: 'assistant', content: '', streaming: true };
    this._before = [...this._before, { role: 'user', content: text }, reply];
    try {
      const summary = await this.stream_(client, history, reply, { model: 'initial' }, () => (this._before = [...this._before]));
      this.dispatchEvent(new CustomEvent('pupil-chat-before-reply', { detail: summary, bubbles: true, composed: true }));
    } catch (e) {
      this._beforeError = (e as Error).message ?? String(e);
    } finally {
      this._before = [...this._before];
    }
  }

  /** Streams the reply to `history` into `reply`, calling `changed` as it grows. */
  private async stream_(client: ChatBackend, history: Message[], reply: Turn, extra: GenerateRequest, changed: () => void): Promise<GenerateSummary> {
    const s = this.sampling;
    const prompt: Message[] = this.system ? [{ role: 'system', content: this.system }, ...history] : history;
    try {
      this.stream = client.generate(prompt, { temperature: s.temperature, topK: s.topK, topP: s.topP, maxNewTokens: s.maxNewTokens, ...extra });
      for await (const t of this.stream) {
        reply.content += t.text;
        changed();
        this.scrollLog();
      }
      const summary = await this.stream.result;
      reply.finish = summary.finishReason;
      return summary;
    } finally {
      reply.streaming = false;
      this.stream = undefined;
    }
  }

  /** Stops the reply being written; what has arrived stays. */
  async stop(): Promise<void> {
    if (this._busy) await this.client?.cancelGeneration();
  }

  clear(): void {
    if (this._busy) return;
    this.messages = [];
    this._before = [];
    this._beforeError = undefined;
  }

  private scrollLog() {
    const log = this.renderRoot.querySelector('.log');
    if (log) log.scrollTop = log.scrollHeight;
  }

  private onSubmit(e: Event) {
    e.preventDefault();
    const box = this.renderRoot.querySelector('textarea')!;
    const text = box.value;
    if (!text.trim()) return;
    box.value = '';
    void this.send(text);
  }

  private onKey(e: KeyboardEvent) {
    // Enter sends, Shift+Enter makes a new line, as in most chat boxes.
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) this.onSubmit(e);
  }

  private setSampling(key: keyof Sampling, e: Event) {
    const v = Number((e.target as HTMLInputElement).value);
    if (Number.isFinite(v)) this.sampling = { ...this.sampling, [key]: v };
  }

  private ask(prompt: string) {
    const box = this.renderRoot.querySelector('textarea');
    if (box) {
      box.value = prompt;
      box.focus();
    }
  }

  override render() {
    const s = this.sampling;
    return html`<section class="card" part="card" aria-labelledby="chat-h">
      <h2 id="chat-h">Chat with the student</h2>
      <div class="cols">
        <div>
          <h3>Now</h3>
          <div class="log" part="log" role="log" aria-live="polite" aria-label="conversation">
            ${this.messages.length === 0 ? html`<p class="note">${this.ready ? 'Ask something: the reply streams in as the model writes it.' : 'Train or open a run to chat with it.'}</p>` : nothing}
            ${this.messages.map((m) => html`<div class="turn ${m.role} ${m.streaming ? 'streaming' : ''}" data-role=${m.role}><span class="who">${m.role === 'user' ? 'You' : 'Student'}${m.finish === 'cancelled' ? ' (stopped)' : ''}</span>${m.content}</div>`)}
          </div>
          ${this._error ? html`<p class="bad" role="alert">${this._error}</p>` : nothing}
          <form @submit=${this.onSubmit}>
            <textarea id="msg" part="input" aria-label="Message" placeholder="Calculate 35 + 2." ?disabled=${!this.ready} @keydown=${this.onKey}></textarea>
            <button type="submit" class="send primary" ?disabled=${!this.ready || this._busy}>Send</button>
            <button type="button" class="stop" ?disabled=${!this._busy} @click=${() => this.stop()}>Stop</button>
            <button type="button" class="clear" ?disabled=${this._busy || this.messages.length === 0} @click=${() => this.clear()}>Clear</button>
          </form>
          <details>
            <summary>Sampling</summary>
            <div class="settings">
              <label>Temperature (0: greedy)<input type="number" min="0" max="2" step="0.1" .value=${String(s.temperature)} @change=${(e: Event) => this.setSampling('temperature', e)} /></label>
              <label>Top-k (0: off)<input type="number" min="0" step="1" .value=${String(s.topK)} @change=${(e: Event) => this.setSampling('topK', e)} /></label>
              <label>Top-p (1: off)<input type="number" min="0.01" max="1" step="0.05" .value=${String(s.topP)} @change=${(e: Event) => this.setSampling('topP', e)} /></label>
              <label>Max new tokens<input type="number" min="1" max="1024" step="1" .value=${String(s.maxNewTokens)} @change=${(e: Event) => this.setSampling('maxNewTokens', e)} /></label>
            </div>
          </details>
        </div>
        <div class="before" part="before">
          <h3>Before fine-tuning</h3>
          ${this.baseline.length
            ? html`<p class="note">Greedy replies of the initial weights, recorded at step 0.</p>
                <dl>${this.baseline.map((b) => html`<dt>${b.prompt} <button type="button" aria-label=${`Ask now: ${b.prompt}`} @click=${() => this.ask(b.prompt)}>ask now</button></dt><dd>${b.text.trim() ? b.text : html`<span class="note">(an empty reply)</span>`}</dd>`)}</dl>`
            : html`<p class="note">The replies of the initial weights appear here once a run evaluates at step 0${this.compare ? ', and its answer to each question you ask' : ''}.</p>`}
          ${this._before.length ? html`<div class="log" part="before-log" role="log" aria-live="polite" aria-label="conversation with the model before fine-tuning">
            ${this._before.map((m) => html`<div class="turn b${m.role} ${m.streaming ? 'bstreaming' : ''}" data-role=${m.role}><span class="who">${m.role === 'user' ? 'You' : 'Before'}${m.finish === 'cancelled' ? ' (stopped)' : ''}</span>${m.content}</div>`)}
          </div>` : nothing}
          ${this._beforeError ? html`<p class="bad" role="alert">${this._beforeError}</p>` : nothing}
        </div>
      </div>
    </section>`;
  }
}

customElements.define('pupil-chat', PupilChat);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-chat': PupilChat;
  }
  interface HTMLElementEventMap {
    'pupil-chat-reply': CustomEvent<GenerateSummary>;
  }
}
