import { defineConfig } from 'vitest/config';

// The commands the tests run set the same WebAssembly flags themselves (src/bin.ts).
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 120_000, execArgv: ['--no-wasm-tier-up', '--no-wasm-dynamic-tiering'] },
});
