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
    // Test files are short-lived processes: PGlite's WebAssembly on the baseline compiler alone ends them
    // sooner (the optimizing tier's background compilation competes for the two cores and delays exit).
    execArgv: ['--no-wasm-tier-up', '--no-wasm-dynamic-tiering'],
  },
});
