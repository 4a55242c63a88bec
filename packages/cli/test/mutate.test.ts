import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderMutationHtml, renderMutationText, summarizeMutations } from '@tenantkit/rls-assert';
import { describe, expect, test } from 'vitest';
import { runMutations, withBail } from '../src/mutate/runner.js';
import { tempDir, tenantkit } from './tenantkit-bin.js';

process.env.TENANTKIT_QUIET ??= '1';
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/mutate-suite/${name}`, import.meta.url));
const suite = [process.execPath, fixture('suite.mjs')];

describe('tenantkit mutate: usage', () => {
  test('no test command after -- is a usage error (exit 2), one JSON object with --json', async () => {
    const result = await tenantkit('mutate', '--sql', fixture('schema.sql'), '--json');
    expect(result.code).toBe(2);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, score: null, mutants: [], error: { code: 'TENANTKIT_USAGE', message: expect.stringContaining('put it after --') } });
  });

  test('flags out of range and --url are usage errors before anything runs', async () => {
    for (const [flag, value, message] of [
      ['--jobs', '0', '--jobs must be a whole number from 1 to 64 (plain digits), got "0"'],
      ['--min-score', '120', '--min-score must be a percentage from 0 to 100, got "120"'],
      ['--timeout', 'soon', '--timeout must be a whole number from 1 to 86400 (plain digits), got "soon"'],
    ] as const) {
      const result = await tenantkit('mutate', '--sql', fixture('schema.sql'), flag, value, '--', 'true');
      expect(result.code, flag).toBe(2);
      expect(result.stderr, flag).toContain(message);
    }
    const url = await tenantkit('mutate', '--url', 'postgres://localhost/app', '--', 'true');
    expect(url.code).toBe(2);
    expect(url.stderr).toContain("the mutants are applied in the suite's own databases");
  });

  test('--bail=1 is added to vitest commands that do not set --bail, and only to them', () => {
    expect(withBail(['pnpm', 'exec', 'vitest', 'run'])).toEqual(['pnpm', 'exec', 'vitest', 'run', '--bail=1']);
    expect(withBail(['node_modules/.bin/vitest', 'run', '--bail=3'])).toEqual(['node_modules/.bin/vitest', 'run', '--bail=3']);
    expect(withBail(['node', 'suite.mjs'])).toEqual(['node', 'suite.mjs']);
  });
});

describe('tenantkit mutate: the suite must pass, through the kit, before any mutant', () => {
  test('a suite that fails without mutants is TENANTKIT_SUITE_FAILS_UNMUTATED (exit 2) with its output', async () => {
    const result = await tenantkit('mutate', '--sql', fixture('schema.sql'), '--', process.execPath, '-e', 'console.log("1 test failed"); process.exit(3)');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('TENANTKIT_SUITE_FAILS_UNMUTATED');
    expect(result.stderr).toContain('exit code 3');
    expect(result.stderr).toContain('the suite fails without mutants, fix it first');
    expect(result.stderr).toContain('1 test failed');
  });

  test('a suite that passes without ever starting the kit is TENANTKIT_SUITE_IGNORES_MUTANT (exit 2)', async () => {
    const result = await tenantkit('mutate', '--sql', fixture('schema.sql'), '--json', '--', process.execPath, '-e', '');
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, error: { code: 'TENANTKIT_SUITE_IGNORES_MUTANT' } });
  });
});

test('killed, survived and not run: a crash, a hang and a mutant that does not apply in the suite are never kills', async () => {
  const report = await runMutations({
    kit: { backend: 'native', schema: fixture('schema-with-extra-policy.sql') },
    command: suite,
    env: { ...process.env, SUITE_MISBEHAVES: '1' },
    jobs: 2,
    timeoutMs: 20_000,
  });
  const status = Object.fromEntries(report.mutants.map((mutant) => [mutant.id, mutant.status === 'not-run' ? `not run: ${mutant.reason}` : mutant.status]));
  expect(status).toEqual({
    'roles-public:public.documents:documents_owner_read': expect.stringMatching(/^not run: the mutant did not apply in the suite's kit: The mutant .* failed to apply .*documents_owner_read/),
    'drop-policy:public.documents:documents_tenant': 'killed',
    'using-true:public.documents:documents_tenant': 'killed',
    'drop-with-check:public.documents:documents_tenant': 'survived',
    'drop-tenant-condition:public.documents:documents_tenant:with-check:1': 'survived',
    'disable-rls:public.documents': 'killed',
    'no-force-rls:public.documents': 'not run: timed out after 20 s (the bound per run; raise it with --timeout)',
    'grant-truncate:public.documents': 'not run: the run ended (exit code 7) before any kit started with the mutant',
  });
  expect(summarizeMutations(report)).toEqual({ killed: 3, survived: 2, notRun: 3, score: 60, ok: false });
  const text = renderMutationText(report);
  expect(text).toContain('missing: no test inserts a row for another tenant into public.documents (or moves one there with UPDATE)');
  expect(text).toContain('mutation score 60%: 3 killed, 2 survived, 3 not run of 8 mutants');
  const html = renderMutationHtml(report);
  expect(html).toContain('<tr class="survived"><td>survived</td><td>public.documents</td><td>documents_tenant</td>');
  expect(html).toContain('not run: timed out after 20 s');
});

test('--min-score accepts survivors up to the score; --json prints one object; --html writes the report', async () => {
  const dir = await tempDir('tenantkit-mutate-cli-');
  const html = join(dir, 'report.html');
  const result = await tenantkit('mutate', '--sql', fixture('schema.sql'), '--backend', 'native', '--min-score', '40', '--json', '--html', html, '--', ...suite);
  expect(result.stdout.trim().split('\n'), result.stderr).toHaveLength(1);
  const report = JSON.parse(result.stdout) as { ok: boolean; score: number; minScore: number; survived: number; mutants: { id: string; status: string }[] };
  // The suite only reads as one tenant: writes, FORCE and TRUNCATE go unnoticed.
  expect(report.mutants.filter((mutant) => mutant.status === 'survived').map((mutant) => mutant.id)).toEqual([
    'drop-with-check:public.documents:documents_tenant',
    'drop-tenant-condition:public.documents:documents_tenant:with-check:1',
    'no-force-rls:public.documents',
    'grant-truncate:public.documents',
  ]);
  expect(report).toMatchObject({ ok: true, score: 42.8, minScore: 40 });
  expect(result.code).toBe(0);
  expect(await readFile(html, 'utf8')).toContain('mutation score 42.8% (minimum 40%): 3 killed, 4 survived of 7 mutants');
});
