import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.close(); });

describe('kernels inside a Worker (Chromium, SwiftShader)', () => {
  it('every kernel case matches its float64 reference', async () => {
    const { page, errors } = await h.open('/test/browser/pages/kernels.html');
    await page.waitForFunction(() => (window as unknown as { __results?: unknown }).__results, null, { timeout: 150_000 });
    const out = await page.evaluate(() => (window as unknown as { __results: { error?: string; results?: { name: string; ok: boolean }[] } }).__results);
    expect(out.error, out.error).toBeUndefined();
    const bad = out.results!.filter((r) => !r.ok);
    expect(bad, JSON.stringify(bad, null, 2)).toEqual([]);
    expect(out.results!.length).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });
});
