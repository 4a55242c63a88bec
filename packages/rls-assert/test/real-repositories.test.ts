import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BackendKind, type Kit, startKit } from '@tenantkit/testkit';
import { afterEach, describe, expect, onTestFinished, test } from 'vitest';
import { checkIsolation } from '../src/check.js';
import { customContext } from '../src/context.js';
import type { IsolationReport } from '../src/types.js';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

/** The holes real repositories have, each shaped as such a repository writes it. */
const OWN = "NULLIF(current_setting('app.tenant', true), '')::uuid";

const cells = (report: IsolationReport, table: string) =>
  Object.fromEntries(report.tables.find((entry) => entry.table === table)!.checks.map((check) => [check.check, check.status]));
const codes = (report: IsolationReport, object?: string) =>
  report.findings.filter((finding) => object === undefined || finding.object === object).map((finding) => `${finding.code}:${finding.severity}`);

// A signed tenant context: a SECURITY DEFINER function that checks the signature, pins its
// search_path and is granted only to the app; and a careless twin of it.
const SIGNED = `
CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE invoices (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants(id), amount integer NOT NULL);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY; ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY; ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY own ON tenants USING (id = ${OWN});
CREATE POLICY own ON invoices USING (tenant_id = ${OWN});
CREATE FUNCTION enter_tenant(tenant uuid, signature text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  SET search_path = pg_catalog AS $$
BEGIN
  IF signature IS DISTINCT FROM md5('k3y' || tenant::text) THEN RAISE EXCEPTION 'bad signature'; END IF;
  PERFORM set_config('app.tenant', tenant::text, true);
END $$;
REVOKE EXECUTE ON FUNCTION enter_tenant(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION enter_tenant(uuid, text) TO tk_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, invoices TO tk_app;
GRANT USAGE ON SEQUENCE invoices_id_seq TO tk_app;
`;
const CARELESS = `
CREATE FUNCTION enter_tenant_fast(tenant uuid, signature text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  PERFORM set_config('app.tenant', tenant::text, true);
END $$;
CREATE FUNCTION tenant_name() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$ SELECT name FROM tenants LIMIT 1 $$;
`;
const signed = customContext(
  async (tx, tenant) => {
    await tx.query("SELECT enter_tenant($1::uuid, md5('k3y' || $1))", [tenant]);
  },
  { description: 'enter_tenant(tenant, signature)', settings: ['app.tenant'] },
);

