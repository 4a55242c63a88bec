import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

// A Prisma Migrate project: "tenantId" columns, row level security added by hand in a later
// migration, one table forgotten there. The kit reads the folder as `prisma migrate deploy` applies it.
const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(dirname(createRequire(import.meta.url).resolve('tenantkit/package.json')), 'bin', 'tenantkit.js');

async function tenantkit(...args: string[]): Promise<{ code: number; json: any; stderr: string }> {
  const env = { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: '' };
  const done = await run(process.execPath, [bin, ...args, '--json'], { cwd: root, env, maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
  return { code: done.code, json: JSON.parse(done.stdout), stderr: done.stderr };
}

describe.each(['pglite', 'native'])('the Prisma folder on %s', (backend) => {
  test('audit: the tables the RLS migration covers are proven; the forgotten AuditEvent leaks', async () => {
    const { code, json } = await tenantkit('audit', '--migrations', 'prisma/migrations', '--app-grants', 'crud', '--backend', backend);
    expect(code).toBe(1);
    const status = Object.fromEntries((json.tables as { table: string; status: string }[]).map((table) => [table.table, table.status]));
    expect(status).toEqual({
      'public.AuditEvent': 'failed',
      'public.Comment': 'proven',
      'public.Invoice': 'proven',
      'public.Organization': 'proven',
      'public.Project': 'proven',
    });
    expect(json.setup.context).toContain('app.current_tenant');
    expect((json.findings as { code: string; object: string }[]).filter((finding) => finding.code === 'TK_RLS_DISABLED').map((finding) => finding.object)).toEqual(['public.AuditEvent']);
  });

  test('migrations check: every migration applies on the state before it; none has a down to check', async () => {
    const { code, json } = await tenantkit('migrations', 'check', 'prisma/migrations', '--backend', backend);
    expect(code).toBe(0);
    expect(json.migrations.map((step: { version: string; status: string }) => [step.version, step.status])).toEqual([
      ['20240110093000', 'skip'],
      ['20240215120000', 'skip'],
      ['20240301100000', 'skip'],
      // No down to check: rows seeded after each step go through the next, and none is left without a tenant.
      ['data', 'pass'],
    ]);
  });
});
