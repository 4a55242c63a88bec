import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkIsolation } from '@tenantkit/rls-assert';
import { type Kit, type TestDatabase, startKit, upOnlyMigrations } from '@tenantkit/testkit';
import { afterAll, beforeAll, expect, test } from 'vitest';

// The same project through the API: the preset builds the platform, checkIsolation finds the
// membership table and probes as one user per organisation, and anon as a request without a token.
const dir = fileURLToPath(new URL('../supabase/migrations/', import.meta.url));
const steps = readdirSync(dir)
  .filter((name) => name.endsWith('.sql'))
  .sort()
  .map((name) => ({ version: name.split('_')[0]!, name: name.slice(name.indexOf('_') + 1, -4), file: `${dir}${name}` }));

let kit: Kit;
beforeAll(async () => {
  kit = await startKit({ migrations: upOnlyMigrations(steps, { kind: 'supabase', source: dir }), preset: 'supabase' });
});
afterAll(() => kit?.stop());

async function withDatabase(fn: (db: TestDatabase) => Promise<void>): Promise<void> {
  const db = await kit.acquire();
  try {
    await fn(db);
  } finally {
    await db.release();
  }
}

// First: on PGlite's one session, a session that never set request.jwt.claims can only be shown
// before anything sets it (the kit says "not proven" otherwise).
test('checkIsolation: invoices fail, the rest is proven', async () => {
  await withDatabase(async (db) => {
    const report = await checkIsolation(db);
    expect(report.ok).toBe(false);
    expect(report.setup.appRole).toBe('authenticated');
    expect(report.tables.filter((table) => table.status === 'failed').map((table) => table.table)).toEqual(['public.invoices']);
    expect(report.tables.filter((table) => table.status === 'proven').map((table) => table.table)).toEqual([
      'public.memberships',
      'public.organizations',
      'public.projects',
      'public.tasks',
    ]);
  });
});

test('a policy written TO public with USING (true) is caught for anon as well', async () => {
  await withDatabase(async (db) => {
    await db.admin.exec(`CREATE POLICY "Anyone can read projects" ON public.projects FOR SELECT USING (true)`);
    const report = await checkIsolation(db, { tables: ['public.projects'] });
    expect(report.ok).toBe(false);
    const anon = report.findings.filter((finding) => finding.code === 'TK_ANON_REACHES_TENANT_ROWS');
    expect(anon.map((finding) => [finding.object, finding.message.split(' (')[0]])).toEqual([['public.projects', 'anon']]);
  });
});

test('the platform is there: API roles, auth.uid() from the claims, default privileges', async () => {
  await withDatabase(async (db) => {
    const { rows } = await db.admin.query<{ rolname: string; rolbypassrls: boolean; rolcanlogin: boolean }>(
      `SELECT rolname, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator') ORDER BY rolname`,
    );
    expect(rows).toEqual([
      { rolname: 'anon', rolbypassrls: false, rolcanlogin: false },
      { rolname: 'authenticated', rolbypassrls: false, rolcanlogin: false },
      { rolname: 'authenticator', rolbypassrls: false, rolcanlogin: true },
      { rolname: 'service_role', rolbypassrls: true, rolcanlogin: false },
    ]);
    const uid = await db.admin.transaction(async (tx) => {
      await tx.query(`SELECT set_config('request.jwt.claims', '{"sub":"6f1d2c55-3a4b-4c1d-9e8f-0a1b2c3d4e5f","role":"authenticated"}', true)`);
      return (await tx.query<{ uid: string; role: string }>('SELECT auth.uid()::text AS uid, auth.role() AS role')).rows[0];
    });
    expect(uid).toEqual({ uid: '6f1d2c55-3a4b-4c1d-9e8f-0a1b2c3d4e5f', role: 'authenticated' });
    // Granted by the platform's default privileges, then TRUNCATE taken back by the project.
    const grants = await db.admin.query<{ ok: boolean; truncate: boolean }>(
      `SELECT has_table_privilege('anon', 'public.projects', 'SELECT') AS ok, has_table_privilege('authenticated', 'public.projects', 'TRUNCATE') AS truncate`,
    );
    expect(grants.rows[0]).toEqual({ ok: true, truncate: false });
  });
});
