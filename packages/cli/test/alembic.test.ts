import { chmod, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { tenantkit } from './tenantkit-bin.js';

// Alembic from Debian's python3-alembic, which CI installs: without it these fail, they do not skip.
const PYTHON = '/usr/bin/python3';
const example = fileURLToPath(new URL('../../../examples/alembic/', import.meta.url));
const made: string[] = [];
afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

/** A copy of examples/alembic to change, as a project of one's own. */
async function project(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tk-alembic-'));
  made.push(dir);
  await cp(join(example, 'alembic.ini'), join(dir, 'alembic.ini'));
  await cp(join(example, 'alembic'), join(dir, 'alembic'), { recursive: true, filter: (source) => !source.includes('__pycache__') });
  return dir;
}

describe('migrations check --alembic', () => {
  test('lists the revisions through Alembic and checks each: upgrade, downgrade, upgrade (exit 0)', async () => {
    const result = await tenantkit('migrations', 'check', '--alembic', join(example, 'alembic.ini'), '--python', PYTHON, '--json');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { ok: boolean; migrations: { version: string; name: string; status: string; problems: string[] }[] };
    expect(report.migrations.map((step) => [step.version, step.name, step.status])).toEqual([
      ['a1f3c2d4e5b6', 'rbac', 'pass'],
      ['b7e9d0c1f2a3', 'permission_enums', 'pass'],
      ['d4f1a8c2e6b9', 'tenant_projects', 'pass'],
      ['data', 'seeded rows carried through base -> head', 'skip'],
    ]);
    expect(report.ok).toBe(true);
    // The enum migration refuses labels it cannot map, and made-up rows have none: not proven, said why.
    expect(report.migrations[3]!.problems.join('\n')).toMatch(/not checked past b7e9d0c1f2a3 permission_enums: it fails on the rows seeded from the schema .*map to no permission_action/);
  });

  test('a revision whose downgrade leaves a table behind fails that step, naming it (exit 1)', async () => {
    const dir = await project();
    await writeFile(
      join(dir, 'alembic/versions/c3d4e5f6a7b8_audit.py'),
      `"""audit: an audit table whose downgrade forgets it\n\nRevision ID: c3d4e5f6a7b8\nRevises: d4f1a8c2e6b9\n"""\nfrom alembic import op\n\nrevision = "c3d4e5f6a7b8"\ndown_revision = "d4f1a8c2e6b9"\nbranch_labels = None\ndepends_on = None\n\n\ndef upgrade():\n    op.execute("CREATE TABLE audit_entry (id bigint PRIMARY KEY, tenant_id uuid NOT NULL)")\n\n\ndef downgrade():\n    pass\n`,
    );
    const result = await tenantkit('migrations', 'check', '--alembic', join(dir, 'alembic.ini'), '--python', PYTHON, '--json');
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as { migrations: { version: string; status: string; problems: string[] }[] };
    const step = report.migrations.find((entry) => entry.version === 'c3d4e5f6a7b8');
    expect(step?.status).toBe('fail');
    expect(step?.problems.join('\n')).toContain('table public.audit_entry');
  });

  test("an env.py that reads its own variable works once it is named (--alembic-url-env)", async () => {
    const dir = await project();
    const envPy = join(dir, 'alembic/env.py');
    await writeFile(envPy, (await readFile(envPy, 'utf8')).replaceAll('os.environ.get("DATABASE_URL")', 'os.environ.get("APP_DB_URL")'));
    const without = await tenantkit('migrations', 'check', '--alembic', join(dir, 'alembic.ini'), '--python', PYTHON);
    // Alembic itself fails the first upgrade, and the report shows its own words.
    expect(without.code).toBe(1);
    expect(without.stdout).toContain('DATABASE_URL is not set');
    const named = await tenantkit('migrations', 'check', '--alembic', join(dir, 'alembic.ini'), '--python', PYTHON, '--alembic-url-env', 'APP_DB_URL');
    expect(named.code, named.stderr).toBe(0);
  });

  test('no Python, no Alembic, or PGlite: usage errors that say what to install or use (exit 2)', async () => {
    const ini = join(example, 'alembic.ini');
    const noPython = await tenantkit('migrations', 'check', '--alembic', ini, '--python', '/nonexistent/python3');
    expect(noPython.code).toBe(2);
    expect(noPython.stderr).toContain('pip install alembic');
    const dir = await mkdtemp(join(tmpdir(), 'tk-python-'));
    made.push(dir);
    const fake = join(dir, 'python3');
    await writeFile(fake, '#!/bin/sh\necho "/usr/bin/python3: No module named alembic" >&2\nexit 1\n');
    await chmod(fake, 0o755);
    const noAlembic = await tenantkit('audit', '--alembic', ini, '--python', fake);
    expect(noAlembic.code).toBe(2);
    expect(noAlembic.stderr).toContain('has no Alembic (No module named alembic)');
    const pglite = await tenantkit('audit', '--alembic', ini, '--backend', 'pglite');
    expect(pglite.code).toBe(2);
    expect(pglite.stderr).toContain('use --backend native');
  });
});
