import { defineConfig } from 'vitest/config';

// Node tests run on the `webgpu` package (Dawn). Its native addon is not safe in worker threads,
// hence forks. GPU tests share one software adapter on two cores, so files run one or two at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/browser/**', 'node_modules/**'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
