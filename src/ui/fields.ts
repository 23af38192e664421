// The settings forms' shared field machinery (<pupil-train-controls>, <pupil-distill-settings>):
// the checks of a number typed into a field, and the markup around one control (label, hint,
// message) with the ids that tie them together for assistive technology.
import { html, nothing, type TemplateResult } from 'lit';

/** A range check for numberError: undefined when n passes, else the message. */
export type Check = (n: number) => string | undefined;

export const atLeast = (min: number): Check => (n) => (n >= min ? undefined : `Must be at least ${min}.`);
export const between = (lo: number, hi: number): Check => (n) => (n >= lo && n <= hi ? undefined : `Must be from ${lo} to ${hi}.`);

/** The message for text typed into a numeric field, or undefined when it is a valid number. */
export function numberError(s: string, whole: boolean, check?: Check): string | undefined {
  if (s.trim() === '') return 'Required.';
  const n = Number(s);
  if (!Number.isFinite(n)) return 'Must be a number.';
  if (whole && !Number.isInteger(n)) return 'Must be a whole number.';
  return check?.(n);
}

/** aria-describedby of the control with id `id`: its hint, and its message when there is one. */
export function describedBy(id: string, err: string | undefined): string {
  return `${id}-hint${err ? ` ${id}-err` : ''}`;
}

/** One field: label, the control (whose id is `id`), the hint and the message (part "field"). */
export function fieldBox(id: string, label: string, hint: string, err: string | undefined, control: unknown, cls = ''): TemplateResult {
  return html`<div class="field ${cls}" part="field">
    <label for=${id}>${label}</label>
    ${control}
    <span class="hint" id="${id}-hint">${hint}</span>
    ${err ? html`<span class="error" id="${id}-err" role="alert">${err}</span>` : nothing}
  </div>`;
}
