import { fileURLToPath } from 'node:url';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { run, tempDir, tenantkit } from './tenantkit-bin.js';

// The scenario schemas live in the examples that show them.
const scenario = (name: string) => fileURLToPath(new URL(`../../../examples/${name.replace(/\.sql$/, '')}/schema.sql`, import.meta.url));

describe('tenantkit bin', () => {
  test('--help lists the commands and exits 0', async () => {
    const result = await tenantkit('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/audit[\s\S]*seed[\s\S]*migrations check/);
  });

  test('the workspace links the bin, so `pnpm exec tenantkit` works at the root', async () => {
    const linked = fileURLToPath(new URL('../../../node_modules/.bin/tenantkit', import.meta.url));
    const { stdout } = await run(linked, ['--version']);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('--version prints the package version', async () => {
    const result = await tenantkit('--version');
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('an unknown command is a usage error (exit 2)', async () => {
    const result = await tenantkit('frobnicate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "frobnicate"');
  });
});

describe('tenantkit seed', () => {
  test('--json prints exactly one object: every tenant-scoped table seeded for both tenants', async () => {
    const result = await tenantkit('seed', '--sql', scenario('saas-documents.sql'), '--tenants', '2', '--rows', '3', '--seed', '7', '--json');
    expect(result.code, result.stderr).toBe(0);
    const output = JSON.parse(result.stdout) as {
      seed: number;
      tenants: string[];
      tables: { table: string; kind: string; rows: number; perTenant?: Record<string, number> }[];
    };
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(Object.keys(output).sort()).toEqual(['seed', 'tables', 'tenants']);
    expect(output.seed).toBe(7);
    expect(output.tenants).toHaveLength(2);
    const kinds = Object.fromEntries(output.tables.map((table) => [table.table, table.kind]));
    expect(kinds).toMatchObject({ 'public.tenants': 'tenant-root', 'public.documents': 'tenant', 'public.templates': 'global' });
    for (const table of output.tables) {
      expect(Object.keys(table).sort()).toEqual(table.kind === 'global' ? ['kind', 'rows', 'table'] : ['kind', 'perTenant', 'rows', 'table']);
      if (table.kind === 'global') continue;
      expect(Object.keys(table.perTenant!).sort()).toEqual([...output.tenants].sort());
      for (const tenant of output.tenants) expect(table.perTenant![tenant], `${table.table}`).toBeGreaterThan(0);
    }
  });

  test('the same seed prints the same world', async () => {
    const a = await tenantkit('seed', '--sql', scenario('superuser-trap.sql'), '--seed', '3', '--json');
    const b = await tenantkit('seed', '--sql', scenario('superuser-trap.sql'), '--seed', '3', '--json');
    expect(a.code, a.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
  });

  test('a table that cannot be seeded exits 1 and says which and why', async () => {
    const dir = await tempDir('tenantkit-cli-');
    const file = join(dir, 'impossible.sql');
    await writeFile(file, "CREATE TABLE gauges (id int PRIMARY KEY, level int NOT NULL CHECK (level > 10 AND level < 5));\n");
    const result = await tenantkit('seed', '--sql', file, '--json');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'TENANTKIT_UNSATISFIABLE_CHECK' } });
    expect(result.stderr).toContain('public.gauges');
  });

  test('usage and setup errors exit 2', async () => {
    expect((await tenantkit('seed')).code).toBe(2);
    expect((await tenantkit('seed', '--sql', '/nonexistent.sql')).stderr).toContain('no such file');
    expect((await tenantkit('seed', '--sql', scenario('superuser-trap.sql'), '--tenants', 'two')).code).toBe(2);
    expect((await tenantkit('seed', '--url', 'postgres://u@db.example.com/x')).code).toBe(2);
    const broken = await tenantkit('seed', '--migrations', '/nonexistent-dir');
    expect(broken.code).toBe(2);
  });
});

describe('tenantkit audit', () => {
  const schema = async (name: string, sql: string) => {
    const dir = await tempDir('tenantkit-audit-');
    const file = join(dir, name);
    await writeFile(file, sql);
    return file;
  };
  const TENANTS = `CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);
    ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
    CREATE POLICY own ON tenants USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
    CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, body text NOT NULL);
    ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
    CREATE ROLE web LOGIN NOSUPERUSER NOBYPASSRLS;
    GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, notes TO web;`;

  test('--json follows the contract; an isolated schema exits 0, and --html writes a page', async () => {
    const file = await schema('isolated.sql', `${TENANTS}\nCREATE POLICY own ON notes USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);`);
    const html = join(await tempDir('tenantkit-report-'), 'report.html');
    const result = await tenantkit('audit', '--sql', file, '--app-role', 'web', '--json', '--html', html);
    expect(result.code, result.stderr).toBe(0);
    const output = JSON.parse(result.stdout) as {
      ok: boolean;
      setup: Record<string, string>;
      tables: { table: string; kind: string; tenantColumn: string | null; status: string; checks: { check: string; status: string; detail: string }[] }[];
      findings: unknown[];
    };
    expect(Object.keys(output).sort()).toEqual(['findings', 'ok', 'setup', 'tables']);
    expect(output.ok).toBe(true);
    expect(output.setup).toEqual({ appRole: 'web', context: 'SET LOCAL app.tenant_id = <tenant>', backend: 'pglite' });
    const notes = output.tables.find((table) => table.table === 'public.notes')!;
    expect(notes).toMatchObject({ kind: 'tenant', tenantColumn: 'tenant_id', status: 'proven' });
    expect(notes.checks.map((check) => check.check)).toContain('read-foreign');
    for (const check of notes.checks) expect(Object.keys(check).sort()).toEqual(['check', 'detail', 'status']);
    expect(notes.checks.find((check) => check.check === 'read-foreign')?.status).toBe('pass');
    const page = await readFile(html, 'utf8');
    expect(page).toContain('<table class="matrix">');
    expect(page).toContain('public.notes');
  });

  test('a leaking schema exits 1 and names the failed check', async () => {
    const file = await schema('leaky.sql', `${TENANTS}\nCREATE POLICY own ON notes USING (true);`);
    const result = await tenantkit('audit', '--sql', file, '--app-role', 'web');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Isolation NOT proven');
    expect(result.stdout).toMatch(/FAIL public\.notes read-foreign/);
    expect(result.stdout).toContain('TK_POLICY_ALWAYS_TRUE');
  });

  test('an app role that bypasses RLS is refused: exit 1, nothing proven', async () => {
    const file = await schema('bypass.sql', `${TENANTS}\nCREATE POLICY own ON notes USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);\nALTER ROLE web BYPASSRLS;`);
    // Only a superuser may hand out BYPASSRLS: as the kit's owner the schema stops there, naming the way out.
    const asOwner = await tenantkit('audit', '--sql', file, '--app-role', 'web', '--json');
    expect(asOwner.code).toBe(2);
    expect(asOwner.stderr).toMatch(/BYPASSRLS[\s\S]*--migrate-as admin/);
    const result = await tenantkit('audit', '--sql', file, '--app-role', 'web', '--migrate-as', 'admin', '--json');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { code: 'TENANTKIT_BYPASSING_IDENTITY' } });
  });

  test('usage errors exit 2', async () => {
    expect((await tenantkit('audit')).code).toBe(2);
    expect((await tenantkit('audit', '--url', 'postgres://u@127.0.0.1/x')).stderr).toContain('--url needs --app-role');
    expect((await tenantkit('audit', '--sql', scenario('superuser-trap.sql'), '--app-role', 'nobody_here')).code).toBe(2);
  });

  // Migrations that leave the grants to a deployment script: the usual case in real repositories.
  const UNGRANTED = `CREATE TABLE teams (team_id uuid PRIMARY KEY, name text NOT NULL);
    CREATE TABLE invoices (invoice_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), team_id uuid NOT NULL REFERENCES teams, total numeric(10,2) NOT NULL DEFAULT 0);
    ALTER TABLE teams ENABLE ROW LEVEL SECURITY; ALTER TABLE teams FORCE ROW LEVEL SECURITY;
    ALTER TABLE invoices ENABLE ROW LEVEL SECURITY; ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
    CREATE POLICY own ON teams USING (team_id = NULLIF(current_setting('app.team', true), '')::uuid);
    CREATE POLICY own ON invoices USING (team_id = NULLIF(current_setting('app.team', true), '')::uuid);
    CREATE ROLE billing_app LOGIN NOSUPERUSER NOBYPASSRLS;`;

  test('nothing granted to the app role: not proven (exit 1), the reason and both ways out named, for the role given', async () => {
    const file = await schema('ungranted.sql', UNGRANTED);
    const result = await tenantkit('audit', '--sql', file, '--app-role', 'billing_app', '--json');
    expect(result.code, result.stderr).toBe(1);
    const output = JSON.parse(result.stdout) as { ok: boolean; tables: { table: string; status: string; checks: { check: string; status: string; detail: string }[] }[]; findings: { code: string; hint: string }[] };
    expect(output.ok).toBe(false);
    const invoices = output.tables.find((table) => table.table === 'public.invoices')!;
    expect(invoices.status).toBe('not-proven');
    expect(invoices.checks.find((check) => check.check === 'read-own')).toMatchObject({ status: 'not-proven' });
    expect(invoices.checks.find((check) => check.check === 'read-own')!.detail).toMatch(/billing_app has no SELECT on public\.invoices[\s\S]*--app-grants crud[\s\S]*--app-role/);
    expect(result.stdout).not.toMatch(/\btk_app\b/);
    expect(output.findings.map((finding) => finding.code)).toContain('TK_APP_ROLE_REACHES_NO_TENANT_TABLE');
    const text = await tenantkit('audit', '--sql', file, '--app-role', 'billing_app');
    expect(text.stdout).toContain('Isolation NOT proven');
    expect(text.stdout).toMatch(/public\.invoices\s+tenant\s+not-proven\s+\?\?/);
    expect(text.stdout).toContain('App role: billing_app');
  });

  test('--app-grants crud grants what a deployment would, and the same migrations are proven (exit 0)', async () => {
    const file = await schema('ungranted.sql', UNGRANTED);
    const result = await tenantkit('audit', '--sql', file, '--app-role', 'billing_app', '--app-grants', 'crud');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('Isolation proven for 2 tenant-scoped table(s)');
    expect((await tenantkit('audit', '--sql', file, '--app-grants', 'everything')).code).toBe(2);
  });

  test('options that name nothing exit 2 with a code and what exists', async () => {
    const file = await schema('ungranted.sql', UNGRANTED);
    const cases: [string[], string, string][] = [
      [['--tenant-column', 'teamid'], 'TENANTKIT_UNKNOWN_TENANT_COLUMN', 'team_id'],
      [['--global', 'public.invoice'], 'TENANTKIT_UNKNOWN_TABLE', 'public.invoices'],
      [['--tenant-setting', 'app.team_id'], 'TENANTKIT_UNKNOWN_TENANT_SETTING', 'app.team'],
      [['--app-role', 'billing'], 'TENANTKIT_UNKNOWN_ROLE', 'billing_app'],
      [['--allow-not-proven', 'invoices:read-own'], 'TENANTKIT_UNKNOWN_CHECK', 'invoices:read-foreign'],
    ];
    for (const [args, code, existing] of cases) {
      const result = await tenantkit('audit', '--sql', file, '--app-grants', 'crud', ...args, '--json');
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      const output = JSON.parse(result.stdout) as { ok: boolean; error: { code: string; message: string } };
      expect(output).toMatchObject({ ok: false, error: { code } });
      expect(output.error.message).toContain(existing);
    }
  });

  test('--allow-not-proven accepts a named gap, which stays listed; --html into a missing directory exits 2', async () => {
    const file = await schema('ungranted.sql', `${UNGRANTED}
      CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'invoices are never deleted'; END $$;
      CREATE TRIGGER keep BEFORE DELETE ON invoices FOR EACH ROW EXECUTE FUNCTION keep();`);
    const refused = await tenantkit('audit', '--sql', file, '--app-role', 'billing_app', '--app-grants', 'crud');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/NOT PROVEN public\.invoices delete-unfiltered/);
    const accepted = await tenantkit('audit', '--sql', file, '--app-role', 'billing_app', '--app-grants', 'crud', '--allow-not-proven', 'invoices:delete-unfiltered', '--allow-not-proven', 'teams:delete-unfiltered');
    expect(accepted.code, accepted.stdout).toBe(0);
    expect(accepted.stdout).toMatch(/ACCEPTED public\.invoices delete-unfiltered/);
    const html = await tenantkit('audit', '--sql', file, '--app-role', 'billing_app', '--html', join(tmpdir(), 'no-such-dir', 'r.html'), '--json');
    expect(html.code).toBe(2);
    expect(JSON.parse(html.stdout)).toMatchObject({ ok: false, error: { code: 'TENANTKIT_OUTPUT_UNWRITABLE' } });
  });
});

