// <pupil-loss-chart>, <pupil-train-controls>, <pupil-runs>, <pupil-model-picker> in Chromium,
// without the engine: test/browser/pages/components-1.html mounts them with fixed data.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot, startHarness, type Harness } from './harness.ts';

let h: Harness;
let page: Page;
let errors: string[];
beforeAll(async () => {
  h = await startHarness();
  ({ page, errors } = await h.open('/test/browser/pages/components-1.html'));
  await page.waitForFunction(() => (window as any).__ui && (window as any).__ui.chart.shadowRoot?.querySelector('canvas'), null, { timeout: 30_000 });
});
afterAll(async () => { await h?.close(); });

// Non-transparent pixels of the chart's plot canvas, and a checksum of them to compare drawings.
const canvasStats = (p: Page) =>
  p.evaluate(() => {
    const c = (window as any).__ui.chart.shadowRoot.querySelector('canvas') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let inked = 0;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) { inked++; sum = (sum * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2] + i) % 1_000_000_007; }
    return { inked, sum, w: c.width, h: c.height };
  });

describe('<pupil-loss-chart>', () => {
  it('draws 500 steps and 5 evaluations, says the last values in text, and toggles log scale', async () => {
    const info = await page.evaluate(async () => {
      const { chart, lossAt } = (window as any).__ui;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      await chart.updateComplete;
      return { length: chart.length, summary: chart.shadowRoot.querySelector('[aria-live]').textContent.trim(), expected: `step 500: loss ${lossAt(500).toFixed(2)} (validation ${(lossAt(500) + 0.2).toFixed(2)})`, points: chart.plot.data[1].length };
    });
    expect(info.length).toBe(500);
    expect(info.points).toBe(500);
    expect(info.summary).toBe(info.expected);
    const linear = await canvasStats(page);
    expect(linear.w).toBeGreaterThan(100);
    expect(linear.inked).toBeGreaterThan(2000); // axes grid and three curves, not a blank canvas

    await page.locator('pupil-loss-chart label:has-text("Log scale") input').check();
    await page.waitForFunction(() => (window as any).__ui.chart.plot?.scales.y.distr === 3);
    const log = await canvasStats(page);
    expect(log.inked).toBeGreaterThan(2000);
    expect(log.sum).not.toBe(linear.sum);
    expect(await page.locator('pupil-loss-chart').getAttribute('log')).toBe('');

    // Values on hover: uPlot's legend shows the point under the cursor.
    const box = (await page.locator('pupil-loss-chart .u-over').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const legend = await page.locator('pupil-loss-chart .u-legend').innerText();
    expect(legend).toMatch(/step\s*\n?\s*\d+/);
    expect(legend).toMatch(/validation loss/);

    await page.locator('pupil-loss-chart label:has-text("Log scale") input').uncheck();
    await page.locator('pupil-loss-chart select').selectOption('lr');
    await page.waitForFunction(() => (window as any).__ui.chart.plot?.series.length === 2);
    await page.locator('pupil-loss-chart select').selectOption('loss');
    await page.waitForFunction(() => (window as any).__ui.chart.plot?.series.length === 4);
  });

  it('draws a burst of 2000 steps with one setData in the next frame', async () => {
    const r = await page.evaluate(async () => {
      const { chart } = (window as any).__ui;
      const plot = chart.plot;
      let calls = 0;
      const orig = plot.setData.bind(plot);
      plot.setData = (...a: unknown[]) => { calls++; return orig(...a); };
      const first = chart.length;
      for (let i = 1; i <= 2000; i++) chart.addStep({ step: 500 + i, loss: 0.5, lr: 1e-4, gradNorm: 1, tokensPerSecond: 1000 });
      const sync = calls;
      await new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res)));
      plot.setData = orig;
      return { sync, calls, added: chart.length - first, drawn: plot.data[0].length };
    });
    expect(r).toEqual({ sync: 0, calls: 1, added: 2000, drawn: 2500 });
  });

  it('reset() empties it and a metrics history refills it', async () => {
    const r = await page.evaluate(async () => {
      const { chart } = (window as any).__ui;
      const frame = () => new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(res)));
      const saved = chart.length;
      chart.reset();
      await frame();
      const empty = { length: chart.length, summary: chart.summary };
      chart.metrics = [{ kind: 'eval', step: 0, valLoss: 5.5 }, { kind: 'step', step: 1, loss: 5.4, lr: 1e-4, gradNorm: 2, tokensPerSecond: 900 }, { kind: 'step', step: 2, loss: 5.1, lr: 2e-4, gradNorm: 2, tokensPerSecond: 900 }];
      await frame();
      await chart.updateComplete;
      return { saved, empty, length: chart.length, summary: chart.shadowRoot.querySelector('[aria-live]').textContent.trim() };
    });
    expect(r.empty).toEqual({ length: 0, summary: 'No training steps yet.' });
    expect(r.length).toBe(3);
    expect(r.summary).toBe('step 2: loss 5.10 (validation 5.50)');
  });
});

