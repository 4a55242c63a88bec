import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);
const here = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../node_modules/tenantkit/bin/tenantkit.js', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/.bin/vitest', import.meta.url));

interface CoverageJson {
  verdict: string;
  coverage: number;
  uncovered: string[];
  policies: { table: string; name: string; exercised: boolean }[];
}

/** `tenantkit coverage` of one suite, on PGlite (the kit's default backend). */
async function coverage(suite: 'reads' | 'complete'): Promise<CoverageJson> {
  const { stdout } = await run(process.execPath, [cli, 'coverage', '--sql', 'schema.sql', '--json', '--', vitest, 'run', '--config', `suites/${suite}/vitest.config.ts`], { cwd: here, maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as CoverageJson;
}

const unexercised = (report: CoverageJson) => report.policies.filter((entry) => !entry.exercised).map((entry) => `${entry.table} ${entry.name}`);

test('the reads-only suite never writes as the app role: every INSERT, UPDATE and DELETE cell is a gap', async () => {
  const report = await coverage('reads');
  expect(report.verdict).toBe('gaps');
  expect(report.coverage).toBe(25);
  expect(report.uncovered).toEqual(
    ['invoices', 'notes', 'projects'].flatMap((table) => ['INSERT', 'UPDATE', 'DELETE'].map((command) => `public.${table}: ${command} never run as the app role with a tenant context`)),
  );
  // The auditors' policy applies to another role: no statement of the app role is subject to it.
  expect(unexercised(report)).toEqual(['public.invoices invoices_insert', 'public.invoices invoices_locked', 'public.invoices invoices_update', 'public.notes notes_auditor']);
});

test('the complete suite kills every mutant and still leaves three cells no policy decides', async () => {
  const report = await coverage('complete');
  expect(report.coverage).toBe(75);
  expect(report.uncovered).toEqual([
    'public.invoices: DELETE never run as the app role with a tenant context',
    'public.projects: INSERT never run as the app role with a tenant context',
    'public.projects: UPDATE never run as the app role with a tenant context',
  ]);
  expect(unexercised(report)).toEqual(['public.notes notes_auditor']);
});
