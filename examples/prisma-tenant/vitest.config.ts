import { defineConfig } from 'vitest/config';

// Each test runs the tenantkit command line on the Prisma folder, as a team's CI would.
export default defineConfig({ test: { testTimeout: 180_000 } });
