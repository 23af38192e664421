// A student picked from a local Hugging Face folder in <pupil-model-picker>: the File objects go
// to the Worker with start(), train and chat; after a reload they are gone, and opening the run
// says to pick the folder again, which then works.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeFixture, writeRepo } from '../fixtures/hub/make-fixtures.ts';
import { screenshot, startHarness, type Harness } from './harness.ts';

let h: Harness;
let root: string;
let folder: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'pupil-local-'));
  // writeRepo lays files out as <repo>/<revision>/: the picked folder is that last directory.
  await writeRepo(root, 'tiny', makeFixture('llama').files, 'tiny-llama');
  folder = join(root, 'tiny', 'tiny-llama');
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

// The fixture is C 32, L 2, 64 positions: two steps on 64-token rows, no evaluation.
const CONFIG = {
  name: 'local',
  data: { source: 'bundled', limit: 24, validation: 2, maxLength: 64 },
  train: { maxSteps: 2, batchSize: 2, seqLen: 64, warmupRatio: 0 },
  eval: { every: 0, atStart: false, exactMatch: 0, samples: ['hi'] },
  save: { every: 0 },
};

async function pickFolder(page: import('playwright-core').Page) {
  const picker = page.locator('pupil-studio pupil-model-picker');
  await picker.locator('input[type=radio][value=local]').check();
  await picker.locator('input#files').setInputFiles(folder);
  await picker.getByText(/\d+ files chosen/).waitFor({ timeout: 10_000 });
}

async function chat(page: import('playwright-core').Page) {
  await page.evaluate(() => {
    delete (window as any).__reply;
    document.addEventListener('pupil-chat-reply', (e) => ((window as any).__reply = (e as CustomEvent).detail), { once: true });
  });
  const box = page.locator('pupil-studio pupil-chat textarea');
  await box.fill('Calculate 35 + 2.');
  await box.press('Enter');
  await page.waitForFunction(() => (window as any).__reply, null, { timeout: 60_000 });
  return page.evaluate(() => (window as any).__reply);
}

describe('local files student (Chromium, SwiftShader)', () => {
  it('trains a picked Hugging Face folder, chats, and after a reload asks for the folder again', async () => {
    const t0 = Date.now();
    const { page, errors } = await h.open(`/demo/index.html?config=${encodeURIComponent(JSON.stringify(CONFIG))}`);
    const studio = page.locator('pupil-studio');
    await studio.locator('pupil-adapter-info [data-kernel-ok]').waitFor({ timeout: 60_000 });
    await studio.locator('pupil-dataset [data-kept]').waitFor({ timeout: 30_000 });
    await pickFolder(page);
    await page.evaluate(() => {
      const w = window as any;
      document.addEventListener('pupil-done', (e) => (w.__done = (e as CustomEvent).detail));
      document.addEventListener('pupil-error', (e) => (w.__error = (e as CustomEvent).detail));
    });
    await studio.locator('pupil-train-controls [part=start]').click();
    await page.waitForFunction(() => (window as any).__done || (window as any).__error, null, { timeout: 90_000 });
    const r = await page.evaluate(() => ({ done: (window as any).__done, error: (window as any).__error }));
    expect(r.error).toBeUndefined();
    expect(r.done.summary).toMatchObject({ steps: 2, stopped: false });
    const runId: string = r.done.runId;
    const meta = await page.evaluate(async (id) => (await (document.querySelector('pupil-studio') as any).client.listRuns()).find((m: any) => m.runId === id), runId);
    expect(meta.config.student).toEqual({ path: 'tiny-llama' });
    const reply = await chat(page);
    expect(reply.tokens).toBeGreaterThan(0);

    // The File objects do not survive a reload: opening the run says what to do.
    await page.reload();
    const row = studio.locator(`pupil-runs [data-run-id="${runId}"]`);
    await row.waitFor({ timeout: 60_000 });
    await row.getByRole('button', { name: 'Open' }).click();
    const alert = studio.locator('.error[role=alert]');
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.innerText()).toMatch(/tiny-llama.*pick the model folder again/);
    await screenshot(page, 'studio-local-reloaded');

    // Picked again, the same run opens and answers.
    await pickFolder(page);
    await row.getByRole('button', { name: 'Open' }).click();
    await studio.locator('pupil-chat[ready]').waitFor({ timeout: 60_000 });
    expect(await alert.count()).toBe(0);
    expect((await chat(page)).tokens).toBeGreaterThan(0);
    expect(errors, errors.join('\n')).toEqual([]);
    console.log(`local student e2e: ${Date.now() - t0} ms`);
  });
});
