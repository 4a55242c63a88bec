import { type Kit, type TestDatabase, startKit } from '@tenantkit/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { topLevelConjuncts } from '../src/audit/policy-parser.js';
import { type PolicyMutant, generateMutants } from '../src/mutate/generate.js';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

const ACME = '00000000-0000-4000-8000-00000000000a';
const GLOBEX = '00000000-0000-4000-8000-00000000000b';
const TENANT = `current_setting('app.tenant_id')::uuid`;

/** Several policies per table, restrictive and permissive, FORCE, TO PUBLIC and to another role, quoted names, two schemas. */
const SCHEMA = `
CREATE ROLE support NOLOGIN;
CREATE SCHEMA billing;
GRANT USAGE ON SCHEMA billing TO tk_app;

CREATE TABLE billing."Invoices" (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL,
  status text NOT NULL DEFAULT 'open',
  total int NOT NULL DEFAULT 0
);
ALTER TABLE billing."Invoices" ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing."Invoices" FORCE ROW LEVEL SECURITY;
CREATE POLICY "tenant read" ON billing."Invoices" FOR SELECT USING (tenant_id = ${TENANT} AND status <> 'void');
CREATE POLICY invoices_insert ON billing."Invoices" FOR INSERT TO tk_app WITH CHECK (tenant_id = ${TENANT});
CREATE POLICY not_archived ON billing."Invoices" AS RESTRICTIVE FOR ALL TO PUBLIC USING (status <> 'archived');
CREATE POLICY support_read ON billing."Invoices" FOR SELECT TO support USING (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON billing."Invoices" TO tk_app;

CREATE TABLE public.notes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL,
  body text NOT NULL
);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_all ON public.notes USING (tenant_id = ${TENANT}) WITH CHECK (tenant_id = ${TENANT} AND body <> '');
GRANT ALL ON public.notes TO tk_app;

-- Only what USING already checks: no WITH CHECK mutant.
CREATE TABLE public.tags (tenant_id uuid NOT NULL, tag text NOT NULL);
ALTER TABLE public.tags ENABLE ROW LEVEL SECURITY;
CREATE POLICY tags_all ON public.tags USING (tenant_id = ${TENANT}) WITH CHECK (tenant_id = ${TENANT});
GRANT SELECT, INSERT ON public.tags TO tk_app;

-- The app role may not touch these: no mutant could change what it does.
CREATE TABLE public.audit_log (tenant_id uuid NOT NULL, entry text NOT NULL);
ALTER TABLE public.audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_all ON public.audit_log USING (tenant_id = ${TENANT});
CREATE TABLE public.plans (plan_id text PRIMARY KEY);
GRANT SELECT ON public.plans TO tk_app;
`;

/** Policies, RLS flags and the app role's TRUNCATE, as one comparable text. */
async function rlsState(db: TestDatabase): Promise<string> {
  const { rows } = await db.query<{ line: string }>(`
    SELECT format('policy %s %s %s %s %s using=%s check=%s', schemaname, tablename, policyname, permissive, roles, qual, with_check) AS line
      FROM pg_policies WHERE schemaname IN ('public', 'billing')
    UNION ALL
    SELECT format('table %s rls=%s force=%s truncate=%s', c.oid::regclass, c.relrowsecurity, c.relforcerowsecurity, has_table_privilege('tk_app', c.oid, 'TRUNCATE'))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname IN ('public', 'billing') AND c.relkind = 'r'
    ORDER BY 1`);
  return rows.map((row) => row.line).join('\n');
}

