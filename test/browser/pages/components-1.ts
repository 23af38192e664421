// Mounts UI person 1's components with fixed data, no engine: `?theme=dark` for the dark look.
// Publishes window.__ui (elements, pure helpers and every event they fired) for the test.
import '../../../src/ui/pupil-loss-chart.ts';
import '../../../src/ui/pupil-model-picker.ts';
import '../../../src/ui/pupil-runs.ts';
import '../../../src/ui/pupil-train-controls.ts';
import { countParameters, estimateMemory, scratchShape } from '../../../src/ui/pupil-model-picker.ts';
import type { RunListItem } from '../../../src/ui/pupil-runs.ts';

const theme = new URLSearchParams(location.search).get('theme');
const chart = document.querySelector('pupil-loss-chart')!;
const controls = document.querySelector('pupil-train-controls')!;
const runs = document.querySelector('pupil-runs')!;
const picker = document.querySelector('pupil-model-picker')!;
if (theme === 'dark' || theme === 'light') {
  document.body.classList.toggle('dark', theme === 'dark');
  for (const el of [chart, controls, runs, picker]) el.setAttribute('theme', theme);
}

const events: { type: string; detail: unknown }[] = [];
for (const t of ['pupil-start', 'pupil-pause', 'pupil-resume', 'pupil-stop', 'pupil-open-run', 'pupil-resume-run', 'pupil-export-run', 'pupil-delete-run', 'pupil-model-change']) {
  document.addEventListener(t, (e) => events.push({ type: t, detail: (e as CustomEvent).detail ?? null }));
}

// A loss curve that falls like a real one, with deterministic noise.
const lossAt = (s: number) => 0.6 + 4.9 * Math.exp(-s / 90) + 0.15 * Math.sin(s * 1.7);
for (let s = 1; s <= 500; s++) {
  chart.addStep({ step: s, loss: lossAt(s), lr: 1e-3 * Math.min(1, s / 20) * (0.55 + 0.45 * Math.cos((Math.PI * s) / 500)), gradNorm: 1 + 3 * Math.exp(-s / 60), tokensPerSecond: 1500 + 100 * Math.sin(s) });
  if (s % 100 === 0) chart.addEval({ step: s, valLoss: lossAt(s) + 0.2 });
}

const hour = 3_600_000;
const base = Date.UTC(2025, 0, 15, 12);
const meta = (runId: string, name: string, status: RunListItem['status'], step: number, extra: Partial<RunListItem> = {}): RunListItem => ({
  runId, name, status, step, totalSteps: 500, created: base, updated: base + hour, lastCheckpoint: step, config: {} as RunListItem['config'], ...extra,
});
runs.runs = [
  meta('run-a', 'arithmetic tiny', 'paused', 200, { lastLoss: 1.234 }),
  meta('run-b', '<img src=x onerror="window.__xss=1"><b>bold</b> & co', 'done', 500, { lastLoss: 0.61 }),
  meta('run-c', 'broke', 'error', 12, { error: 'device lost', lastCheckpoint: undefined, config: { distill: { teacher: 'run:run-a' } } as unknown as RunListItem['config'] }),
];

Object.assign(window, { __ui: { chart, controls, runs, picker, events, countParameters, estimateMemory, scratchShape, lossAt } });
