import { defineConfig } from 'vitest/config';

// The example's own test runs `tenantkit mutate` on the two suites under suites/, each of which has
// its own config: they are not part of this run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 900_000,
  },
});
