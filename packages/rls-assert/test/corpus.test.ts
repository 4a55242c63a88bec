import { fileURLToPath } from 'node:url';
import { type BackendKind, type Kit, TenantkitError, startKit } from '@tenantkit/testkit';
import { afterEach, describe, expect, test } from 'vitest';
import { checkIsolation } from '../src/check.js';
import { BypassingIdentityError } from '../src/errors.js';
import type { IsolationReport } from '../src/types.js';
import { readCorpus } from './corpus.js';
import { shareNativeServer } from './shared-server.js';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

/**
 * The kit's accuracy, end to end: every corpus schema through the whole checkIsolation (identity
 * guard, catalog audit, seeding, probes). Correct schemas must pass with no error or warning; every
 * leaky one must be flagged: refused, not proven, or carrying its expected findings.
 */
const CORPUS = readCorpus();
const ERROR_CODES = new Set(['TK_RLS_DISABLED', 'TK_POLICY_ALWAYS_TRUE', 'TK_WITH_CHECK_ALWAYS_TRUE', 'TK_POLICY_FAILS_OPEN', 'TK_MATVIEW_EXPOSES_TENANT_DATA', 'TK_TRUNCATE_GRANTED', 'TK_PARTITION_WITHOUT_RLS']);

const BACKENDS = ['pglite', 'native'] as BackendKind[];

/** Per backend, per schema: every table's status and every cell, or the error code that refused it. */
const verdicts = new Map<BackendKind, Map<string, unknown>>(BACKENDS.map((backend) => [backend, new Map()]));

function cellsOf(outcome: unknown): unknown {
  if (outcome instanceof TenantkitError) return outcome.code;
  if (outcome instanceof Error) return `error: ${outcome.message}`;
  const report = outcome as IsolationReport;
  return { ok: report.ok, tables: report.tables.map((table) => [table.table, table.status, table.checks.map((check) => `${check.check}=${check.status}`)]) };
}

const EXAMPLES = [
  { file: 'examples/saas-documents', options: { schema: fileURLToPath(new URL('../../../examples/saas-documents/schema.sql', import.meta.url)) } },
  { file: 'examples/superuser-trap', options: { schema: fileURLToPath(new URL('../../../examples/superuser-trap/schema.sql', import.meta.url)) } },
  { file: 'examples/quickstart', options: { migrations: fileURLToPath(new URL('../../../examples/quickstart/migrations', import.meta.url)) } },
  { file: 'examples/account-backfill', options: { migrations: fileURLToPath(new URL('../../../examples/account-backfill/migrations', import.meta.url)) } },
];

describe.each(BACKENDS)('the corpus through checkIsolation on %s', (backend) => {
  shareNativeServer(backend);
  const kits: Kit[] = [];
  // Each test's kit stops when the test ends: a PGlite instance holds ~190 MB, a native kit a server.
  afterEach(async () => {
    for (const kit of kits.splice(0)) await kit.stop();
  });

  test.each(EXAMPLES)('$file (for the parity below)', async ({ file, options }) => {
    const kit = await startKit({ backend, ...options, poolSize: 0 });
    kits.push(kit);
    await using db = await kit.acquire();
    verdicts.get(backend)!.set(file, cellsOf(await checkIsolation(db, { seed: 5 }).catch((error: unknown) => error)));
  });

  test.each(CORPUS)('$file', async ({ file, path, correct, expected, migrateAs }) => {
    const kit = await startKit({ backend, schema: path, poolSize: 0, roles: { appGrants: 'none', migrateAs } });
    kits.push(kit);
    await using db = await kit.acquire();
    const outcome = await checkIsolation(db, { seed: 5 }).catch((error: unknown) => error);
    verdicts.get(backend)!.set(file, cellsOf(outcome));
    if (correct) {
      if (outcome instanceof Error) throw outcome;
      const report = outcome as Awaited<ReturnType<typeof checkIsolation>>;
      const failed = report.tables.flatMap((table) => table.checks.filter((check) => check.status === 'fail').map((check) => `${table.table} ${check.check}: ${check.detail}`));
      expect(failed).toEqual([]);
      expect(report.findings.filter((finding) => finding.severity !== 'info').map((finding) => `${finding.code} ${finding.object}`)).toEqual([]);
      const unproven = report.tables.flatMap((table) => table.checks.filter((check) => check.status === 'not-proven').map((check) => `${table.table} ${check.check}: ${check.detail}`));
      expect(unproven).toEqual([]);
      expect(report.ok).toBe(true);
      return;
    }
    if (outcome instanceof BypassingIdentityError) return; // refused: nothing can be proven as this identity
    if (outcome instanceof Error) throw outcome;
    const report = outcome as Awaited<ReturnType<typeof checkIsolation>>;
    const codes = new Set(report.findings.map((finding) => finding.code));
    for (const code of expected) expect(codes, `${code} expected`).toContain(code);
    if (expected.some((code) => ERROR_CODES.has(code))) expect(report.ok).toBe(false);
  });
});

test('PGlite and a native server give every schema the same verdict, table by table and check by check', () => {
  const [pglite, native] = BACKENDS.map((backend) => verdicts.get(backend)!);
  expect(pglite!.size).toBe(CORPUS.length + EXAMPLES.length);
  const differences = [...pglite!.keys()].filter((file) => JSON.stringify(pglite!.get(file)) !== JSON.stringify(native!.get(file)));
  expect(differences.map((file) => ({ file, pglite: pglite!.get(file), native: native!.get(file) }))).toEqual([]);
});
