import { BypassingIdentityError, assertProvingIdentity, checkIsolation } from '@tenantkit/rls-assert';
import '@tenantkit/rls-assert/vitest';
import { createTest } from '@tenantkit/testkit/vitest';

// Scenario 2: 11 isolation tests run as a superuser, 4 failed, shipped anyway. Superusers,
// BYPASSRLS roles and table owners without FORCE ignore row level security: nothing they "prove" counts.
const test = createTest({ schema: new URL('../schema.sql', import.meta.url) });

const TENANT_TABLES = ['tenants', 'accounts', 'projects', 'tasks'].map((name) => ({ schema: 'public', name }));

test('the guard refuses to prove anything as the superuser', async ({ db, expect }) => {
  await expect(assertProvingIdentity(db.admin, { tenantTables: TENANT_TABLES })).rejects.toBeInstanceOf(BypassingIdentityError);
});

test('a BYPASSRLS app role is refused before any probe runs', async ({ db, expect }) => {
  // Rolled back with the test's transaction.
  await db.exec(`ALTER ROLE ${db.app.role} BYPASSRLS`);
  const error = await checkIsolation(db).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(BypassingIdentityError);
  expect((error as Error).message).toContain('NOBYPASSRLS');
});

test('the same suite passes as a LOGIN role with NOSUPERUSER NOBYPASSRLS that owns nothing', async ({ db, expect }) => {
  await expect(db).toBeIsolated();
});
