// Serves the repository with Vite on 127.0.0.1 (WebGPU needs a secure context) and opens pages
// in headless Chromium with SwiftShader's WebGPU.
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createServer, type ViteDevServer } from 'vite';

export const CHROMIUM = process.env.PUPIL_CHROMIUM ?? '/usr/bin/chromium';

const FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface Harness {
  server: ViteDevServer;
  browser: Browser;
  base: string;
  /** Opens `path`; console errors and page errors are collected in `errors`. */
  open(path: string, opts?: { webgpu?: boolean }): Promise<{ page: Page; errors: string[] }>;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run \`npm run setup\` (installs Debian's chromium) or set PUPIL_CHROMIUM`);
  const server = await createServer({
    configFile: false,
    root: process.cwd(),
    logLevel: 'error',
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
    worker: { format: 'es' },
  });
  await server.listen();
  const addr = server.httpServer!.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  const contexts: { close(): Promise<void> }[] = [];
  return {
    server,
    browser,
    base: `http://127.0.0.1:${port}`,
    async open(path, opts = {}) {
      const b = opts.webgpu === false ? await chromium.launch({ executablePath: CHROMIUM, args: FLAGS.filter((f) => !/webgpu|Vulkan/.test(f)).concat('--disable-webgpu', '--disable-features=WebGPU') }) : browser;
      if (b !== browser) contexts.push(b);
      const page = await b.newPage();
      const errors: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`http://127.0.0.1:${port}${path}`);
      return { page, errors };
    },
    async close() {
      for (const c of contexts) await c.close();
      await browser.close();
      await server.close();
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync('test-results/screenshots', { recursive: true });
  const path = `test-results/screenshots/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  return path;
}
