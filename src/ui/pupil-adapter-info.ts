import { LitElement, css, html, nothing } from 'lit';
import type { AdapterReport, EngineErrorInfo } from '../worker/protocol.ts';

/**
 * Shows the WebGPU adapter the engine runs on: its name, optional features, limits and the
 * result of a kernel checked against the CPU; or, when there is no WebGPU, why and what to do.
 *
 * @csspart card - the outer box
 * @csspart error - the box shown when WebGPU is unavailable
 * @cssprop --pupil-fg - text colour
 * @cssprop --pupil-bg - background colour
 * @cssprop --pupil-accent - colour of available features
 */
export class PupilAdapterInfo extends LitElement {
  static override properties = {
    report: { attribute: false },
    error: { attribute: false },
  };

  /** The adapter report from the engine; unset while probing. */
  declare report?: AdapterReport;
  /** Set when the engine could not start. */
  declare error?: EngineErrorInfo;

  static override styles = css`
    :host { display: block; font: 14px/1.45 system-ui, sans-serif; color: var(--pupil-fg, #1d1d1f); }
    .card { background: var(--pupil-bg, #fff); border: 1px solid #8884; border-radius: 8px; padding: 12px 16px; }
    h2 { font-size: 16px; margin: 0 0 8px; }
    .feat { display: inline-block; margin: 0 6px 4px 0; padding: 1px 8px; border-radius: 10px; border: 1px solid #8886; }
    .on { border-color: var(--pupil-accent, #2a7); color: var(--pupil-accent, #2a7); }
    .off { opacity: 0.6; text-decoration: line-through; }
    table { border-collapse: collapse; margin-top: 6px; }
    td { padding: 1px 12px 1px 0; font-variant-numeric: tabular-nums; }
    .error { border-color: #c33; }
  `;

  override render() {
    if (this.error) {
      return html`<div class="card error" part="card error" role="alert">
        <h2>WebGPU is not available here</h2>
        <p>${this.error.message}</p>
        ${this.error.advice ? html`<p>${this.error.advice}</p>` : nothing}
      </div>`;
    }
    const r = this.report;
    if (!r) return html`<div class="card" part="card" aria-busy="true">Starting the GPU engine…</div>`;
    const name = [r.info.vendor, r.info.architecture, r.info.description].filter(Boolean).join(' · ') || 'unnamed adapter';
    const feats: [string, boolean][] = [
      ['shader-f16', r.features.f16],
      ['subgroups', r.features.subgroups],
      ['timestamp-query', r.features.timestamps],
    ];
    return html`<div class="card" part="card">
      <h2>Adapter: ${name}</h2>
      <div aria-label="optional features">
        ${feats.map(([f, on]) => html`<span class="feat ${on ? 'on' : 'off'}">${f}${on ? '' : ' (absent)'}</span>`)}
      </div>
      <table aria-label="limits">
        ${Object.entries(r.limits).map(([k, v]) => html`<tr><td>${k}</td><td>${v.toLocaleString('en')}</td></tr>`)}
      </table>
      <p data-kernel-ok=${String(r.kernel.ok)}>
        Kernel <b>${r.kernel.name}</b> ${r.kernel.shape}: ${r.kernel.ms.toFixed(3)} ms,
        ${r.kernel.gflops.toFixed(2)} GFLOP/s, max error vs CPU ${r.kernel.maxError.toExponential(1)}
        — ${r.kernel.ok ? 'correct' : 'WRONG'}
      </p>
    </div>`;
  }
}

customElements.define('pupil-adapter-info', PupilAdapterInfo);

declare global {
  interface HTMLElementTagNameMap {
    'pupil-adapter-info': PupilAdapterInfo;
  }
}
