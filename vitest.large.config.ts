import { defineConfig } from 'vitest/config';

// Whole-archive checks of values past 2 GiB and 4 GiB: minutes and ~4 GiB of memory,
// so they run by hand (`npm run test:large`), not in `npm test`.
export default defineConfig({
  test: {
    include: ['test/large/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 900_000,
    pool: 'forks',
  },
});
