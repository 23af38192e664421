import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.close(); });

describe('demo page (Chromium, SwiftShader)', () => {
  it('shows the adapter and a kernel checked against the CPU, from the Worker', async () => {
    const { page, errors } = await h.open('/demo/index.html');
    const info = page.locator('pupil-adapter-info');
    await info.locator('[data-kernel-ok]').waitFor({ timeout: 60_000 });
    const text = await info.locator('.card').innerText();
    expect(text).toMatch(/Adapter: .*swiftshader/i);
    expect(text).toMatch(/subgroups/);
    expect(text).toMatch(/maxStorageBufferBindingSize/);
    expect(await info.locator('[data-kernel-ok]').getAttribute('data-kernel-ok')).toBe('true');
    await screenshot(page, 'demo-adapter');
    expect(errors, errors.join('\n')).toEqual([]);
  });

  it('explains what to do when the browser has no WebGPU', async () => {
    const { page } = await h.open('/demo/index.html', { webgpu: false });
    const alert = page.locator('pupil-adapter-info [role=alert]');
    await alert.waitFor({ timeout: 30_000 });
    const text = await alert.innerText();
    expect(text).toMatch(/WebGPU is not available/);
    expect(text).toMatch(/Chrome or Edge 113\+/);
  });
});
