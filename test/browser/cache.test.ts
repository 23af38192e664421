import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.close(); });

describe('Hub download caches in Chromium', () => {
  it('OPFS and the Cache API store, replace and delete whole files; OPFS is the default', async () => {
    const { page, errors } = await h.open('/test/browser/pages/cache.html');
    await page.waitForFunction(() => (window as unknown as { __results?: unknown }).__results, null, { timeout: 60_000 });
    const out = await page.evaluate(() => (window as unknown as { __results: unknown }).__results);
    const expected = { missingBefore: true, roundTrip: true, replaced: true, deleted: true };
    expect(out).toEqual({ results: [{ name: 'OpfsCache', ...expected }, { name: 'BrowserCache', ...expected }], defaultCache: 'OpfsCache' });
    expect(errors).toEqual([]);
  });
});