describe('generateMutants on PGlite', () => {
  let kit: Kit;
  let mutants: PolicyMutant[];
  beforeAll(async () => {
    kit = await startKit({ backend: 'pglite', schema: SCHEMA, roles: { appGrants: 'none' } });
    await using db = await kit.acquire();
    mutants = await generateMutants(db, { appRole: 'tk_app' });
  });
  afterAll(async () => {
    await kit?.stop();
  });

  test('one mutant per weakening, none that cannot change what the app role may do', () => {
    expect(mutants.map((mutant) => mutant.id)).toEqual([
      'drop-policy:billing.Invoices:invoices_insert',
      'drop-with-check:billing.Invoices:invoices_insert',
      'drop-policy:billing.Invoices:not_archived',
      'using-true:billing.Invoices:not_archived',
      'restrictive-to-permissive:billing.Invoices:not_archived',
      'roles-public:billing.Invoices:support_read',
      'drop-policy:billing.Invoices:tenant read',
      'using-true:billing.Invoices:tenant read',
      'drop-tenant-condition:billing.Invoices:tenant read:using:1',
      'disable-rls:billing.Invoices',
      'no-force-rls:billing.Invoices',
      'grant-truncate:billing.Invoices',
      // audit_log: no privilege for the app role; only TRUNCATE would give it one.
      'grant-truncate:public.audit_log',
      'drop-policy:public.notes:notes_all',
      'using-true:public.notes:notes_all',
      'drop-with-check:public.notes:notes_all',
      'drop-tenant-condition:public.notes:notes_all:with-check:1',
      'disable-rls:public.notes',
      'drop-policy:public.tags:tags_all',
      'using-true:public.tags:tags_all',
      'disable-rls:public.tags',
      'grant-truncate:public.tags',
    ]);
    expect(new Set(mutants.map((mutant) => mutant.id)).size).toBe(mutants.length);
  });

  test('every mutant names its table and policy, says what it changes and what test would kill it', () => {
    const byId = new Map(mutants.map((mutant) => [mutant.id, mutant]));
    expect(byId.get('drop-tenant-condition:billing.Invoices:tenant read:using:1')).toEqual({
      id: 'drop-tenant-condition:billing.Invoices:tenant read:using:1',
      kind: 'drop-tenant-condition',
      table: 'billing.Invoices',
      policy: 'tenant read',
      sql: `ALTER POLICY "tenant read" ON "billing"."Invoices" USING ((status <> 'void'::text));`,
      description: expect.stringMatching(/^USING of policy "tenant read" on billing\.Invoices without its tenant condition \(tenant_id = \(current_setting\('app\.tenant_id'::text\)\)::uuid\)$/),
      hint: 'no test reads billing.Invoices as another tenant',
    });
    expect(byId.get('roles-public:billing.Invoices:support_read')).toMatchObject({
      sql: 'ALTER POLICY "support_read" ON "billing"."Invoices" TO PUBLIC;',
      hint: 'no test reads billing.Invoices as another tenant (the policy is meant for support only)',
    });
    expect(byId.get('restrictive-to-permissive:billing.Invoices:not_archived')?.sql).toBe(
      `DROP POLICY "not_archived" ON "billing"."Invoices";\nCREATE POLICY "not_archived" ON "billing"."Invoices" AS PERMISSIVE FOR ALL TO PUBLIC USING ((status <> 'archived'::text));`,
    );
    expect(byId.get('grant-truncate:public.tags')).toMatchObject({ sql: 'GRANT TRUNCATE ON "public"."tags" TO "tk_app";', policy: null, hint: expect.stringContaining('TRUNCATE public.tags as the app role') });
    expect(byId.get('drop-with-check:billing.Invoices:invoices_insert')?.hint).toBe('no test inserts a row for another tenant into billing.Invoices');
    expect(byId.get('no-force-rls:billing.Invoices')?.hint).toContain('as its owner (tk_owner)');
    for (const mutant of mutants) {
      expect(mutant.description, mutant.id).not.toContain('\n');
      expect(mutant.hint, mutant.id).toMatch(/^no test /);
    }
  });

  test('every mutant applies as the owner and changes the RLS set-up; each is undone with its test database', async () => {
    await using clean = await kit.acquire();
    const before = await rlsState(clean);
    await clean.release();
    for (const mutant of mutants) {
      await using db = await kit.acquire();
      await db.owner.exec(mutant.sql);
      expect(await rlsState(db), mutant.id).not.toBe(before);
    }
  });

  test('without its tenant condition, a policy lets a tenant read another tenant\'s rows', async () => {
    const mutant = mutants.find((candidate) => candidate.id === 'drop-tenant-condition:billing.Invoices:tenant read:using:1')!;
    const visible = async (db: TestDatabase) =>
      (await db.app.withTenant(ACME, async (tx) => (await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM billing."Invoices" ORDER BY tenant_id')).rows)).map((row) => row.tenant_id);
    await using db = await kit.acquire();
    await db.query(`INSERT INTO billing."Invoices" (tenant_id) VALUES ($1), ($2)`, [ACME, GLOBEX]);
    expect(await visible(db)).toEqual([ACME]);
    await db.owner.exec(mutant.sql);
    expect(await visible(db)).toEqual([ACME, GLOBEX]);
  });
});

test('top-level conjuncts: outer parentheses looked through, OR and single conditions are not an AND', () => {
  expect(topLevelConjuncts(`((tenant_id = (current_setting('app.tenant_id'::text))::uuid) AND (status <> 'void'::text))`)?.map((c) => c.text)).toEqual([
    `(tenant_id = (current_setting('app.tenant_id'::text))::uuid)`,
    `(status <> 'void'::text)`,
  ]);
  expect(topLevelConjuncts(`(a = 1) AND (b BETWEEN 1 AND 2) AND (c IN (1, 2))`)?.map((c) => c.text)).toEqual(['(a = 1)', '(b BETWEEN 1 AND 2)', '(c IN (1, 2))']);
  expect(topLevelConjuncts(`((a = 1) OR ((b = 2) AND (c = 3)))`)).toBeUndefined();
  expect(topLevelConjuncts(`(tenant_id = (current_setting('app.tenant_id'::text))::uuid)`)).toBeUndefined();
  expect(topLevelConjuncts(null)).toBeUndefined();
});
