import '@tenantkit/rls-assert/vitest';
import { createTest } from '@tenantkit/testkit/vitest';
import { expect } from 'vitest';
import { kit } from './kit.ts';

const test = createTest(kit);

// A file of its own: on PGlite a tenant setting, once set, stays on the worker's one session, and
// the no-tenant probe could then not show a session that never set one.
test('the matchers prove the schema isolated and free of RLS errors', async ({ db }) => {
  await expect(db).toBeIsolated();
  await expect(db).toHaveNoRlsFindings({ severity: 'error' });
});
