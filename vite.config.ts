import { defineConfig } from 'vite';

// The demo page is the Vite root; `npm run build` makes a static site in dist/.
export default defineConfig({
  root: 'demo',
  publicDir: false,
  build: { outDir: '../dist', emptyOutDir: true, target: 'es2022' },
  worker: { format: 'es' },
  server: { host: '127.0.0.1', fs: { allow: ['..'] } },
});
