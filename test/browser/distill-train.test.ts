// "Distil from a saved run" in the studio (Chromium, SwiftShader, memory storage): a tiny run is
// trained and saved, then a second run distils from it (distill.teacher = "run:<id>", resolved in
// the Worker from the run storage); it trains, reports its losses, and the status line says what
// the training loss means. The section's fields are checked like the other controls.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.close(); });

// The shapes of studio.test.ts (kernels compiled once), fewer steps, no evaluation but the last.
const CONFIG = {
  name: 'kd',
  student: { scratch: { arch: 'llama', hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 64, maxPositions: 96 } },
  data: { source: 'bundled', limit: 48, validation: 4, maxLength: 64 },
  train: { maxSteps: 3, batchSize: 2, seqLen: 64, warmupRatio: 0 },
  eval: { every: 0, atStart: false, batches: 1, samples: [], exactMatch: 0 },
  save: { every: 0 },
};

describe('studio: token-level distillation from a saved run (Chromium, SwiftShader)', () => {
  it('trains a teacher, then a student that distils from it', async () => {
    const t0 = Date.now();
    const { page, errors } = await h.open(`/demo/index.html?storage=memory&config=${encodeURIComponent(JSON.stringify(CONFIG))}`);
    const studio = page.locator('pupil-studio');
    const controls = studio.locator('pupil-train-controls');
    await studio.locator('pupil-adapter-info [data-kernel-ok]').waitFor({ timeout: 60_000 });
    await studio.locator('pupil-dataset [data-kept]').waitFor({ timeout: 30_000 });
    // No saved run yet: the section cannot be switched on, and says why.
    expect(await controls.locator('#distill-on').isDisabled()).toBe(true);
    expect(await controls.locator('[data-no-teacher]').innerText()).toMatch(/No saved run has a checkpoint yet/);

    await page.evaluate(() => {
      const w = window as any;
      w.__done = [];
      w.__steps = [];
      document.addEventListener('pupil-done', (e) => w.__done.push((e as CustomEvent).detail));
      document.addEventListener('pupil-step', (e) => w.__steps.push((e as CustomEvent).detail));
      document.addEventListener('pupil-error', (e) => (w.__error = (e as CustomEvent).detail));
    });
    await controls.locator('[part=start]').click();
    await page.waitForFunction(() => (window as any).__done.length === 1 || (window as any).__error, null, { timeout: 90_000 });
    const teacher = await page.evaluate(() => ({ done: (window as any).__done[0], error: (window as any).__error }));
    expect(teacher.error).toBeUndefined();
    const teacherId: string = teacher.done.runId;
    expect(await studio.locator('[part~=loss-meaning]').count()).toBe(0);

    // The finished run is listed (with its checkpoint), so it can teach.
    await controls.locator('#distill-on:not([disabled])').waitFor({ timeout: 20_000 });
    await controls.locator('#distill-on').check();
    const select = controls.locator('select#distill-teacher');
    expect(await select.inputValue()).toBe(teacherId);
    expect(await select.locator('option').first().innerText()).toContain(`(${teacherId})`);
    // Field checks as the other controls: message beside the field, nothing starts.
    await controls.locator('#distill-alpha').fill('2');
    expect(await controls.locator('#distill-alpha-err').innerText()).toBe('Must be from 0 to 1.');
    expect(await controls.locator('#distill-beta').count()).toBe(0);
    await controls.locator('select#distill-loss').selectOption('jsd');
    await controls.locator('#distill-beta').fill('0.2');
    await controls.locator('[part=start]').click();
    await page.waitForTimeout(300);
    expect(await studio.locator('[data-state]').first().getAttribute('data-state')).toBe('done');
    expect(await page.evaluate(() => (window as any).__steps.length)).toBe(3);
    await controls.locator('#distill-alpha').fill('0.3');
    expect(await controls.locator('#distill-alpha-err').count()).toBe(0);

    await page.evaluate(() => ((window as any).__steps = []));
    await controls.locator('[part=start]').click();
    await page.waitForFunction(() => (window as any).__done.length === 2 || (window as any).__error, null, { timeout: 90_000 });
    const r = await page.evaluate(() => ({ done: (window as any).__done[1], steps: (window as any).__steps, error: (window as any).__error }));
    expect(r.error).toBeUndefined();
    expect(r.done.summary).toMatchObject({ steps: 3, stopped: false });
    expect(r.steps.map((s: { step: number }) => s.step)).toEqual([1, 2, 3]);
    for (const s of r.steps) expect(Number.isFinite(s.loss) && s.loss > 0).toBe(true);
    const status = studio.locator('[part~=status]');
    expect(await status.innerText()).toMatch(/Loss \d+\.\d{3}/);
    expect(await studio.locator('[part~=loss-meaning]').innerText()).toBe(
      `distillation from run:${teacherId} (top-16, online): JSD beta 0.2, temperature 1; train loss = 0.3·CE + 0.7·D, validation loss = CE`,
    );
    // The run keeps its teacher reference (a resume finds the same teacher).
    const runs = await page.evaluate(() => (document.querySelector('pupil-studio') as any).runs);
    const student = runs.find((x: { runId: string }) => x.runId === r.done.runId);
    expect(student.config.distill).toEqual({ teacher: `run:${teacherId}`, loss: 'jsd', alpha: 0.3, beta: 0.2, temperature: 1, topK: 16 });
    await screenshot(page, 'studio-distill-trained');

    // A config that names the teacher switches the section on with it; a teacher that does not fit
    // the memory budget (the student alone would) is refused with advice naming the teacher.
    await page.evaluate(([id]) => {
      const s = document.querySelector('pupil-studio')!;
      const c = JSON.parse(new URLSearchParams(location.search).get('config')!);
      s.config = { ...c, train: { ...c.train, memoryBudget: 1_000_000 }, distill: { teacher: `run:${id}`, alpha: 0.8 } };
    }, [teacherId]);
    await controls.locator('#distill-alpha[aria-invalid=false]').waitFor();
    expect(await controls.locator('#distill-alpha').inputValue()).toBe('0.8');
    expect(await controls.locator('#distill-on').isChecked()).toBe(true);
    await controls.locator('[part=start]').click();
    const error = studio.locator('p.error[role=alert]');
    await error.waitFor({ timeout: 30_000 });
    expect(await error.innerText()).toMatch(/memory plan for batch 2 × sequence 64 does not fit this device: [^]*over the budget of 976\.6 KiB[^]* — The plan counts the distillation teacher too/);
    expect(errors, errors.join('\n')).toEqual([]);
    console.log(`studio distillation e2e: ${Date.now() - t0} ms`);
  });
});
