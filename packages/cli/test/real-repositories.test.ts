import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { tempDir, tenantkit } from './tenantkit-bin.js';

/** A project folder written as its repository lays it out (paths may hold subfolders). */
async function project(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('tenantkit-repo-');
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

interface CheckJson {
  ok: boolean;
  migrations: { version: string; name: string; status: string; problems: string[] }[];
}
interface AuditJson {
  ok: boolean;
  tables: { table: string; kind: string; status: string; checks: Record<string, { status: string; detail: string }> }[];
  findings: { code: string; object: string; severity: string }[];
  error?: { code: string; message: string };
}

// golang-migrate, as a Go service ships it: the first migration creates the login role the app uses
// (with a password in the file) and has an empty down; the second's down forgets a table; the third is fine.
const GOLANG_MIGRATE = {
  'db/migrations/000001_create_app_role.up.sql': "CREATE ROLE app_user LOGIN PASSWORD 'app_password';\n",
  'db/migrations/000001_create_app_role.down.sql': '',
  'db/migrations/000002_tenants.up.sql': [
    'CREATE TABLE tenants (id uuid PRIMARY KEY, name text NOT NULL);',
    'CREATE TABLE projects (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants(id), title text NOT NULL, budget integer NOT NULL DEFAULT 0);',
    'ALTER TABLE projects ENABLE ROW LEVEL SECURITY;',
    "CREATE POLICY tenant_isolation ON projects USING (tenant_id = current_setting('app.tenant_id')::uuid);",
    'GRANT SELECT, INSERT, UPDATE, DELETE ON projects, tenants TO app_user;',
    'GRANT USAGE ON SEQUENCE projects_id_seq TO app_user;',
    '',
  ].join('\n'),
  'db/migrations/000002_tenants.down.sql': 'DROP TABLE projects;\n',
  'db/migrations/000003_notes.up.sql': 'CREATE TABLE notes (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, body text);\n',
  'db/migrations/000003_notes.down.sql': 'DROP TABLE notes;\n',
};

// dbmate with timestamp-dash names and extensions PGlite ships as modules.
const DBMATE = {
  'db/migrations/1700000000001-extensions.sql':
    '-- migrate:up\nCREATE EXTENSION IF NOT EXISTS "uuid-ossp";\nCREATE EXTENSION IF NOT EXISTS citext;\n\n-- migrate:down\nDROP EXTENSION citext;\nDROP EXTENSION "uuid-ossp";\n',
  'db/migrations/1700000000002-accounts.sql': [
    '-- migrate:up',
    'CREATE TABLE accounts (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), email citext NOT NULL);',
    'CREATE TABLE docs (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), account_id uuid NOT NULL REFERENCES accounts(id), body text);',
    'ALTER TABLE docs ENABLE ROW LEVEL SECURITY;',
    'ALTER TABLE docs FORCE ROW LEVEL SECURITY;',
    "CREATE POLICY docs_tenant ON docs USING (account_id = nullif(current_setting('app.account_id', true), '')::uuid);",
    '',
    '-- migrate:down',
    'DROP TABLE docs;',
    'DROP TABLE accounts;',
    '',
  ].join('\n'),
};

// A login role the README has you create by hand, and a signed tenant context set by a SECURITY
// DEFINER function; one table holds one row per tenant (its primary key is the tenant column).
const SIGNED_CONTEXT = {
  'README-setup.sql': "CREATE ROLE web LOGIN PASSWORD 'web';\n",
  'schema.sql': [
    'CREATE SCHEMA app;',
    'CREATE TABLE app.tenants (id uuid PRIMARY KEY, name text NOT NULL);',
    'CREATE TABLE app.invoices (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES app.tenants(id), amount_cents integer NOT NULL, paid boolean NOT NULL DEFAULT false);',
    "CREATE TABLE app.settings (tenant_id uuid PRIMARY KEY REFERENCES app.tenants(id), theme text NOT NULL DEFAULT 'light');",
    'ALTER TABLE app.tenants ENABLE ROW LEVEL SECURITY;',
    'ALTER TABLE app.invoices ENABLE ROW LEVEL SECURITY;',
    'ALTER TABLE app.settings ENABLE ROW LEVEL SECURITY;',
    'CREATE FUNCTION app.set_tenant(tenant uuid, signature text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$',
    'BEGIN',
    "  IF signature IS DISTINCT FROM 'signed:' || tenant::text THEN RAISE EXCEPTION 'bad signature'; END IF;",
    "  PERFORM set_config('app.current_tenant', tenant::text, true);",
    'END $$;',
    "CREATE FUNCTION app.current_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('app.current_tenant', true), '')::uuid $$;",
    'CREATE POLICY t ON app.tenants USING (id = app.current_tenant());',
    'CREATE POLICY i ON app.invoices USING (tenant_id = app.current_tenant());',
    'CREATE POLICY s ON app.settings USING (tenant_id = app.current_tenant());',
    'GRANT USAGE ON SCHEMA app TO web;',
    'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA app TO web;',
    'GRANT USAGE ON ALL SEQUENCES IN SCHEMA app TO web;',
    '',
  ].join('\n'),
};
const SIGNED = "SELECT app.set_tenant($1::uuid, 'signed:' || $1)";

// Supabase style: claims in request.jwt.claims, the role authenticated made by the platform.
const JWT = {
  'setup.sql': 'CREATE ROLE authenticated NOLOGIN;\n',
  'schema.sql': [
    'CREATE TABLE orgs (id uuid PRIMARY KEY, name text NOT NULL);',
    'CREATE TABLE tickets (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs(id), subject text NOT NULL);',
    'ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;',
    'ALTER TABLE tickets ENABLE ROW LEVEL SECURITY;',
    "CREATE POLICY own_org ON orgs TO authenticated USING (id = ((current_setting('request.jwt.claims', true)::jsonb -> 'app_metadata' ->> 'org_id'))::uuid);",
    "CREATE POLICY own_tickets ON tickets TO authenticated USING (org_id = ((current_setting('request.jwt.claims', true)::jsonb -> 'app_metadata' ->> 'org_id'))::uuid);",
    'GRANT SELECT, INSERT, UPDATE, DELETE ON orgs, tickets TO authenticated;',
    '',
  ].join('\n'),
};

const statuses = (output: CheckJson) => output.migrations.map((step) => [step.version, step.status]);

describe.each(['pglite', 'native'])('real repositories on %s', (backend) => {
  test('golang-migrate: every migration is checked on its own; a role-creating first migration runs as the owner', async () => {
    const dir = await project(GOLANG_MIGRATE);
    const result = await tenantkit('migrations', 'check', join(dir, 'db/migrations'), '--backend', backend, '--json');
    expect(result.code, result.stderr).toBe(1);
    const output = JSON.parse(result.stdout) as CheckJson;
    expect(statuses(output)).toEqual([
      ['000001', 'fail'],
      ['000002', 'fail'],
      ['000003', 'pass'],
      ['data', 'skip'],
    ]);
    const [first, second] = output.migrations;
    expect(first!.problems.join('\n')).toMatch(/000001_create_app_role\.down\.sql is empty.*leave behind what the up created: 1 role/s);
    expect(first!.problems.join('\n')).not.toMatch(/permission denied/);
    expect(second!.problems.join('\n')).toMatch(/\+ table public\.tenants/);
    expect(second!.problems.join('\n')).toMatch(/relation "tenants" already exists/);
  });

  test('a down that leaves the role its up created is named', async () => {
    const dir = await project({
      '0001_role.up.sql': 'CREATE ROLE reporting NOLOGIN;\nCREATE TABLE reports (id int PRIMARY KEY);\nGRANT SELECT ON reports TO reporting;\n',
      '0001_role.down.sql': 'DROP TABLE reports;\n',
      '0002_more.up.sql': 'CREATE TABLE more (id int PRIMARY KEY);\n',
      '0002_more.down.sql': 'DROP TABLE more;\n',
    });
    const result = await tenantkit('migrations', 'check', '--migrations', dir, '--backend', backend, '--json');
    expect(result.code, result.stderr).toBe(1);
    const output = JSON.parse(result.stdout) as CheckJson;
    expect(statuses(output)).toEqual([
      ['0001', 'fail'],
      ['0002', 'pass'],
      ['data', 'skip'],
    ]);
    expect(output.migrations[0]!.problems.join('\n')).toMatch(/down leaves behind the role the up created: reporting/);
  });

  test('dbmate with timestamp-dash names and uuid-ossp/citext: checked, seeded and audited alike', async () => {
    const dir = join(await project(DBMATE), 'db/migrations');
    const check = await tenantkit('migrations', 'check', dir, '--format', 'dbmate', '--backend', backend, '--json');
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(statuses(JSON.parse(check.stdout) as CheckJson)).toEqual([
      ['1700000000001', 'pass'],
      ['1700000000002', 'pass'],
      ['data', 'pass'],
    ]);
    const seed = await tenantkit('seed', '--migrations', dir, '--tenant-column', 'account_id', '--backend', backend, '--json');
    expect(seed.code, seed.stderr).toBe(0);
    expect(JSON.parse(seed.stdout).tables.map((table: { table: string }) => table.table)).toEqual(['public.accounts', 'public.docs']);
    const audit = await tenantkit('audit', '--migrations', dir, '--tenant-column', 'account_id', '--app-grants', 'crud', '--backend', backend, '--json');
    const report = JSON.parse(audit.stdout) as AuditJson;
    expect(report.tables.find((table) => table.table === 'public.docs')?.status, audit.stdout).toBe('proven');
  });

  test('--setup gives the role the README creates; --tenant-context-sql sets the tenant through a signed function', async () => {
    const dir = await project(SIGNED_CONTEXT);
    const audit = await tenantkit('audit', '--setup', join(dir, 'README-setup.sql'), '--sql', join(dir, 'schema.sql'), '--app-role', 'web', '--tenant-context-sql', SIGNED, '--backend', backend, '--json');
    const report = JSON.parse(audit.stdout) as AuditJson;
    expect(report.tables.map((table) => [table.table, table.kind, table.status])).toEqual([
      ['app.invoices', 'tenant', 'proven'],
      ['app.settings', 'tenant', 'proven'],
      ['app.tenants', 'tenant-root', 'proven'],
    ]);
    // Owned by the kit's owner, not a superuser: enabled-but-not-forced is judged as in production.
    expect(report.findings.filter((finding) => finding.code === 'TK_RLS_NOT_FORCED').map((finding) => finding.object).sort()).toEqual(['app.invoices', 'app.settings', 'app.tenants']);
    // The same file as a seed source, with the same setup.
    const seed = await tenantkit('seed', '--setup', join(dir, 'README-setup.sql'), '--sql', join(dir, 'schema.sql'), '--backend', backend, '--json');
    expect(seed.code, seed.stderr).toBe(0);
    // Without the setup the schema's GRANT names a role that does not exist.
    const bare = await tenantkit('audit', '--sql', join(dir, 'schema.sql'), '--backend', backend, '--json');
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/role "web" does not exist/);
  });

  test('--jwt-claims sets Supabase-style claims and switches to the role', async () => {
    const dir = await project(JWT);
    const audit = await tenantkit('audit', '--setup', join(dir, 'setup.sql'), '--sql', join(dir, 'schema.sql'), '--app-role', 'authenticated', '--jwt-claims', 'app_metadata.org_id', '--jwt-role', 'authenticated', '--tenant-column', 'org_id', '--backend', backend, '--json');
    const report = JSON.parse(audit.stdout) as AuditJson;
    expect(report.tables.map((table) => [table.table, table.status]), audit.stdout + audit.stderr).toEqual([
      ['public.orgs', 'proven'],
      ['public.tickets', 'proven'],
    ]);
  });
});

