import { defineConfig } from 'vitest/config';

// Browser tests: Node-side tests that serve pages with Vite and drive Debian's Chromium
// (SwiftShader WebGPU) through playwright-core.
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