describe('tenantkit migrations check', () => {
  const corpus = (name: string) => fileURLToPath(new URL(`../../testkit/test/fixtures/migration-corpus/${name}`, import.meta.url));

  test('--json: a correct set passes every step (exit 0)', async () => {
    const result = await tenantkit('migrations', 'check', corpus('ok-02-enum-refactor'), '--json');
    expect(result.code, result.stderr).toBe(0);
    const output = JSON.parse(result.stdout) as { ok: boolean; migrations: { version: string; name: string; status: string; problems: string[] }[]; error: unknown };
    expect(Object.keys(output).sort()).toEqual(['error', 'migrations', 'ok']);
    expect(output.ok).toBe(true);
    expect(output.error).toBeNull();
    expect(output.migrations.length).toBeGreaterThanOrEqual(2);
    for (const step of output.migrations) expect(Object.keys(step).sort()).toEqual(['name', 'problems', 'status', 'version']);
  });

  test('a down that leaves an index behind fails that step with the diff (exit 1)', async () => {
    const result = await tenantkit('migrations', 'check', corpus('broken-01-leaves-index'));
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('FAIL');
    expect(result.stdout).toContain('+ index public.documents_tenant_id_idx');
  });

  test('an SQL error names the file and line (exit 1)', async () => {
    const result = await tenantkit('migrations', 'check', corpus('broken-11-reapply-table-exists'), '--json');
    expect(result.code).toBe(1);
    const output = JSON.parse(result.stdout) as { ok: boolean; error: { file: string; line: number; message: string } };
    expect(output.ok).toBe(false);
    expect(output.error.file).toMatch(/0002_audit_log\.up\.sql$/);
    expect(output.error.line).toBeGreaterThan(0);
  });

  test('usage and setup errors exit 2', async () => {
    expect((await tenantkit('migrations')).code).toBe(2);
    expect((await tenantkit('migrations', 'check')).code).toBe(2);
    const missing = await tenantkit('migrations', 'check', '/nonexistent-migrations', '--json');
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, migrations: [], error: { file: '/nonexistent-migrations', line: 0, message: expect.stringContaining('no such directory') } });
  });
});
