import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { screenshot, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => { h = await startHarness(); });
afterAll(async () => { await h?.close(); });

// Line 2 is not JSON, line 3 lacks its output; line 1 carries HTML that must stay text.
const JSONL = [
  JSON.stringify({ instruction: 'Say <b>hi</b><img src=x onerror="window.__xss=1">', input: '', output: 'Hello <script>window.__xss=2</script>there' }),
  '{"instruction": "broken", ',
  JSON.stringify({ instruction: 'No answer' }),
  JSON.stringify({ instruction: 'Add 2 and 3.', input: '', output: '5' }),
].join('\n') + '\n';

async function open(): Promise<{ page: Page; errors: string[] }> {
  const r = await h.open('/test/browser/pages/components-2.html');
  await r.page.waitForFunction(() => (window as any).__ready, null, { timeout: 30_000 });
  return r;
}

async function drop(page: Page, name: string, text: string) {
  await page.locator('pupil-dataset [part=drop]').waitFor();
  await page.evaluate(([name, text]) => {
    const zone = document.querySelector('pupil-dataset')!.shadowRoot!.querySelector('[part=drop]')!;
    const dt = new DataTransfer();
    dt.items.add(new File([text], name, { type: 'application/jsonl' }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, [name, text]);
}

describe('<pupil-dataset> and <pupil-chat> (Chromium)', () => {
  it('reads a dropped JSONL: rejections with their line, HTML as text, trained tokens highlighted', async () => {
    const { page, errors } = await open();
    await drop(page, 'mine.jsonl', JSONL);
    const ds = page.locator('pupil-dataset');
    await ds.locator('[part=report] [data-kept]').waitFor({ timeout: 30_000 });
    expect(await ds.locator('[data-kept]').getAttribute('data-kept')).toBe('2');
    expect(await ds.locator('[data-kept]').getAttribute('data-rejected')).toBe('2');
    const bad = ds.locator('.rejection[data-line="2"]');
    expect(await bad.innerText()).toMatch(/^line 2: invalid-json/);
    expect(await ds.locator('.rejection[data-line="3"]').innerText()).toMatch(/^line 3: missing-field .*output/);
    expect(await ds.locator('[part=report]').innerText()).toMatch(/1 invalid-json/);

    // HTML in a record is shown as its characters; no element was made from it and nothing ran.
    const preview = ds.locator('[part=preview]');
    expect(await preview.locator('tbody tr').first().innerText()).toContain('Say <b>hi</b><img src=x onerror="window.__xss=1">');
    expect(await preview.locator('tbody b, tbody img, tbody script').count()).toBe(0);
    const example = ds.locator('[part=example]');
    await example.waitFor({ timeout: 10_000 });
    expect(await example.locator('script, b, img').count()).toBe(0);
    expect(await page.evaluate(() => (window as any).__xss)).toBeUndefined();

    // The rendered example: ChatML around it, the response and its end token highlighted, the prompt not.
    const all = await example.innerText();
    expect(all).toContain('<|im_start|>user\nSay <b>hi</b>');
    const marked = await example.locator('mark.trained').allInnerTexts();
    expect(marked.join('')).toBe('Hello <script>window.__xss=2</script>there<|im_end|>');

    // The run gets the file as a blob: URL the Worker can fetch.
    const changes = await page.evaluate(() => (window as any).__stub.changes);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kept: 2, rejected: 2 });
    expect(changes[0].source.url).toMatch(/^blob:/);
    await screenshot(page, 'components-2-dataset');
    expect(errors).toEqual([]);
  });

  it('chat streams tokens from the client, stops on request, and keeps the conversation', async () => {
    const { page, errors } = await open();
    const chat = page.locator('pupil-chat');
    const REPLY: string = await page.evaluate(() => (window as any).__stub.REPLY);
    const box = chat.locator('textarea');
    await box.fill('Calculate 35 + 2.');
    await box.press('Enter');
    const reply = chat.locator('.turn.assistant').last();
    // Tokens arrive while the reply is still streaming (a partial reply is on screen).
    await page.waitForFunction(() => {
      const t = document.querySelector('pupil-chat')!.shadowRoot!.querySelector('.turn.assistant.streaming');
      return t && t.textContent!.replace('Student', '').length >= 3;
    }, null, { timeout: 10_000 });
    await chat.locator('button.stop').click();
    await chat.locator('.turn.assistant:not(.streaming)').waitFor({ timeout: 10_000 });
    const stopped = (await reply.innerText()).replace(/^Student \(stopped\)\n?/, '');
    expect(await reply.innerText()).toMatch(/^Student \(stopped\)/);
    expect(stopped.length).toBeGreaterThan(0);
    expect(stopped.length).toBeLessThan(REPLY.length);
    expect(REPLY.startsWith(stopped)).toBe(true);

    // Second turn runs to the end; the client saw the whole conversation; HTML stays text.
    await box.fill('And again?');
    await chat.locator('button.send').click();
    await page.waitForFunction(() => (window as any).__stub.replies.length === 2, null, { timeout: 10_000 });
    expect((await chat.locator('.turn.assistant').last().innerText()).replace(/^Student\n?/, '')).toBe(REPLY);
    expect(await chat.locator('.log b').count()).toBe(0);
    const calls = await page.evaluate(() => (window as any).__stub.calls);
    expect(calls[1].map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(calls[1][1].content).toBe(stopped);
    const replies = await page.evaluate(() => (window as any).__stub.replies);
    expect(replies.map((r: { finishReason: string }) => r.finishReason)).toEqual(['cancelled', 'eos']);
    // The baseline column shows the step-0 reply as text.
    expect(await chat.locator('[part=before] dd').innerText()).toBe('qq<i>zz</i>');
    // A finished reply (not the stopped one) is then asked of the initial weights, in their own conversation.
    await page.waitForFunction(() => (window as any).__stub.beforeReplies.length === 1, null, { timeout: 10_000 });
    const opts = await page.evaluate(() => (window as any).__stub.options.map((o: any) => o?.model ?? 'current'));
    expect(opts).toEqual(['current', 'current', 'initial']);
    const calls2 = await page.evaluate(() => (window as any).__stub.calls);
    expect(calls2[2]).toEqual([{ role: 'user', content: 'And again?' }]);
    const before = chat.locator('[part=before-log] [data-role=assistant]');
    expect((await before.innerText()).replace(/^Before\n?/, '')).toBe(REPLY);
    expect(await chat.locator('[part=before-log] b').count()).toBe(0);
    await screenshot(page, 'components-2-chat');
    expect(errors).toEqual([]);
  });
});
