import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Projects run by the tests in their own vitest process.
    exclude: ['test/fixtures/**'],
    // A shared machine under load has taken over a minute for one PGlite schema and its audit.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // Native servers and PGlite instances are heavy: two workers match the two cores CI has.
    maxWorkers: 2,
  },
});
