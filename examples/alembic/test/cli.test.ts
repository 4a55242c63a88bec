import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

// The same Alembic project from the command line, as a Python team would run it in CI without
// writing any TypeScript: Alembic lists and applies the revisions against the kit's disposable
// databases (DATABASE_URL, which env.py reads), the kit checks each one and audits the head.
const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(dirname(createRequire(import.meta.url).resolve('tenantkit/package.json')), 'bin', 'tenantkit.js');

async function tenantkit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: '' };
  return run(process.execPath, [bin, ...args], { cwd: root, env, maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

const ALEMBIC = ['--alembic', 'alembic.ini', '--python', '/usr/bin/python3'];

describe('the Alembic project through the tenantkit CLI', () => {
  test('migrations check: every revision upgrades, downgrades to the same schema, upgrades again', async () => {
    const { code, stdout, stderr } = await tenantkit('migrations', 'check', ...ALEMBIC, '--json');
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as { ok: boolean; migrations: { version: string; name: string; status: string; problems: string[] }[] };
    expect(report.migrations.map((step) => [step.version, step.name, step.status])).toEqual([
      ['a1f3c2d4e5b6', 'rbac', 'pass'],
      ['b7e9d0c1f2a3', 'permission_enums', 'pass'],
      ['d4f1a8c2e6b9', 'tenant_projects', 'pass'],
      ['data', 'seeded rows carried through base -> head', 'skip'],
    ]);
    // Rows made up from the schema carry no valid permission names, and the enum revision refuses
    // them by design: the chain's data is reported as not proven, with the revision's own words.
    expect(report.migrations[3]!.problems.join('\n')).toContain('permission rows that map to no permission_action/permission_scope label');
  });

  test('audit: the projects table, whose policy reads app.tenant_id, is proven as the app role', async () => {
    const { code, stdout, stderr } = await tenantkit('audit', ...ALEMBIC, '--app-grants', 'crud', '--json');
    expect(code, stderr).toBe(0);
    const report = JSON.parse(stdout) as { ok: boolean; setup: { appRole: string; context: string }; tables: { table: string; status: string }[] };
    expect(report.ok).toBe(true);
    expect(report.setup.context).toContain('app.tenant_id');
    expect(Object.fromEntries(report.tables.map((table) => [table.table, table.status]))).toMatchObject({ 'public.project': 'proven', 'public.permission': 'global' });
  });

  test('on PGlite: refused by name, because Alembic connects by URL', async () => {
    const { code, stderr } = await tenantkit('audit', ...ALEMBIC, '--backend', 'pglite');
    expect(code).toBe(2);
    expect(stderr).toContain('use --backend native');
  });
});