describe.each(['pglite', 'native'] as BackendKind[])('real repositories on %s', (backend) => {
  const kits: Kit[] = [];
  // Each test's kit stops when the test ends: a PGlite instance holds ~190 MB, a native kit a server.
  afterEach(async () => {
    for (const kit of kits.splice(0)) await kit.stop();
  });
  const open = async (schema: string, migrateAs: 'owner' | 'admin' = 'owner') => {
    const kit = await startKit({ backend, schema, poolSize: 0, roles: { appGrants: 'none', migrateAs } });
    kits.push(kit);
    return kit.acquire();
  };

  test('a signed context set through a function is proven; the careless twin is named three ways', async () => {
    await using db = await open(SIGNED);
    const report = await checkIsolation(db, { context: signed, seed: 3 });
    expect(report.tables.map((table) => [table.table, table.status])).toEqual([
      ['public.invoices', 'proven'],
      ['public.tenants', 'proven'],
    ]);
    expect(codes(report)).toEqual([]);
    await using careless = await open(`${SIGNED} ${CARELESS}`);
    const audit = await checkIsolation(careless, { context: signed, seed: 3 });
    expect(codes(audit, 'public.enter_tenant_fast(tenant uuid, signature text)').sort()).toEqual([
      'TK_CONTEXT_SETTER_IGNORES_ARGUMENT:error',
      'TK_SECURITY_DEFINER_PUBLIC_EXECUTE:error',
      'TK_SECURITY_DEFINER_SEARCH_PATH:error',
    ]);
    // Reads a tenant table but not the context: a warning for the path, a warning for PUBLIC.
    expect(codes(audit, 'public.tenant_name()').sort()).toEqual([
      'TK_SECURITY_DEFINER_PUBLIC_EXECUTE:warning',
      'TK_SECURITY_DEFINER_READS_TENANT_TABLE:warning',
      'TK_SECURITY_DEFINER_SEARCH_PATH:warning',
    ]);
    expect(audit.ok).toBe(false);
  });

  test('GRANT ALL: TRUNCATE fails its matrix column, TRIGGER and REFERENCES are named', async () => {
    await using db = await open(SIGNED.replace('GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, invoices TO tk_app;', 'GRANT ALL ON tenants, invoices TO tk_app;'));
    const report = await checkIsolation(db, { context: signed, seed: 3 });
    expect(cells(report, 'public.invoices').truncate).toBe('fail');
    expect(report.tables.find((table) => table.table === 'public.invoices')!.checks.find((check) => check.check === 'truncate')!.detail).toMatch(/removes every tenant's rows/);
    expect(codes(report, 'public.invoices')).toEqual(expect.arrayContaining(['TK_TRUNCATE_GRANTED:error', 'TK_EXCESS_TABLE_PRIVILEGES:warning']));
  });

  test('a materialized view over a tenant table is refreshed after seeding, and its read leak fails', async () => {
    await using db = await open(`${SIGNED}
      CREATE MATERIALIZED VIEW invoice_totals AS SELECT tenant_id, sum(amount) AS total FROM invoices GROUP BY tenant_id;
      GRANT SELECT ON invoice_totals TO tk_app;`);
    const report = await checkIsolation(db, { context: signed, seed: 3 });
    expect(cells(report, 'public.invoice_totals')['read-foreign']).toBe('fail');
    expect(codes(report, 'public.invoice_totals')).toEqual(['TK_MATVIEW_EXPOSES_TENANT_DATA:error']);
    expect(report.ok).toBe(false);
  });

  test('RLS enabled and not forced is a finding whoever owns the table', async () => {
    const unforced = SIGNED.replaceAll(/ALTER TABLE \w+ FORCE ROW LEVEL SECURITY;/g, '');
    for (const migrateAs of ['owner', 'admin'] as const) {
      await using db = await open(unforced, migrateAs);
      const report = await checkIsolation(db, { context: signed, seed: 3 });
      expect(codes(report).filter((code) => code.startsWith('TK_RLS_NOT_FORCED')), migrateAs).toEqual(['TK_RLS_NOT_FORCED:warning', 'TK_RLS_NOT_FORCED:warning']);
    }
  });

  test('probes that do not give up: one row per tenant, composite keys, integer-only columns, a table with no key to the tenants', async () => {
    await using db = await open(`
      CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);
      CREATE TABLE users (id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants(id), email text NOT NULL);
      -- one row per tenant: the tenant column is the primary key
      CREATE TABLE tenant_settings (tenant_id uuid PRIMARY KEY REFERENCES tenants(id), seats integer NOT NULL);
      -- a composite key made only of foreign keys: a copy of the victim's row collides with it
      CREATE TABLE memberships (tenant_id uuid NOT NULL REFERENCES tenants(id), user_id uuid NOT NULL REFERENCES users(id), PRIMARY KEY (tenant_id, user_id));
      -- only integer columns besides the keys, all unique
      CREATE TABLE slots (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants(id), position integer NOT NULL, UNIQUE (tenant_id, position));
      -- no foreign key to the tenants table
      CREATE TABLE audit_events (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT now());
      DO $$ DECLARE t text; BEGIN
        FOREACH t IN ARRAY ARRAY['tenants','users','tenant_settings','memberships','slots','audit_events'] LOOP
          EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
          EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
          EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO tk_app', t);
          EXECUTE format('CREATE POLICY own ON %I USING (%I = ${OWN.replaceAll("'", "''")})', t, CASE WHEN t = 'tenants' THEN 'id' ELSE 'tenant_id' END);
        END LOOP;
      END $$;
      -- the leak: members may be written for any tenant
      CREATE POLICY open_insert ON memberships FOR INSERT WITH CHECK (true);
      GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO tk_app;
    `);
    const report = await checkIsolation(db, { tenantSetting: 'app.tenant', seed: 3 });
    const kinds = Object.fromEntries(report.tables.map((table) => [table.table, `${table.kind}:${table.status}`]));
    expect(kinds).toEqual({
      'public.audit_events': 'tenant:proven',
      'public.memberships': 'tenant:failed',
      'public.slots': 'tenant:proven',
      'public.tenant_settings': 'tenant:proven',
      'public.tenants': 'tenant-root:proven',
      'public.users': 'tenant:proven',
    });
    expect(cells(report, 'public.memberships')['insert-foreign']).toBe('fail');
    // Every column of memberships is a foreign key: nothing can be written without reading one.
    expect(cells(report, 'public.memberships')['update-foreign']).toBe('not-proven');
    expect(cells(report, 'public.slots')['update-foreign']).toBe('pass');
    expect(cells(report, 'public.tenant_settings')['insert-foreign']).not.toBe('n/a');
  });
});

test('a role created with a literal password in a schema file is a finding naming the file and line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tenantkit-password-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'schema.sql');
  const sql = `-- roles\nCREATE ROLE reporting LOGIN PASSWORD 'hunter2';\nCREATE ROLE "Web App" LOGIN;\n${SIGNED}`;
  await writeFile(file, sql);
  const kit = await startKit({ schema: sql, poolSize: 0, roles: { appGrants: 'none' } });
  try {
    await using db = await kit.acquire();
    const report = await checkIsolation(db, { context: signed, seed: 3, sourceFiles: [file] });
    const found = report.findings.filter((finding) => finding.code === 'TK_LITERAL_PASSWORD');
    expect(found.map((finding) => finding.object)).toEqual(['reporting']);
    expect(found[0]!.message).toContain(`${file}:2`);
  } finally {
    await kit.stop();
  }
});
