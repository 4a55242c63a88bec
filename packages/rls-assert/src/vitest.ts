import type { TestDatabase } from '@tenantkit/testkit';
import { expect } from 'vitest';
import { type CheckIsolationOptions, checkIsolation } from './check.js';
import { renderMatrix } from './report.js';
import type { Finding, Severity } from './types.js';

/** What each matcher returns to vitest's expect. */
export interface MatcherResult {
  pass: boolean;
  message: () => string;
  actual?: unknown;
  expected?: unknown;
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

/**
 * `await expect(db).toBeIsolated(options?)` and `await expect(db).toHaveNoRlsFindings({ severity })`.
 * Failures show the matrix, and actual/expected so the runner prints a diff of the failed cells.
 */
export const rlsMatchers = {
  async toBeIsolated(received: TestDatabase, options: CheckIsolationOptions = {}): Promise<MatcherResult> {
    const report = await checkIsolation(received, options);
    // Every cell that keeps the verdict from "proven": leaks and checks not demonstrated.
    const failed = report.tables.flatMap((table) =>
      table.checks
        .filter((check) => check.status === 'fail' || (check.status === 'not-proven' && !check.allowed))
        .map((check) => `${table.table} ${check.check} ${check.status}: ${check.detail}`),
    );
    const errors = report.findings.filter((finding) => finding.severity === 'error').map((finding) => `${finding.code} ${finding.object}`);
    return {
      pass: report.ok,
      message: () => (report.ok ? `expected isolation not to be proven, but it was\n\n${renderMatrix(report)}` : `expected tenant isolation to be proven\n\n${renderMatrix(report)}`),
      actual: [...failed, ...errors],
      expected: [],
    };
  },

  async toHaveNoRlsFindings(received: TestDatabase, options: CheckIsolationOptions & { severity?: Severity } = {}): Promise<MatcherResult> {
    const threshold = SEVERITY_RANK[options.severity ?? 'warning'];
    const report = await checkIsolation(received, options);
    const found: Finding[] = report.findings.filter((finding) => SEVERITY_RANK[finding.severity] >= threshold);
    return {
      pass: found.length === 0,
      message: () =>
        found.length === 0
          ? 'expected RLS findings, found none'
          : `expected no RLS findings of severity ${options.severity ?? 'warning'} or worse, found ${found.length}:\n${found.map((finding) => `  ${finding.severity} ${finding.code} ${finding.object}: ${finding.message}\n    fix: ${finding.hint}`).join('\n')}`,
      actual: found.map((finding) => `${finding.code} ${finding.object}`),
      expected: [],
    };
  },
};

expect.extend(rlsMatchers);

// vitest's Matchers and Assertion interfaces changed their type parameters between majors (3.2 and 4:
// <T>; 5: <R, T>), and an augmentation must repeat them exactly. Every version maps the members of
// Chai.Assertion onto its expect(), so the matchers are declared there, valid for each of them.
declare global {
  namespace Chai {
    interface Assertion {
      /** Proves, table by table as the app role, that no tenant can read or change another's rows. */
      toBeIsolated(options?: CheckIsolationOptions): Promise<void>;
      /** No static RLS finding at `severity` (default warning) or worse. */
      toHaveNoRlsFindings(options?: CheckIsolationOptions & { severity?: Severity }): Promise<void>;
    }
  }
}
