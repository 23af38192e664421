import { defineConfig } from 'vite';

// The library build: `npm run build:lib` writes dist-lib/pupil.js (every <pupil-*> element and the
// EngineClient) plus the engine Worker and lazily loaded chunks next to it, for pages that embed
// the studio with a plain <script type="module"> and no bundler. Lit and the other dependencies
// are bundled in, so the folder is self-contained and can be served from any static host.
export default defineConfig({
  publicDir: false,
  // Relative URLs: the Worker and chunks are found next to pupil.js wherever the folder is served.
  base: './',
  build: {
    outDir: 'dist-lib',
    emptyOutDir: true,
    target: 'es2022',
    lib: { entry: 'src/ui/index.ts', formats: ['es'], fileName: () => 'pupil.js' },
    rollupOptions: { output: { chunkFileNames: 'chunks/[name]-[hash].js', assetFileNames: 'assets/[name]-[hash][extname]' } },
  },
  worker: { format: 'es' },
});
