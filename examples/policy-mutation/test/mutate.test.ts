import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);
const here = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../node_modules/tenantkit/bin/tenantkit.js', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/.bin/vitest', import.meta.url));

interface MutantJson {
  id: string;
  status: 'killed' | 'survived' | 'not-run';
  table: string;
  policy: string | null;
  hint: string;
}
interface MutateJson {
  ok: boolean;
  score: number | null;
  killed: number;
  survived: number;
  notRun: number;
  mutants: MutantJson[];
}

/** `tenantkit mutate` on the schema, with one suite as the test command, on throwaway local servers. */
async function mutate(suite: 'reads' | 'complete'): Promise<{ code: number; report: MutateJson; stderr: string }> {
  const args = [cli, 'mutate', '--sql', 'schema.sql', '--backend', 'native', '--json', '--', vitest, 'run', '--config', `suites/${suite}/vitest.config.ts`];
  try {
    const { stdout, stderr } = await run(process.execPath, args, { cwd: here, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, report: JSON.parse(stdout) as MutateJson, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    if (typeof failed.code !== 'number' || failed.stdout === '') throw error;
    return { code: failed.code, report: JSON.parse(failed.stdout) as MutateJson, stderr: failed.stderr };
  }
}

test('the reads-only suite lets exactly the writes, TRUNCATE and owner mutants survive', async () => {
  const { code, report, stderr } = await mutate('reads');
  expect(report.notRun, stderr).toBe(0);
  expect(code).toBe(1);
  expect(report.mutants.filter((mutant) => mutant.status === 'survived').map((mutant) => mutant.id)).toEqual([
    'drop-policy:public.invoices:invoices_insert',
    'drop-with-check:public.invoices:invoices_insert',
    'drop-policy:public.invoices:invoices_locked',
    'using-true:public.invoices:invoices_locked',
    'restrictive-to-permissive:public.invoices:invoices_locked',
    'drop-policy:public.invoices:invoices_update',
    'using-true:public.invoices:invoices_update',
    'no-force-rls:public.invoices',
    'grant-truncate:public.invoices',
    'drop-with-check:public.notes:notes_tenant',
    'drop-tenant-condition:public.notes:notes_tenant:with-check:1',
    'grant-truncate:public.notes',
    'no-force-rls:public.projects',
    'grant-truncate:public.projects',
  ]);
  expect(report.mutants.filter((mutant) => mutant.status === 'killed').map((mutant) => mutant.id)).toEqual([
    'drop-policy:public.invoices:invoices_read',
    'using-true:public.invoices:invoices_read',
    'drop-tenant-condition:public.invoices:invoices_read:using:1',
    'disable-rls:public.invoices',
    'roles-public:public.notes:notes_auditor',
    'drop-policy:public.notes:notes_tenant',
    'using-true:public.notes:notes_tenant',
    'disable-rls:public.notes',
    'drop-policy:public.projects:projects_tenant',
    'using-true:public.projects:projects_tenant',
    'disable-rls:public.projects',
  ]);
  expect(report.score).toBe(44);
  expect(report.mutants.find((mutant) => mutant.id === 'grant-truncate:public.notes')?.hint).toBe(
    "no test tries TRUNCATE public.notes as the app role (TRUNCATE ignores RLS and empties every tenant's rows)",
  );
});

test('the complete suite kills every mutant', async () => {
  const { code, report, stderr } = await mutate('complete');
  expect(report.mutants.filter((mutant) => mutant.status !== 'killed').map((mutant) => `${mutant.id}: ${mutant.status}`), stderr).toEqual([]);
  expect(report).toMatchObject({ ok: true, score: 100, killed: 25, survived: 0, notRun: 0 });
  expect(code).toBe(0);
});
