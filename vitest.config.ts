import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real servers (serve, workerd, fakes) on loopback; two cores run two files.
    maxWorkers: 2,
  },
});
