import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The addon's thread pool already uses every core; one test file at a time keeps runs steady.
    fileParallelism: false,
    pool: 'forks',
  },
});
