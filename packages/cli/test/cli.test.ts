import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/tenantkit.js', import.meta.url));

// The scenario schemas live in the examples that show them.
const scenario = (name: string) => fileURLToPath(new URL(`../../../examples/${name.replace(/\.sql$/, '')}/schema.sql`, import.meta.url));

async function tenantkit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env: { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: '' } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

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
    const dir = await mkdtemp(join(tmpdir(), 'tenantkit-cli-'));
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
    const dir = await mkdtemp(join(tmpdir(), 'tenantkit-audit-'));
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
    const html = join(tmpdir(), `tenantkit-report-${process.pid}.html`);
    const result = await tenantkit('audit', '--sql', file, '--app-role', 'web', '--json', '--html', html);
    expect(result.code, result.stderr).toBe(0);
    const output = JSON.parse(result.stdout) as { ok: boolean; tables: { table: string; kind: string; tenantColumn: string | null; checks: { check: string; status: string; detail: string }[] }[]; findings: unknown[] };
    expect(Object.keys(output).sort()).toEqual(['findings', 'ok', 'tables']);
    expect(output.ok).toBe(true);
    const notes = output.tables.find((table) => table.table === 'public.notes')!;
    expect(notes).toMatchObject({ kind: 'tenant', tenantColumn: 'tenant_id' });
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
    const result = await tenantkit('audit', '--sql', file, '--app-role', 'web', '--json');
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { code: 'TENANTKIT_BYPASSING_IDENTITY' } });
  });

  test('usage errors exit 2', async () => {
    expect((await tenantkit('audit')).code).toBe(2);
    expect((await tenantkit('audit', '--url', 'postgres://u@127.0.0.1/x')).stderr).toContain('--url needs --app-role');
    expect((await tenantkit('audit', '--sql', scenario('superuser-trap.sql'), '--app-role', 'nobody_here')).code).toBe(2);
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
