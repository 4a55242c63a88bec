import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

// A Supabase project as `supabase init` lays it out: supabase/config.toml beside
// supabase/migrations/<timestamp>_<name>.sql, policies on auth.uid() through a membership table,
// and one deliberate hole (invoices readable by any signed-in user). The kit builds the platform
// the migrations expect (the supabase preset, the default for this layout) and probes as
// `authenticated`, one user per organisation.
const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(dirname(createRequire(import.meta.url).resolve('tenantkit/package.json')), 'bin', 'tenantkit.js');

async function tenantkit(...args: string[]): Promise<{ code: number; json: any; stderr: string }> {
  return tenantkitWith({ TENANTKIT_QUIET: '1' }, ...args);
}

async function tenantkitWith(vars: Record<string, string>, ...args: string[]): Promise<{ code: number; json: any; stderr: string }> {
  const env = { ...process.env, TENANTKIT_QUIET: '', TENANTKIT_BACKEND: '', ...vars };
  const done = await run(process.execPath, [bin, ...args, '--json'], { cwd: root, env, maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
  return { code: done.code, json: JSON.parse(done.stdout), stderr: done.stderr };
}

describe.each(['pglite', 'native'])('the Supabase project on %s', (backend) => {
  test('audit: membership tables proven per organisation user; the invoices hole fails', async () => {
    const { code, json } = await tenantkit('audit', '--migrations', 'supabase/migrations', '--backend', backend);
    expect(code).toBe(1);
    const status = Object.fromEntries((json.tables as { table: string; status: string }[]).map((table) => [table.table, table.status]));
    expect(status).toEqual({
      'auth.users': 'global',
      'cron.job': 'global',
      'public.invoices': 'failed',
      'public.memberships': 'proven',
      'public.organizations': 'proven',
      'public.profiles': 'global',
      'public.projects': 'proven',
      'public.tasks': 'proven',
    });
    // The platform's tables (auth, and the pg_cron stand-in's) are not the project's to isolate.
    const cron = (json.tables as { table: string; checks: { detail: string }[] }[]).find((table) => table.table === 'cron.job')!;
    expect(cron.checks[0]!.detail).toMatch(/platform's table \(Supabase cron schema\)/);
    const invoices = (json.tables as { table: string; checks: { check: string; status: string }[] }[]).find((table) => table.table === 'public.invoices')!;
    expect(invoices.checks.filter((check) => check.status === 'fail').map((check) => check.check)).toEqual(['read-foreign', 'no-context']);
    expect(json.setup.appRole).toBe('authenticated');
    expect(json.setup.context).toContain('public.memberships.user_id');
    // The revoke_truncate migration took TRUNCATE back from the API roles; anon reaches nothing.
    const codes = (json.findings as { code: string }[]).map((finding) => finding.code);
    expect(codes).not.toContain('TK_TRUNCATE_GRANTED');
    expect(codes.filter((entry) => entry.startsWith('TK_ANON'))).toEqual([]);
  });

  test('migrations check: every migration applies on the state before it; none has a down to check', async () => {
    const { code, json, stderr } = await tenantkitWith({}, 'migrations', 'check', 'supabase/migrations', '--backend', backend);
    expect(code).toBe(0);
    // pg_cron is the platform's: a stand-in records the job, and says so.
    expect(stderr).toMatch(/pg_cron is not available on this server: a stand-in was created instead.*no job ever runs/);
    expect(json.migrations.map((step: { version: string; status: string }) => [step.version, step.status])).toEqual([
      ['20240312093000', 'skip'],
      ['20240312094500', 'skip'],
      ['20240320120000', 'skip'],
      ['20240402081500', 'skip'],
      ['20240415170000', 'skip'],
      ['20240501080000', 'skip'],
      // No down to check: rows seeded after each step go through the next, and none is left without an organisation.
      ['data', 'pass'],
    ]);
  });
});

test('without the preset the folder cannot be applied, and the error says why', async () => {
  const { code, json } = await tenantkit('audit', '--migrations', 'supabase/migrations', '--preset', 'none');
  expect(code).toBe(2);
  expect(json.error.code).toBe('TENANTKIT_MIGRATION_FAILED');
  expect(json.error.message).toMatch(/auth/);
});
