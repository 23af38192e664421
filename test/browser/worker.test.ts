import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.close(); });

type Out = Record<string, any>;

async function results(page: import('playwright-core').Page): Promise<Out> {
  await page.waitForFunction(() => (window as unknown as { __results?: unknown }).__results, null, { timeout: 120_000 });
  const out = await page.evaluate(() => (window as unknown as { __results: Out }).__results);
  expect(out.error, out.error + '\n' + JSON.stringify(out.events, null, 1)).toBeUndefined();
  return out;
}

async function trainStopResume(storage?: 'indexeddb') {
  const suffix = storage ? `&storage=${storage}` : '';
  const { page, errors } = await h.open(`/test/browser/pages/worker.html?phase=train${suffix}`);
  const a = await results(page);
  expect(a.storage).toBe(storage ?? 'opfs');
  expect(a.pausedState).toBe('paused');
  expect(a.stepsWhilePaused).toBe(0);
  // Steps arrive in order, without gaps, across the pause.
  const n = a.stepNumbers.length;
  expect(a.stepNumbers).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(n).toBeGreaterThanOrEqual(4);
  expect(a.finiteLosses).toBe(true);
  expect(a.taggedWithRun).toBe(true);
  expect(a.kinds).toEqual(expect.arrayContaining(['status', 'step', 'checkpoint', 'done']));
  // stop() is graceful: it saves a checkpoint at the last step and reports a stopped run.
  expect(a.stopped).toMatchObject({ state: 'done', step: n, lastCheckpoint: n, runId: a.runId });
  expect(a.checkpointStep).toBe(n);
  expect(a.done).toMatchObject({ stopped: true, steps: n, lastCheckpoint: n });
  expect(a.listed).toMatchObject({ runId: a.runId, status: 'stopped', step: n, lastCheckpoint: n });
  expect(a.metricSteps).toEqual(a.stepNumbers);
  // Generation streams: the deltas make up the reply.
  expect(a.reply.tokens).toBeGreaterThan(0);
  expect(a.tokens.join('')).toBe(a.reply.text);
  expect(a.cancelled.finishReason).toBe('cancelled');
  expect(a.cancelled.tokens).toBeLessThan(40);
  expect(a.files).toEqual(expect.arrayContaining([`${a.runId}/config.json`, `${a.runId}/model.safetensors`, `${a.runId}/tokenizer.json`]));
  // The page's 10 ms timer kept ticking while the Worker loaded (generating and tokenizing the
  // bundled set: most of startMs) and trained. Headless timers and two shared cores give ~100 ms
  // of noise, hence the margin; loading on the main thread would stall it for about startMs.
  expect(a.gapWhileTraining, JSON.stringify(a.gaps)).toBeLessThan(500);
  console.log(`steps ${n}, start ${Math.round(a.startMs)} ms, main-thread gaps (ms) ${JSON.stringify(a.gaps)}`);

  // A reload forgets everything but storage: the run is listed and continues from its checkpoint.
  await page.goto(`${h.base}/test/browser/pages/worker.html?phase=resume&run=${a.runId}${suffix}`);
  const b = await results(page);
  expect(b.listed).toMatchObject({ runId: a.runId, status: 'stopped', lastCheckpoint: n });
  expect(b.stepNumbers.slice(0, 2)).toEqual([n + 1, n + 2]);
  expect(b.stopped).toMatchObject({ state: 'done', runId: a.runId });
  expect(b.afterDelete).toBe(false);
  expect(errors).toEqual([]);
  return page;
}

describe('engine Worker (Chromium, SwiftShader)', () => {
  it('trains, pauses, resumes, stops, streams a reply, exports, and continues after a reload (OPFS)', async () => {
    const page = await trainStopResume();
    await screenshot(page, 'worker-resume');
  });

  it('does the same on the IndexedDB fallback', async () => {
    await trainStopResume('indexeddb');
  });
});
