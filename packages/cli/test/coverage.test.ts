import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/tenantkit.js', import.meta.url));
const vitestBin = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
/** A project whose own vitest suites (suites/*.spec.ts) use the kit as a user's would. */
const project = fileURLToPath(new URL('./fixtures/coverage-project/', import.meta.url));

interface Cell {
  table: string;
  command: string;
  covered: boolean;
  statements: number;
}
interface Policy {
  table: string;
  name: string;
  exercised: boolean;
  gap: string | null;
}
interface CoverageJson {
  ok: boolean;
  verdict: string;
  reason: string | null;
  coverage: number;
  cells: Cell[];
  uncovered: string[];
  policies: Policy[];
  otherTables: { table: string; commands: string[] }[];
  statements: { appWithContext: number; appWithoutContext: number; admin: number; analysed: number };
  testCommand: { passed: boolean; exitCode: number | null };
  error?: { code: string; message: string };
}

/** Runs `tenantkit coverage` in the project on the given suites; never throws on a non-zero exit. */
async function coverage(flags: string[], suites: string[], command: string[] = [process.execPath, vitestBin, 'run', ...suites]) {
  const env = { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: '', NO_COLOR: '1' };
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, 'coverage', '--sql', 'schema.sql', '--setup', 'setup.sql', ...flags, '--', ...command], {
      cwd: project,
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function parsed(result: { stdout: string; stderr: string }): CoverageJson {
  expect(result.stdout.trim().split('\n'), result.stderr).toHaveLength(1);
  return JSON.parse(result.stdout) as CoverageJson;
}

const covered = (report: CoverageJson) => report.cells.filter((cell) => cell.covered).map((cell) => `${cell.table} ${cell.command}`);
const exercised = (report: CoverageJson) => report.policies.filter((policy) => policy.exercised).map((policy) => policy.name);

const SLOW = 600_000;

describe.each(['pglite', 'native'])('tenantkit coverage, suites on %s', (backend) => {
  test(
    'a suite that only reads leaves INSERT, UPDATE and DELETE uncovered; what the admin runs does not count',
    async () => {
      const result = await coverage(['--backend', backend, '--min-coverage', '50', '--json'], ['suites/reads.spec.ts']);
      const report = parsed(result);
      expect(result.code, result.stderr).toBe(1);
      expect(report).toMatchObject({ ok: false, verdict: 'gaps', coverage: 25, testCommand: { passed: true } });
      expect(covered(report)).toEqual(['public.documents SELECT', 'public.notes SELECT']);
      expect(report.uncovered).toEqual([
        'public.documents: INSERT never run as the app role with a tenant context',
        'public.documents: UPDATE never run as the app role with a tenant context',
        'public.documents: DELETE never run as the app role with a tenant context',
        'public.notes: INSERT never run as the app role with a tenant context',
        'public.notes: UPDATE never run as the app role with a tenant context',
        'public.notes: DELETE never run as the app role with a tenant context',
      ]);
      // The admin's UPDATE and DELETE on notes ran, and were counted apart.
      expect(report.statements.admin).toBeGreaterThanOrEqual(5);
      expect(report.statements).toMatchObject({ appWithContext: 2, analysed: 2, appWithoutContext: 1 });
      expect(exercised(report).sort()).toEqual(['documents_tenant', 'notes_read']);
    },
    SLOW,
  );

  test(
    'a complete suite covers every cell; a policy TO another role is never listed as exercised',
    async () => {
      const html = join(tmpdir(), `tenantkit-coverage-${process.pid}-${backend}.html`);
      const result = await coverage(['--backend', backend, '--min-coverage', '100', '--json', '--html', html], ['suites/complete.spec.ts']);
      const report = parsed(result);
      expect(result.code, result.stderr).toBe(0);
      expect(report).toMatchObject({ ok: true, verdict: 'covered', coverage: 100, uncovered: [] });
      // notes is only ever updated inside a data-modifying CTE.
      expect(report.cells.find((cell) => cell.table === 'public.notes' && cell.command === 'UPDATE')).toMatchObject({ covered: true, statements: 1 });
      expect(exercised(report).sort()).toEqual(['documents_tenant', 'notes_change', 'notes_read', 'notes_remove', 'notes_write']);
      const audit = report.policies.find((policy) => policy.name === 'documents_audit');
      expect(audit).toMatchObject({ exercised: false });
      expect(audit?.gap).toContain('applies to coverage_auditor, not to the app role tk_app');
      const page = await readFile(html, 'utf8');
      await rm(html, { force: true });
      expect(page).toContain('Policy coverage 100%: 8 of 8 table x command cells');
      expect(page).toContain('<code>documents_audit</code>');
    },
    SLOW,
  );

  test(
    'a suite that never acts as the app role with a tenant context is not proven, never 100%',
    async () => {
      const result = await coverage(['--backend', backend, '--json'], ['suites/admin-only.spec.ts']);
      const report = parsed(result);
      expect(result.code, result.stderr).toBe(1);
      expect(report).toMatchObject({ ok: false, verdict: 'not-proven', coverage: 0, testCommand: { passed: true } });
      expect(report.reason).toMatch(/^the tests used 1 database\(s\) from the kit but never ran a statement as the app role tk_app with a tenant context \(\d+ as admin, 0 as owner, 1 as the app role without one\)/);
    },
    SLOW,
  );
});

describe('tenantkit coverage', () => {
  test(
    'a statement whose CTE updates another table counts for that table, and only for what it did',
    async () => {
      const report = parsed(await coverage(['--json'], ['suites/cte.spec.ts']));
      expect(covered(report)).toEqual(['public.documents SELECT', 'public.notes UPDATE']);
      expect(report.coverage).toBe(25);
    },
    SLOW,
  );

  test(
    'tests that do not use the kit record nothing: not proven, with the reason',
    async () => {
      const result = await coverage([], ['suites/no-kit.spec.ts']);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toContain('Policy coverage NOT proven: the tests recorded nothing: they never acquired a database from the kit');
    },
    SLOW,
  );

  test(
    'a failing test command still gets its report, and exit 1',
    async () => {
      const result = await coverage([], ['suites/failing.spec.ts']);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('Policy coverage 12.5%: 1 of 8 table x command cells');
      expect(result.stdout).toContain('The test command failed (exit code 1)');
      expect(result.stderr).toContain('the test command failed (exit code 1); its last lines:');
    },
    SLOW,
  );

  test('usage and setup errors are named, exit 2, and keep the JSON shape', async () => {
    const missing = await coverage(['--json'], [], []);
    expect(missing.code).toBe(2);
    expect(parsed(missing)).toMatchObject({ ok: false, verdict: 'not-proven', error: { code: 'TENANTKIT_USAGE' } });
    expect(parsed(missing).error?.message).toContain('missing the test command');
    const percent = await coverage(['--min-coverage', '120', '--json'], [], ['true']);
    expect(percent.code).toBe(2);
    expect(parsed(percent).error?.message).toContain('--min-coverage must be a percentage from 0 to 100, got "120"');
    const absent = await coverage(['--json'], [], ['tenantkit-no-such-command']);
    expect(absent.code).toBe(2);
    expect(parsed(absent).error).toMatchObject({ code: 'TENANTKIT_TEST_COMMAND_DID_NOT_RUN' });
    expect(parsed(absent).error?.message).toContain('could not be started');
    const slow = await coverage(['--timeout', '1', '--json'], [], [process.execPath, '-e', 'setTimeout(() => {}, 30000)']);
    expect(slow.code).toBe(2);
    expect(parsed(slow).error?.message).toContain('timed out after 1.0 s');
  });
});
