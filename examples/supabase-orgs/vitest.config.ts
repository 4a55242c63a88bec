import { defineConfig } from 'vitest/config';

// The CLI tests build a database per run; the API tests share one kit per file.
export default defineConfig({ test: { testTimeout: 180_000, hookTimeout: 180_000 } });
