import { LitElement, css, html, nothing } from 'lit';
import { runPath } from '../train/config.ts';
import type { RunMeta } from '../worker/protocol.ts';
import { controlStyles, themeStyles } from './theme.ts';

/** A stored run as listRuns() gives it, plus the last training loss when the page knows it. */
export type RunListItem = RunMeta & { lastLoss?: number };

const STATUS_TEXT: Record<RunMeta['status'], string> = {
  running: 'running',
  paused: 'paused',
  stopped: 'stopped',
  done: 'finished',
  error: 'failed',
};

/**
 * The saved runs (EngineClient.listRuns()), newest first as given: name, date, progress, status
 * and last loss, with open (chat and export without training), resume, export and delete buttons. Delete asks for confirmation inline
 * (no window.confirm, so it works embedded and under test). Everything is rendered as text.
 *
 * @fires pupil-open-run - detail: { runId } (load the last checkpoint for chat and export)
 * @fires pupil-resume-run - detail: { runId }
 * @fires pupil-export-run - detail: { runId }
 * @fires pupil-delete-run - detail: { runId } (after the user confirms)
 * @attr active-run - runId of the run loaded in the engine: its buttons are disabled (it is busy)
 * @attr theme - 'light' or 'dark' (default: the system preference)
 * @csspart card - the outer box
 * @csspart list - the list of runs
 * @csspart run - one run's row
 * @csspart empty - the text shown when there are no runs
 */
export class PupilRuns extends LitElement {
  static override properties = {
    runs: { attribute: false },
    activeRun: { attribute: 'active-run' },
    theme: { reflect: true },
    _confirming: { state: true },
  };

  /** The runs to list. */
  declare runs: readonly RunListItem[];
  declare activeRun?: string;
  declare theme?: 'light' | 'dark';
  declare _confirming?: string;

  constructor() {
    super();
    this.runs = [];
  }

  static override styles = [
    themeStyles,
    controlStyles,
    css`
      :host { display: block; }
      ul { list-style: none; margin: 0; padding: 0; }
      li { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: center; justify-content: space-between; padding: 8px 0; border-top: 1px solid var(--_border); }
      li:first-child { border-top: 0; }
      .name { font-weight: 600; overflow-wrap: anywhere; }
      .meta { color: var(--_muted); font-size: 0.88em; font-variant-numeric: tabular-nums; }
      .status-error { color: var(--_danger); }
      .actions { display: flex; gap: 6px; flex-wrap: wrap; }
      progress { width: 80px; vertical-align: middle; }
      .empty { color: var(--_muted); margin: 0; }
    `,
  ];

  private fire(name: string, runId: string) {
    this.dispatchEvent(new CustomEvent(name, { detail: { runId }, bubbles: true, composed: true }));
  }

  private async confirmDelete(runId: string) {
    this._confirming = runId;
    await this.updateComplete;
    // Focus moves to the safe choice so Enter does not delete by accident.
    this.renderRoot.querySelector<HTMLElement>(`[data-cancel]`)?.focus();
  }

  private async settle(runId: string, remove: boolean) {
    this._confirming = undefined;
    if (remove) this.fire('pupil-delete-run', runId);
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>(`li[data-run-id="${CSS.escape(runId)}"] [data-delete]`)?.focus();
  }

  /** Names of the runs that distil from this one (config.distill.teacher = "run:<runId>"). */
  private studentsOf(runId: string): string[] {
    return this.runs.filter((o) => o.runId !== runId && o.config?.distill?.teacher === runPath(runId)).map((o) => o.name);
  }

  private renderRun(r: RunListItem) {
    const busy = r.runId === this.activeRun;
    const date = new Date(r.updated || r.created);
    const total = Math.max(r.totalSteps, r.step, 1);
    const label = `Run ${r.name}`;
    const students = this._confirming === r.runId ? this.studentsOf(r.runId) : [];
    const actions =
      this._confirming === r.runId
        ? html`<div class="actions" role="group" aria-label="Confirm deleting ${r.name}">
            <span class="warning">Delete this run and its checkpoint?${students.length ? ` It is the distillation teacher of ${students.join(', ')}: they will still open, but not train on.` : ''}</span>
            <button class="danger" data-confirm @click=${() => this.settle(r.runId, true)}>Delete</button>
            <button data-cancel @click=${() => this.settle(r.runId, false)} @keydown=${(e: KeyboardEvent) => e.key === 'Escape' && this.settle(r.runId, false)}>Cancel</button>
          </div>`
        : html`<div class="actions" role="group" aria-label="Actions for ${r.name}">
            <button data-open ?disabled=${busy || r.lastCheckpoint === undefined} title="Load the last checkpoint to chat with it, without training" @click=${() => this.fire('pupil-open-run', r.runId)}>Open</button>
            <button data-resume ?disabled=${busy || r.status === 'done' || r.lastCheckpoint === undefined} title="Continue training from the last checkpoint" @click=${() => this.fire('pupil-resume-run', r.runId)}>Resume</button>
            <button data-export ?disabled=${busy || r.lastCheckpoint === undefined} title="Download as a Hugging Face folder (zip)" @click=${() => this.fire('pupil-export-run', r.runId)}>Export</button>
            <button data-delete class="danger" ?disabled=${busy} @click=${() => this.confirmDelete(r.runId)}>Delete</button>
          </div>`;
    return html`<li part="run" data-run-id=${r.runId} aria-label=${label}>
      <div>
        <div class="name">${r.name}</div>
        <div class="meta">
          <time datetime=${date.toISOString()}>${date.toLocaleString()}</time> ·
          <progress max=${total} value=${r.step} aria-label="progress"></progress>
          step ${r.step} / ${r.totalSteps} ·
          <span class=${`status-${r.status}`}>${STATUS_TEXT[r.status] ?? r.status}</span>
          ${r.lastLoss !== undefined && Number.isFinite(r.lastLoss) ? html` · loss ${r.lastLoss.toFixed(3)}` : nothing}
          ${r.error ? html` · <span class="status-error">${r.error}</span>` : nothing}
        </div>
      </div>
      ${actions}
    </li>`;
  }

  override render() {
    return html`<section class="card" part="card" aria-labelledby="h">
      <h2 id="h">Saved runs</h2>
      ${this.runs.length
        ? html`<ul part="list">${this.runs.map((r) => this.renderRun(r))}</ul>`
        : html`<p class="empty" part="empty">No saved runs yet: start training and checkpoints appear here.</p>`}
    </section>`;
  }
}

customElements.define('pupil-runs', PupilRuns);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-runs': PupilRuns;
  }
}