describe('<pupil-train-controls>', () => {
  it('fires pupil-start with typed train/eval/save parts, and the buttons follow state', async () => {
    const c = page.locator('pupil-train-controls');
    await c.getByRole('button', { name: 'Start training' }).click();
    const start = await page.evaluate(() => (window as any).__ui.events.filter((e: any) => e.type === 'pupil-start').pop()?.detail);
    expect(start).toEqual({
      train: { lr: 1e-3, warmupRatio: 0.04, schedule: 'cosine', maxSteps: 300, batchSize: 8, seqLen: 128, accumulation: 1, weightDecay: 0.1, maxGradNorm: 1, seed: 42 },
      eval: { every: 100 },
      save: { every: 500 },
    });
    const enabled = async () => Object.fromEntries(await Promise.all(['Start training', 'Pause', 'Resume', 'Stop'].map(async (n) => [n, await c.getByRole('button', { name: n }).isEnabled()])));
    const setState = (s: string) => page.evaluate(async (s) => { const el = (window as any).__ui.controls; el.state = s; await el.updateComplete; }, s);
    await setState('running');
    expect(await enabled()).toEqual({ 'Start training': false, Pause: true, Resume: false, Stop: true });
    expect(await c.getByLabel('Learning rate').isDisabled()).toBe(true);
    await c.getByRole('button', { name: 'Pause' }).click();
    await setState('paused');
    expect(await enabled()).toEqual({ 'Start training': false, Pause: false, Resume: true, Stop: true });
    await c.getByRole('button', { name: 'Resume' }).press('Enter'); // keyboard works too
    await c.getByRole('button', { name: 'Stop' }).click();
    await setState('stopping');
    expect(await enabled()).toEqual({ 'Start training': false, Pause: false, Resume: false, Stop: false });
    await setState('done');
    expect(await enabled()).toEqual({ 'Start training': true, Pause: false, Resume: false, Stop: false });
    const types = await page.evaluate(() => (window as any).__ui.events.map((e: any) => e.type).filter((t: string) => /^pupil-(start|pause|resume|stop)$/.test(t)));
    expect(types).toEqual(['pupil-start', 'pupil-pause', 'pupil-resume', 'pupil-stop']);
  });

  it('rejects bad input with a message next to the field and fires nothing', async () => {
    const c = page.locator('pupil-train-controls');
    const starts = () => page.evaluate(() => (window as any).__ui.events.filter((e: any) => e.type === 'pupil-start').length);
    const before = await starts();
    await c.getByLabel('Learning rate').fill('fast');
    expect(await c.locator('#train-lr-err').innerText()).toBe('Must be a number.');
    expect(await c.getByLabel('Learning rate').getAttribute('aria-invalid')).toBe('true');
    await c.getByLabel('Batch size').fill('2.5');
    await c.getByRole('button', { name: 'Start training' }).click();
    expect(await c.locator('#train-batchSize-err').innerText()).toBe('Must be a whole number.');
    expect(await starts()).toBe(before);
    // The first bad field gets the focus.
    expect(await page.evaluate(() => (window as any).__ui.controls.shadowRoot.activeElement?.id)).toBe('train-lr');

    await c.getByLabel('Learning rate').fill('3e-4');
    await c.getByLabel('Batch size').fill('4');
    // Cross-field rule from the engine's resolveRunConfig: the default student has 256 positions.
    await c.getByLabel('Sequence length').fill('300');
    await c.getByRole('button', { name: 'Start training' }).click();
    expect(await c.locator('#train-seqLen-err').innerText()).toMatch(/300 exceeds the student's maxPositions \(256\)/);
    expect(await starts()).toBe(before);

    await c.getByLabel('Sequence length').fill('64');
    await c.getByRole('button', { name: 'Start training' }).click();
    const d = await page.evaluate(() => (window as any).__ui.events.filter((e: any) => e.type === 'pupil-start').pop().detail);
    expect(d.train).toMatchObject({ lr: 3e-4, batchSize: 4, seqLen: 64 });
    expect(await c.locator('.error').count()).toBe(0);
  });
});

describe('<pupil-runs>', () => {
  it('lists runs with names as text and fires open, resume, export and (confirmed) delete', async () => {
    const r = page.locator('pupil-runs');
    expect(await r.locator('li').count()).toBe(3);
    const evil = r.locator('li[data-run-id="run-b"]');
    expect(await evil.locator('.name').innerText()).toBe('<img src=x onerror="window.__xss=1"><b>bold</b> & co');
    expect(await r.locator('img, b').count()).toBe(0);
    expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();
    expect(await r.locator('li[data-run-id="run-a"]').innerText()).toMatch(/step 200 \/ 500 · paused · loss 1\.234/);
    expect(await r.locator('li[data-run-id="run-c"]').innerText()).toMatch(/failed · device lost/);
    // A finished run cannot be resumed but can be opened; one without a checkpoint can do neither, nor be exported.
    expect(await evil.getByRole('button', { name: 'Resume' }).isDisabled()).toBe(true);
    expect(await evil.getByRole('button', { name: 'Open' }).isDisabled()).toBe(false);
    expect(await r.locator('li[data-run-id="run-c"]').getByRole('button', { name: 'Export' }).isDisabled()).toBe(true);
    expect(await r.locator('li[data-run-id="run-c"]').getByRole('button', { name: 'Open' }).isDisabled()).toBe(true);
    await evil.getByRole('button', { name: 'Open' }).click();

    const a = r.locator('li[data-run-id="run-a"]');
    await a.getByRole('button', { name: 'Resume' }).click();
    await evil.getByRole('button', { name: 'Export' }).click();
    // Keyboard: Enter on Delete asks; Escape cancels; Enter again, then confirm.
    await a.getByRole('button', { name: 'Delete' }).focus();
    await page.keyboard.press('Enter');
    expect(await a.innerText()).toMatch(/Delete this run and its checkpoint\? It is the distillation teacher of broke: they will still open, but not train on\./);
    await page.keyboard.press('Escape');
    expect(await a.getByRole('button', { name: 'Resume' }).count()).toBe(1);
    await page.keyboard.press('Enter'); // focus went back to Delete
    await page.keyboard.press('Shift+Tab'); // from Cancel to the confirming Delete
    await page.keyboard.press('Enter');
    const evs = await page.evaluate(() => (window as any).__ui.events.filter((e: any) => /-run$/.test(e.type)));
    expect(evs).toEqual([
      { type: 'pupil-open-run', detail: { runId: 'run-b' } },
      { type: 'pupil-resume-run', detail: { runId: 'run-a' } },
      { type: 'pupil-export-run', detail: { runId: 'run-b' } },
      { type: 'pupil-delete-run', detail: { runId: 'run-a' } },
    ]);
  });
});

describe('<pupil-model-picker>', () => {
  it('counts parameters as the architectures do and estimates memory near the planner', async () => {
    const r = await page.evaluate(() => {
      const { countParameters, estimateMemory, scratchShape } = (window as any).__ui;
      const s = (x: object) => scratchShape(x);
      return {
        llama: countParameters(s({ arch: 'llama', hidden: 128, layers: 4, heads: 4, kvHeads: 2 })),
        tiny: countParameters(s({ arch: 'llama', hidden: 32, layers: 1, heads: 2, kvHeads: 1 })),
        qwen2: countParameters(s({ arch: 'qwen2', hidden: 64, layers: 2, heads: 4, kvHeads: 2, tie: false })),
        gpt2: countParameters(s({ arch: 'gpt2', hidden: 96, layers: 3, heads: 4 })),
        smol: estimateMemory(s({ arch: 'llama', hidden: 576, layers: 30, heads: 9, kvHeads: 3, intermediate: 1536 }), 8, 128).totalBytes,
        def: estimateMemory(s({}), 8, 128).totalBytes,
      };
    });
    // Exact counts from arch.parameters(parseConfig(tinyConfig(...))) in src/models.
    expect(r).toMatchObject({ llama: 820_864, tiny: 20_704, qwen2: 132_160, gpt2: 385_248 });
    // planMemory(...).total for the same shapes at B 8, T 128: the formula drops small terms only.
    expect(Math.abs(r.def / 57_015_028 - 1)).toBeLessThan(0.05);
    expect(Math.abs(r.smol / 2_792_751_212 - 1)).toBeLessThan(0.05);
  });

  it('shows the count for the chosen batch and sequence and warns over budget', async () => {
    const p = page.locator('pupil-model-picker');
    expect(await p.locator('[data-params]').getAttribute('data-params')).toBe('820864');
    expect(await p.locator('[part~=warning]').count()).toBe(0);
    await page.evaluate(async () => { const el = (window as any).__ui.picker; el.budgetBytes = 20 * 2 ** 20; await el.updateComplete; });
    expect(await p.getByRole('alert').innerText()).toMatch(/will probably not fit: about 5\d\.\d MiB needed, 20\.0 MiB available/);
    await page.evaluate(async () => { const el = (window as any).__ui.picker; el.batchSize = 1; el.seqLen = 64; await el.updateComplete; });
    expect(await p.locator('[part~=warning]').count()).toBe(0);
    // Choosing the Hub fires the student section; without network its config stays unknown.
    await page.route('**/config.json', (route) => route.fulfill({ json: { model_type: 'llama', vocab_size: 49152, hidden_size: 576, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3, intermediate_size: 1536, tie_word_embeddings: true } }));
    await p.getByLabel('Hugging Face Hub').check();
    await p.locator('[data-params]').waitFor();
    expect(await p.locator('[data-params]').getAttribute('data-params')).toBe('134515008');
    const changes = await page.evaluate(() => (window as any).__ui.events.filter((e: any) => e.type === 'pupil-model-change').map((e: any) => e.detail));
    expect(changes[0].student).toEqual({ hub: 'HuggingFaceTB/SmolLM2-135M' });
    expect(changes.at(-1).parameters).toBe(134_515_008);
    await p.getByLabel('Tiny model from scratch (bundled, no download)').check();
    // The `student` property selects the matching source and scratch knobs, without an event.
    const n = await page.evaluate(async () => {
      const { picker, events } = (window as any).__ui;
      const before = events.length;
      picker.student = { scratch: { arch: 'gpt2', hidden: 96, layers: 3, heads: 4 } };
      await picker.updateComplete;
      const r = { source: picker.source, params: picker.estimate.parameters, fired: events.length - before };
      picker.student = { scratch: {} };
      await picker.updateComplete;
      return r;
    });
    expect(n).toEqual({ source: 'scratch', params: 385_248, fired: 0 });
    await page.evaluate(async () => { const el = (window as any).__ui.picker; el.budgetBytes = undefined; el.batchSize = 8; el.seqLen = 128; await el.updateComplete; });
    expect(errors, errors.join('\n')).toEqual([]);
  });
});

describe('look', () => {
  it('saves light and dark screenshots', async () => {
    await screenshot(page, 'components-1-light');
    const { page: dark, errors: darkErrors } = await h.open('/test/browser/pages/components-1.html?theme=dark');
    await dark.waitForFunction(() => (window as any).__ui?.chart.shadowRoot?.querySelector('canvas'));
    await dark.evaluate(async () => { const el = (window as any).__ui.picker; el.budgetBytes = 20 * 2 ** 20; await el.updateComplete; });
    await dark.waitForTimeout(100);
    await screenshot(dark, 'components-1-dark');
    const bg = await dark.evaluate(() => getComputedStyle((window as any).__ui.runs.shadowRoot.querySelector('.card')).backgroundColor);
    expect(bg).toBe('rgb(30, 31, 34)');
    expect(darkErrors, darkErrors.join('\n')).toEqual([]);
  });
});
