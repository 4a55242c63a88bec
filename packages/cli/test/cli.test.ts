import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

const scenario = (name: string) => fileURLToPath(new URL(`../../fixtures/test/fixtures/scenarios/${name}`, import.meta.url));

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
