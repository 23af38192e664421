import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.close(); });

type Results = { error?: string; results: Record<string, unknown>[]; defaultKind: string; withoutOpfs: string };

async function results(page: import('playwright-core').Page): Promise<Results> {
  await page.waitForFunction(() => (window as unknown as { __results?: unknown }).__results, null, { timeout: 60_000 });
  const out = await page.evaluate(() => (window as unknown as { __results: Results }).__results);
  expect(out.error, out.error).toBeUndefined();
  return out;
}

describe('run storage in Chromium (OPFS and IndexedDB)', () => {
  it('round-trips checkpoints, survives interrupted saves, explains a full disk, and finds runs after a reload', async () => {
    const { page, errors } = await h.open('/test/browser/pages/worker-storage.html?phase=write');
    const w = await results(page);
    expect(w.defaultKind).toBe('opfs');
    expect(w.withoutOpfs).toBe('indexeddb');
    expect(w.results.map((r) => r.kind)).toEqual(['opfs', 'indexeddb']);
    for (const r of w.results) {
      expect(r, JSON.stringify(r)).toMatchObject({
        before: true, roundTrip: true, replaced: true, folders: 1,
        e1: 'Error: tab closed', afterPartial: 2,
        e2: 'Error: tab closed', afterPointer: 2, orphans: 1,
        afterQuota: 2, metrics: [3, 2.5, 2],
      });
      expect(r.quota).toMatch(/^StorageFullError: browser storage is full: \d+ MB used of \d+ MB; delete old runs$/);
    }

    await page.goto(`${h.base}/test/browser/pages/worker-storage.html?phase=read`);
    const r = await results(page);
    for (const x of r.results) {
      expect(x, JSON.stringify(x)).toMatchObject({ runs: ['other', 'persist-run'] /* newest first */, step: 2, metrics: [3, 2.5, 2], afterDelete: ['persist-run'] });
    }
    expect(errors).toEqual([]);
  });
});
