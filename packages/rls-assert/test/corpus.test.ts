import { type BackendKind, type Kit, startKit } from '@tenantkit/testkit';
import { afterAll, describe, expect, test } from 'vitest';
import { checkIsolation } from '../src/check.js';
import { BypassingIdentityError } from '../src/errors.js';
import { readCorpus } from './corpus.js';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

/**
 * The kit's accuracy, end to end: every corpus schema through the whole checkIsolation (identity
 * guard, catalog audit, seeding, probes). Correct schemas must pass with no error or warning; every
 * leaky one must be flagged: refused, not proven, or carrying its expected findings.
 */
const CORPUS = readCorpus();
const ERROR_CODES = new Set(['TK_RLS_DISABLED', 'TK_POLICY_ALWAYS_TRUE', 'TK_WITH_CHECK_ALWAYS_TRUE', 'TK_POLICY_FAILS_OPEN', 'TK_MATVIEW_EXPOSES_TENANT_DATA', 'TK_TRUNCATE_GRANTED', 'TK_PARTITION_WITHOUT_RLS']);

describe.each(['pglite', 'native'] as BackendKind[])('the corpus through checkIsolation on %s', (backend) => {
  const kits: Kit[] = [];
  afterAll(async () => {
    for (const kit of kits) await kit.stop();
  });

  test.each(CORPUS)('$file', async ({ path, correct, expected, migrateAs }) => {
    const kit = await startKit({ backend, schema: path, poolSize: 0, roles: { appGrants: 'none', migrateAs } });
    kits.push(kit);
    await using db = await kit.acquire();
    const outcome = await checkIsolation(db, { seed: 5 }).catch((error: unknown) => error);
    if (correct) {
      if (outcome instanceof Error) throw outcome;
      const report = outcome as Awaited<ReturnType<typeof checkIsolation>>;
      const failed = report.tables.flatMap((table) => table.checks.filter((check) => check.status === 'fail').map((check) => `${table.table} ${check.check}: ${check.detail}`));
      expect(failed).toEqual([]);
      expect(report.findings.filter((finding) => finding.severity !== 'info').map((finding) => `${finding.code} ${finding.object}`)).toEqual([]);
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
