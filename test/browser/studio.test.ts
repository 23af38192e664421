import { writeFileSync } from 'node:fs';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.close(); });

// SwiftShader is slow: a one-layer C32 student, 64-token rows, a few steps; exact match on 4
// held-out tasks at the start and the end, one sample prompt recorded as the "before" reply.
const CONFIG = {
  name: 'e2e',
  student: { scratch: { arch: 'llama', hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 64, maxPositions: 96 } },
  data: { source: 'bundled', limit: 48, validation: 4, maxLength: 64 },
  train: { maxSteps: 6, batchSize: 2, seqLen: 64, warmupRatio: 0 },
  eval: { every: 0, atStart: true, batches: 1, samples: ['Calculate 35 + 2.'], exactMatch: 4, maxNewTokens: 4 },
  save: { every: 0 },
};

describe('studio end to end (Chromium, SwiftShader)', () => {
  it('trains from the demo page, updates the chart, chats with streamed tokens, lists the run after a reload and opens it to chat again', async () => {
    const t0 = Date.now();
    const { page, errors } = await h.open(`/demo/index.html?config=${encodeURIComponent(JSON.stringify(CONFIG))}`);
    const studio = page.locator('pupil-studio');
    await studio.locator('pupil-adapter-info [data-kernel-ok]').waitFor({ timeout: 60_000 });
    // The bundled dataset is read in the page before anything else: no network needed.
    await studio.locator('pupil-dataset [data-kept]').waitFor({ timeout: 30_000 });
    expect(await studio.locator('pupil-train-controls input#length').inputValue()).toBe('6');

    await page.evaluate(() => {
      const s = document.querySelector('pupil-studio')!;
      const w = window as any;
      w.__steps = [];
      w.__evals = [];
      s.addEventListener('pupil-step', (e) => w.__steps.push((e as CustomEvent).detail.step));
      s.addEventListener('pupil-eval', (e) => w.__evals.push((e as CustomEvent).detail));
      // Bubbling and composed: an embedding page hears them on document too.
      document.addEventListener('pupil-done', (e) => (w.__done = (e as CustomEvent).detail));
      document.addEventListener('pupil-error', (e) => (w.__error = (e as CustomEvent).detail));
    });
    await studio.locator('pupil-train-controls [part=start]').click();

    // The chart takes step events as they arrive.
    await page.waitForFunction(() => (document.querySelector('pupil-studio')!.shadowRoot!.querySelector('pupil-loss-chart') as any)?.length >= 2, null, { timeout: 60_000 });
    await page.waitForFunction(() => (window as any).__done || (window as any).__error, null, { timeout: 90_000 });
    const r = await page.evaluate(() => { const w = window as any; return { steps: w.__steps, evals: w.__evals, done: w.__done, error: w.__error }; });
    expect(r.error).toBeUndefined();
    expect(r.steps).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.done.summary).toMatchObject({ steps: 6, stopped: false });
    const runId: string = r.done.runId;
    expect(r.evals.map((e: { step: number }) => e.step)).toEqual([0, 6]);
    const score = studio.locator('[part~=score]');
    expect(await score.getAttribute('data-before')).toMatch(/^\d/);
    expect(await score.getAttribute('data-after')).toMatch(/^\d/);
    expect(await score.innerText()).toMatch(/before \d+% \(\d\/4\) → after \d+% \(\d\/4\)/);
    expect(await studio.locator('pupil-loss-chart [part=summary]').innerText()).toMatch(/step 6/);
    // The step-0 sample is the "before" column of the chat.
    expect(await studio.locator('pupil-chat [part=before] dt').first().innerText()).toContain('Calculate 35 + 2.');

    // Chat: the reply streams in (several partial renderings before the end).
    await page.evaluate(() => {
      const root = document.querySelector('pupil-studio')!.shadowRoot!.querySelector('pupil-chat')!.shadowRoot!;
      const w = window as any;
      w.__partials = new Set<number>();
      new MutationObserver(() => {
        const t = root.querySelector('.turn.assistant.streaming');
        if (t) w.__partials.add(t.textContent!.length);
      }).observe(root, { subtree: true, childList: true, characterData: true });
      document.addEventListener('pupil-chat-reply', (e) => (w.__reply = (e as CustomEvent).detail));
      document.addEventListener('pupil-chat-before-reply', (e) => (w.__beforeReply = (e as CustomEvent).detail));
    });
    const box = studio.locator('pupil-chat textarea');
    await box.fill('Calculate 35 + 2.');
    await box.press('Enter');
    await page.waitForFunction(() => (window as any).__reply, null, { timeout: 60_000 });
    const reply = await page.evaluate(() => ({ ...(window as any).__reply, partials: [...(window as any).__partials] }));
    expect(reply.tokens).toBeGreaterThan(0);
    expect(reply.partials.length).toBeGreaterThanOrEqual(3);
    const shown = await studio.locator('pupil-chat .turn.assistant').last().innerText();
    expect(shown.replace(/^Student\n?/, '')).toBe(reply.text);
    // Then the initial weights answer the same question: greedy, so their reply begins with what
    // they said at step 0 (4 tokens there, more here).
    await page.waitForFunction(() => (window as any).__beforeReply, null, { timeout: 60_000 });
    const before = await page.evaluate(() => ({ reply: (window as any).__beforeReply, step0: (document.querySelector('pupil-studio') as any)._baseline[0].text }));
    console.log(`before: step 0 ${JSON.stringify(before.step0)}, asked ${JSON.stringify(before.reply.text)}; after ${JSON.stringify(reply.text)}`);
    expect(before.reply.tokens).toBeGreaterThan(0);
    expect(before.reply.text.startsWith(before.step0)).toBe(true);
    // Six steps are enough to change what the greedy student says (seeded: the same every run).
    expect(before.reply.text).not.toBe(reply.text);
    expect((await studio.locator('pupil-chat [part=before-log] [data-role=assistant]').innerText()).replace(/^Before\n?/, '')).toBe(before.reply.text);
    await screenshot(page, 'studio-trained');

    // A reload forgets everything but storage: the run is listed.
    await page.reload();
    const runs = studio.locator('pupil-runs');
    await runs.locator(`[data-run-id="${runId}"]`).waitFor({ timeout: 60_000 });
    const listed = await runs.locator(`[data-run-id="${runId}"]`).innerText();
    expect(listed).toMatch(/e2e/);
    expect(listed).toMatch(/finished/);
    await screenshot(page, 'studio-reloaded');

    // Open the finished run: its checkpoint loads for chat (no training) and replies stream again.
    await runs.locator(`[data-run-id="${runId}"]`).getByRole('button', { name: 'Open' }).click();
    await studio.locator('pupil-chat[ready]').waitFor({ timeout: 60_000 });
    expect(await studio.locator('[data-state]').first().getAttribute('data-state')).not.toBe('running');
    await page.evaluate(() => {
      const root = document.querySelector('pupil-studio')!.shadowRoot!.querySelector('pupil-chat')!.shadowRoot!;
      const w = window as any;
      w.__partials = new Set<number>();
      new MutationObserver(() => {
        const t = root.querySelector('.turn.assistant.streaming');
        if (t) w.__partials.add(t.textContent!.length);
      }).observe(root, { subtree: true, childList: true, characterData: true });
      document.addEventListener('pupil-chat-reply', (e) => (w.__reopened = (e as CustomEvent).detail));
    });
    await box.fill('Calculate 35 + 2.');
    await box.press('Enter');
    await page.waitForFunction(() => (window as any).__reopened, null, { timeout: 60_000 });
    const again = await page.evaluate(() => ({ ...(window as any).__reopened, partials: [...(window as any).__partials] }));
    expect(again.tokens).toBeGreaterThan(0);
    expect(again.partials.length).toBeGreaterThanOrEqual(2);
    expect((await studio.locator('pupil-chat .turn.assistant').last().innerText()).replace(/^Student\n?/, '')).toBe(again.text);
    expect(await studio.locator('[part~=status]').innerText()).toContain(runId);
    expect(errors, errors.join('\n')).toEqual([]);
    console.log(`studio e2e: ${Date.now() - t0} ms`);
  });

  it('embeds from the library build with a plain <script type="module"> (the README snippet)', async () => {
    await build({ configFile: 'vite.config.lib.ts', logLevel: 'error' });
    // The README's snippet, served from another folder than the library, as an embedding site would.
    writeFileSync('test-results/embed.html', `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>embed</title></head><body>
<pupil-studio storage="memory" theme="dark"></pupil-studio>
<script type="module">
  import '../dist-lib/pupil.js';
  const studio = document.querySelector('pupil-studio');
  studio.config = { train: { maxSteps: 300 } };
  studio.addEventListener('pupil-step', (e) => console.log('step', e.detail.step, e.detail.loss));
</script></body></html>`);
    const { page, errors } = await h.open('/test-results/embed.html');
    const studio = page.locator('pupil-studio');
    await studio.locator('pupil-adapter-info [data-kernel-ok="true"]').waitFor({ timeout: 60_000 });
    await studio.locator('pupil-dataset [data-kept]').waitFor({ timeout: 30_000 });
    expect(await studio.locator('pupil-train-controls input#length').inputValue()).toBe('300');
    await screenshot(page, 'studio-embedded-dark');
    expect(errors, errors.join('\n')).toEqual([]);
  });
});
