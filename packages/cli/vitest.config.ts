import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    // Each test waits on tenantkit processes of its own: two files at a time keep both of CI's cores busy.
    maxWorkers: 2,
    // The commands the tests run set the same WebAssembly flags themselves (src/bin.ts).
    execArgv: ['--no-wasm-tier-up', '--no-wasm-dynamic-tiering'],
  },
});
