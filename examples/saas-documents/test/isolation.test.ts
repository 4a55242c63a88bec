import { checkIsolation } from '@tenantkit/rls-assert';
import '@tenantkit/rls-assert/vitest';
import { createTest } from '@tenantkit/testkit/vitest';

// Scenario 1: the team checked that policies existed. Here the kit proves what they do.
const test = createTest({ schema: new URL('../schema.sql', import.meta.url) });

const PROTECTED = ['users', 'documents', 'audit_logs', 'tenant_api_keys'];

test('the tables with tenant policies are isolated, proven as the app role', async ({ db, expect }) => {
  await expect(db).toBeIsolated({ tables: PROTECTED });
});

test('the audit finds the tenant tables nobody protected', async ({ db, expect }) => {
  const report = await checkIsolation(db);
  expect(report.ok).toBe(false);
  const leaking = report.tables.filter((table) => table.checks.some((check) => check.check === 'read-foreign' && check.status === 'fail'));
  expect(leaking.map((table) => table.table)).toEqual(['public.tenant_configs', 'public.tenants']);
  expect(report.findings.filter((finding) => finding.code === 'TK_RLS_DISABLED').map((finding) => finding.object)).toEqual([
    'public.tenant_configs',
    'public.tenants',
  ]);
});
