import { css } from 'lit';

/**
 * Shared design tokens for every `pupil-*` component, as CSS custom properties on `:host`.
 *
 * Put `themeStyles` first in a component's `static styles` array, then use the `--_…` private
 * tokens in its own rules (e.g. `color: var(--_fg)`). Why two layers: embedders set the public
 * `--pupil-*` properties (which inherit through shadow roots), and each component resolves them
 * with a fallback that depends on the colour scheme, so an unset property still looks right in
 * light and dark.
 *
 * Colour scheme: light by default, dark under `prefers-color-scheme: dark`, and the `theme`
 * attribute on the element (`theme="light"` or `theme="dark"`) overrides the media query.
 *
 * Public properties (all optional):
 * @cssprop --pupil-fg - text colour
 * @cssprop --pupil-bg - background of cards
 * @cssprop --pupil-muted - secondary text (explanations, axis labels)
 * @cssprop --pupil-border - borders and grid lines
 * @cssprop --pupil-accent - primary buttons, train-loss series, focus ring
 * @cssprop --pupil-accent-fg - text on accent backgrounds
 * @cssprop --pupil-accent-2 - second series (validation loss)
 * @cssprop --pupil-danger - errors, destructive buttons
 * @cssprop --pupil-warning - warnings (e.g. memory over budget)
 * @cssprop --pupil-input-bg - background of inputs
 * @cssprop --pupil-radius - corner radius
 * @cssprop --pupil-font - font shorthand of the component
 * @cssprop --pupil-mono - monospace font family (numbers, model text)
 */
export const themeStyles = css`
  :host {
    color-scheme: light;
    --_fg: var(--pupil-fg, #1d1d1f);
    --_bg: var(--pupil-bg, #ffffff);
    --_muted: var(--pupil-muted, #5f6368);
    --_border: var(--pupil-border, #d0d4da);
    --_accent: var(--pupil-accent, #2b6cd4);
    --_accent-fg: var(--pupil-accent-fg, #ffffff);
    --_accent-2: var(--pupil-accent-2, #d9711c);
    --_danger: var(--pupil-danger, #c62828);
    --_warning: var(--pupil-warning, #a15c00);
    --_input-bg: var(--pupil-input-bg, #ffffff);
    --_radius: var(--pupil-radius, 8px);
    --_font: var(--pupil-font, 14px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif);
    --_mono: var(--pupil-mono, ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace);
    font: var(--_font);
    color: var(--_fg);
  }
  @media (prefers-color-scheme: dark) {
    :host(:not([theme='light'])) {
      color-scheme: dark;
      --_fg: var(--pupil-fg, #e8eaed);
      --_bg: var(--pupil-bg, #1e1f22);
      --_muted: var(--pupil-muted, #a0a4ab);
      --_border: var(--pupil-border, #3c4047);
      --_accent: var(--pupil-accent, #7aa7ff);
      --_accent-fg: var(--pupil-accent-fg, #0b1220);
      --_accent-2: var(--pupil-accent-2, #ffab5e);
      --_danger: var(--pupil-danger, #ff7b72);
      --_warning: var(--pupil-warning, #e3b341);
      --_input-bg: var(--pupil-input-bg, #2a2c30);
    }
  }
  :host([theme='dark']) {
    color-scheme: dark;
    --_fg: var(--pupil-fg, #e8eaed);
    --_bg: var(--pupil-bg, #1e1f22);
    --_muted: var(--pupil-muted, #a0a4ab);
    --_border: var(--pupil-border, #3c4047);
    --_accent: var(--pupil-accent, #7aa7ff);
    --_accent-fg: var(--pupil-accent-fg, #0b1220);
    --_accent-2: var(--pupil-accent-2, #ffab5e);
    --_danger: var(--pupil-danger, #ff7b72);
    --_warning: var(--pupil-warning, #e3b341);
    --_input-bg: var(--pupil-input-bg, #2a2c30);
  }
  :host([hidden]) { display: none !important; }
`;

/**
 * Base look of the shared building blocks: `.card`, `button` (add `.primary` or `.danger`),
 * `input`/`select`/`textarea`, `.hint` (one-line explanation), `.error` (message next to a
 * field), `.warning`, and a visible focus ring for keyboard users. Include after `themeStyles`.
 */
export const controlStyles = css`
  .card {
    background: var(--_bg);
    border: 1px solid var(--_border);
    border-radius: var(--_radius);
    padding: 12px 16px;
  }
  h2, h3 { margin: 0 0 8px; font-size: 1.1em; }
  button {
    font: inherit;
    color: var(--_fg);
    background: var(--_input-bg);
    border: 1px solid var(--_border);
    border-radius: calc(var(--_radius) - 2px);
    padding: 4px 12px;
    cursor: pointer;
  }
  button.primary { background: var(--_accent); border-color: var(--_accent); color: var(--_accent-fg); }
  button.danger { color: var(--_danger); border-color: var(--_danger); }
  button:disabled { opacity: 0.45; cursor: not-allowed; }
  input, select, textarea {
    font: inherit;
    color: var(--_fg);
    background: var(--_input-bg);
    border: 1px solid var(--_border);
    border-radius: calc(var(--_radius) - 3px);
    padding: 3px 6px;
  }
  input[aria-invalid='true'] { border-color: var(--_danger); }
  :focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
  .hint { color: var(--_muted); font-size: 0.88em; }
  .error { color: var(--_danger); font-size: 0.88em; }
  .warning { color: var(--_warning); }
  .sr-only {
    position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
    overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
  }
`;
