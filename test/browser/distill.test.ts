// The studio's distillation panel in Chromium against a real OpenAI-compatible endpoint: `pupil
// serve`'s server runs in this Node process in front of a tiny scratch model (lavapipe), on another
// origin than the page (so CORS is exercised). The endpoint teacher regenerates 3 records of the
// bundled dataset, the panel shows progress and the preview, "Use as training set" hands them to
// the dataset, and after a reload both the generated set and the training set are still there.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStudent, type LoadedStudent } from '../../src/cli/commands/chat.ts';
import { resolveRenderer } from '../../src/data/template.ts';
import { startChatServer, type RunningServer } from '../../src/distill/server.ts';
import { GpuCausalLM } from '../../src/generate/index.ts';
import { initialize, tinyConfig } from '../../src/models/init.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { encodeCheckpoint } from '../../src/train/checkpoint.ts';
import { saveCheckpointDir } from '../../src/train/checkpoint-node.ts';
import { getRuntime } from '../helpers/gpu.ts';
import { screenshot, startHarness, type Harness } from './harness.ts';

// The shapes of test/distill/serve.test.ts: a C32 L1 llama with the byte-level tokenizer.
async function checkpoint(): Promise<string> {
  const hf = tinyConfig('llama', { hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 48, maxPositions: 96 });
  const { arch, config } = parseConfig(hf);
  const weights = initialize(arch.parameters(config), 5);
  const dir = join(mkdtempSync(join(tmpdir(), 'pupil-distill-ui-')), 'ckpt');
  const zeros = new Map([...weights].map(([k, v]) => [k, new Float32Array(v.length)]));
  const state = { step: 1, epoch: 0, positionInEpoch: 1, schedule: { lr: 1e-3, warmupSteps: 0, totalSteps: 2, kind: 'constant' as const }, rng: { seed: 1 } };
  await saveCheckpointDir(dir, encodeCheckpoint({ params: weights, shapes: new Map(arch.parameters(config).map((s) => [s.name, s.shape])), m: zeros, v: zeros, state, config: hf }));
  return dir;
}

let h: Harness;
let student: LoadedStudent;
let lm: GpuCausalLM;
let server: RunningServer;
beforeAll(async () => {
  student = await loadStudent(await checkpoint(), { rt: await getRuntime() });
  lm = new GpuCausalLM(student.rt, student.config, student.store);
  server = await startChatServer({ model: lm, tokenizer: student.tokenizer, renderer: resolveRenderer('auto', student.tokenizer), modelName: 'tiny', defaultMaxTokens: 8 });
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
  await server?.close();
  lm?.destroy();
  student?.destroy();
});

describe('distillation panel (Chromium, endpoint teacher)', () => {
  it('regenerates 3 records through the endpoint, previews them, trains on them, and keeps them across a reload', async () => {
    const t0 = Date.now();
    const { page, errors } = await h.open('/demo/index.html?storage=memory');
    const studio = page.locator('pupil-studio');
    const dataset = studio.locator('pupil-dataset');
    const panel = studio.locator('pupil-distill');
    await dataset.locator('[data-kept]').waitFor({ timeout: 30_000 });

    const set = async (sel: string, value: string) => {
      const input = panel.locator(sel);
      await input.fill(value);
      await input.dispatchEvent('change');
    };
    await panel.locator('pupil-teacher-settings input[value=endpoint]').check();
    await set('pupil-teacher-settings #base-url', server.baseUrl);
    // "List models" asks the endpoint (cross-origin: CORS) and fills the model in.
    await panel.locator('[data-list-models]').click();
    await page.waitForFunction(() => {
      const s = document.querySelector('pupil-studio')!.shadowRoot!.querySelector('pupil-distill')!.shadowRoot!.querySelector('pupil-teacher-settings')!;
      return (s.value as { model?: string }).model === 'tiny';
    }, null, { timeout: 20_000 });
    await panel.locator('input[value=regenerate]').check();
    await set('#count', '3');
    await set('#max-tokens', '8');
    // A seed: the tiny random model's replies are sometimes only whitespace (its greedy reply
    // always is), which the loop rightly rejects as empty; seeded, the replies are fixed.
    await set('#seed', '1');

    await page.evaluate(() => {
      const w = window as any;
      w.__progress = [];
      document.addEventListener('pupil-distill-progress', (e) => w.__progress.push((e as CustomEvent).detail));
      document.addEventListener('pupil-distill-done', (e) => (w.__done = (e as CustomEvent).detail));
    });
    await panel.locator('[data-generate]').click();
    await page.waitForFunction(() => (window as any).__done, null, { timeout: 90_000 });
    const r = await page.evaluate(() => ({ done: (window as any).__done, progress: (window as any).__progress }));
    expect(r.done.set.status).toBe('done');
    expect(r.done.set.records).toHaveLength(3);
    expect(r.done.set.name).toMatch(/^regenerated-tiny-\d{8}-\d{4}\.jsonl$/);
    // Progress went up one record at a time, to 3 of 3 with nothing rejected.
    expect(r.progress.map((p: { done: number }) => p.done)).toEqual([1, 2, 3]);
    expect(r.progress.at(-1)).toMatchObject({ done: 3, total: 3, kept: 3, rejected: 0 });
    expect(r.progress.at(-1).tokens).toBeGreaterThan(0);
    expect(await panel.locator('[part=progress]').innerText()).toMatch(/3 \/ 3 · kept 3 · rejected 0 · \d+ tokens/);
    const rows = panel.locator('[part=preview] tbody tr');
    expect(await rows.count()).toBe(3);
    // Instructions are the bundled dataset's first three; the outputs are the teacher's.
    const first = await dataset.locator('[part=preview] tbody tr td').nth(1).innerText();
    expect(first.startsWith(await rows.first().locator('td').first().innerText())).toBe(true);
    expect(await rows.first().locator('td').nth(3).innerText()).toBe(`openai:${server.baseUrl} model=tiny`);
    await screenshot(page, 'distill-generated');

    await panel.locator('[data-use]').click();
    await dataset.locator('[data-kept="3"]').waitFor({ timeout: 20_000 });
    expect(await dataset.locator('[data-kept]').innerText()).toMatch(/^regenerated-tiny-.*\.jsonl: jsonl, alpaca records; 3 kept of 3 read/);
    expect(await panel.locator('[data-set]').getAttribute('data-used')).toBe('true');

    // A reload keeps the generated set (IndexedDB) and trains on it again.
    await page.reload();
    await dataset.locator('[data-kept="3"]').waitFor({ timeout: 30_000 });
    await panel.locator('[data-records="3"][data-used="true"]').waitFor({ timeout: 10_000 });
    expect(await panel.locator('[part=preview] tbody tr').count()).toBe(3);
    expect(errors, errors.join('\n')).toEqual([]);

    // An endpoint that does not answer: the panel says so and what to do (CORS, OLLAMA_ORIGINS).
    await set('pupil-teacher-settings #base-url', 'http://127.0.0.1:9/v1');
    await set('pupil-teacher-settings #model', 'tiny');
    await set('#count', '1');
    await panel.locator('[data-generate]').click();
    const error = panel.locator('[data-error]');
    await error.waitFor({ timeout: 30_000 });
    expect(await error.innerText()).toMatch(/did not answer, or the browser blocked it \(CORS\)[^]*pupil serve[^]*OLLAMA_ORIGINS=/);
    // The earlier set is untouched.
    expect(await panel.locator('select#sets option').count()).toBe(2);
    console.log(`distill panel e2e: ${Date.now() - t0} ms`);
  });
});