describe('sources and flags', () => {
  test('migrations check: --setup runs first; a broken setup file is a setup error (exit 2)', async () => {
    const dir = await project({
      'setup.sql': 'CREATE ROLE reader NOLOGIN;\n',
      'broken-setup.sql': 'CREATE ROLE reader NOLOGIN\nCREATE ROLE writer;\n',
      'migrations/0001_grants.up.sql': 'CREATE TABLE reports (id int PRIMARY KEY);\nGRANT SELECT ON reports TO reader;\n',
      'migrations/0001_grants.down.sql': 'DROP TABLE reports;\n',
    });
    const bare = await tenantkit('migrations', 'check', join(dir, 'migrations'), '--json');
    expect(bare.code).toBe(1);
    expect(bare.stdout).toMatch(/role \\"reader\\" does not exist/);
    const ok = await tenantkit('migrations', 'check', join(dir, 'migrations'), '--setup', join(dir, 'setup.sql'), '--json');
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const broken = await tenantkit('migrations', 'check', join(dir, 'migrations'), '--setup', join(dir, 'broken-setup.sql'), '--json');
    expect(broken.code).toBe(2);
    expect(JSON.parse(broken.stdout).error.file).toBe(join(dir, 'broken-setup.sql'));
  });

  test('a folder with sub-chains is refused, naming them', async () => {
    const dir = await project({
      'migrations/0001_a.up.sql': 'CREATE TABLE a (id int);\n',
      'migrations/0001_a.down.sql': 'DROP TABLE a;\n',
      'migrations/tenant/0001_b.up.sql': 'CREATE TABLE b (id int);\n',
    });
    const result = await tenantkit('migrations', 'check', join(dir, 'migrations'), '--json');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/subfolders with migrations of their own .*migrations\/tenant/);
  });

  test('--migrate-as admin: tables owned by a superuser; bad values are usage errors', async () => {
    const dir = await project(SIGNED_CONTEXT);
    const audit = await tenantkit('audit', '--setup', join(dir, 'README-setup.sql'), '--sql', join(dir, 'schema.sql'), '--app-role', 'web', '--tenant-context-sql', SIGNED, '--migrate-as', 'admin', '--json');
    const report = JSON.parse(audit.stdout) as AuditJson;
    expect(report.tables.every((table) => table.status === 'proven'), audit.stdout).toBe(true);
    expect(report.findings.filter((finding) => finding.code === 'TK_RLS_NOT_FORCED')).toHaveLength(3);
    for (const args of [
      ['audit', '--sql', join(dir, 'schema.sql'), '--migrate-as', 'root'],
      ['seed', '--sql', join(dir, 'schema.sql'), '--format', 'dbmate'],
      ['audit', '--url', 'postgres://localhost/x', '--app-role', 'web', '--setup', join(dir, 'README-setup.sql')],
      ['audit', '--sql', join(dir, 'schema.sql'), '--tenant-context-sql', 'SELECT set_tenant()'],
      ['audit', '--sql', join(dir, 'schema.sql'), '--jwt-role', 'authenticated'],
      ['migrations', 'check', dir, '--sql', join(dir, 'schema.sql')],
    ]) {
      const result = await tenantkit(...args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
    }
  });

  test('an extension PGlite does not ship fails with a named error that says to use native', async () => {
    const dir = await project({ 'schema.sql': 'CREATE EXTENSION postgis;\nCREATE TABLE t (id int PRIMARY KEY);\n' });
    const result = await tenantkit('seed', '--sql', join(dir, 'schema.sql'), '--json');
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout).error.code).toBe('TENANTKIT_PGLITE_EXTENSION_UNAVAILABLE');
    expect(result.stderr).toMatch(/--backend native/);
  });
});
