import { tenantkit } from '@tenantkit/testkit/vitest/config';
import { defineConfig } from 'vitest/config';
import { kit } from '../kit.ts';

export default defineConfig({
  plugins: [tenantkit(kit)],
  test: { include: ['suites/reads/**/*.spec.ts'] },
});
