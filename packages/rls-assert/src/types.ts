import type { TableKind } from '@tenantkit/fixtures';

export type Severity = 'error' | 'warning' | 'info';

/**
 * One weakness found in the catalog (or confirmed by a probe). `code` is stable across releases;
 * `object` names what it is about (`schema.table`, `schema.table.policy`, `schema.function(args)`).
 */
export interface Finding {
  readonly code: string;
  readonly severity: Severity;
  readonly object: string;
  readonly message: string;
  readonly hint: string;
}

export type CheckStatus = 'pass' | 'fail' | 'skip';

/** One cell of the matrix: a dynamic check on one table. */
export interface CheckResult {
  readonly check: string;
  readonly status: CheckStatus;
  /** Why it failed (what was proven) or was skipped; what was verified when it passed. */
  readonly detail: string;
}

export interface TableReport {
  readonly table: string;
  readonly kind: TableKind;
  readonly tenantColumn: string | null;
  readonly checks: readonly CheckResult[];
}

export interface IsolationReport {
  /** No check failed and no error finding: isolation proven for what was probed. */
  readonly ok: boolean;
  readonly tables: readonly TableReport[];
  readonly findings: readonly Finding[];
}
