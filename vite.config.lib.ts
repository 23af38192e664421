import { defineConfig, type Plugin } from 'vite';

// Library mode inlines every asset as base64, whatever its size: onnxruntime-web's 27 MB runtime
// (fetched only when a transformers.js teacher loads) would become a 36 MB string inside its JS
// chunk, twice. `?no-inline` (which src/distill/teachers/transformers.ts uses too) keeps it one
// file next to the chunks, loaded lazily.
const ortWasmAsFile: Plugin = {
  name: 'pupil:ort-wasm-as-file',
  enforce: 'pre',
  transform(code, id) {
    if (!id.includes('/onnxruntime-web/dist/')) return null;
    const out = code.replace(/new URL\((["'])(ort-wasm[\w.-]*\.wasm)\1,\s*import\.meta\.url\)/g, 'new URL("$2?no-inline",import.meta.url)');
    return out === code ? null : { code: out, map: null };
  },
};

// The library build: `npm run build:lib` writes dist-lib/pupil.js (every <pupil-*> element and the
// EngineClient) plus the engine Worker and lazily loaded chunks next to it, for pages that embed
// the studio with a plain <script type="module"> and no bundler. Lit and the other dependencies
// are bundled in, so the folder is self-contained and can be served from any static host.
export default defineConfig({
  publicDir: false,
  plugins: [ortWasmAsFile],
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
