import { tenantkit } from '@tenantkit/testkit/vitest/config';
import { defineConfig } from 'vitest/config';
import { kit } from './test/kit.ts';

// Runs the migrations once per run (a cached PGlite snapshot, or a template on a server) and sets
// timeouts that fit a first test, which also starts its worker's database.
export default defineConfig({ plugins: [tenantkit(kit)] });
