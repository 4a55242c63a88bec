import type { TableKind } from '@tenantkit/fixtures';

export type Severity = 'error' | 'warning' | 'info';

/** Every code a finding can carry: stable across releases, documented in the README's audit rules. */
export type AuditCode =
  | 'TK_ANON_NOT_PROVEN'
  | 'TK_ANON_REACHES_TENANT_ROWS'
  | 'TK_APP_ROLE_BYPASSES_RLS'
  | 'TK_APP_ROLE_REACHES_NO_TENANT_TABLE'
  | 'TK_BYPASS_POLICY_FOR_OTHER_ROLE'
  | 'TK_CONTEXT_SETTER_IGNORES_ARGUMENT'
  | 'TK_CROSS_TENANT_FK'
  | 'TK_CROSS_TENANT_REFERENCE_WRITTEN'
  | 'TK_EXCESS_TABLE_PRIVILEGES'
  | 'TK_HELPER_SKIPS_MEMBERSHIP'
  | 'TK_LITERAL_PASSWORD'
  | 'TK_MATVIEW_EXPOSES_TENANT_DATA'
  | 'TK_NO_POLICY_FOR_APP'
  | 'TK_NO_TENANT_TABLE'
  | 'TK_NULLABLE_TENANT_COLUMN'
  | 'TK_PARTITION_WITHOUT_RLS'
  | 'TK_POLICY_ALWAYS_TRUE'
  | 'TK_POLICY_FAILS_OPEN'
  | 'TK_POLICY_RECURSION'
  | 'TK_POLICY_SETTING_SWITCH'
  | 'TK_POLICY_TO_PUBLIC'
  | 'TK_RLS_DISABLED'
  | 'TK_RLS_NOT_FORCED'
  | 'TK_SECURITY_DEFINER_PUBLIC_EXECUTE'
  | 'TK_SECURITY_DEFINER_READS_TENANT_TABLE'
  | 'TK_SECURITY_DEFINER_SEARCH_PATH'
  | 'TK_TRUNCATE_GRANTED'
  | 'TK_UNIQUE_WITHOUT_TENANT'
  | 'TK_VIEW_BYPASSES_RLS'
  | 'TK_WITH_CHECK_ALWAYS_TRUE';

/**
 * One weakness found in the catalog (or confirmed by a probe). `code` is stable across releases;
 * `object` names what it is about (`schema.table`, `schema.table.policy`, `schema.function(args)`).
 */
export interface Finding {
  readonly code: AuditCode;
  readonly severity: Severity;
  readonly object: string;
  readonly message: string;
  readonly hint: string;
}

/**
 * pass: the probe ran and row level security (or a missing privilege the catalog confirms) stopped
 * it; fail: a leak was demonstrated; n/a: the check has no meaning for this kind of table (fixed per
 * kind); not-proven: the kit could not demonstrate it (no rows, an error, nothing to write), with the reason.
 */
export type CheckStatus = 'pass' | 'fail' | 'n/a' | 'not-proven';

/** One cell of the matrix: a dynamic check on one table. */
export interface CheckResult {
  readonly check: string;
  readonly status: CheckStatus;
  /** Why it failed (what was proven) or was not proven; what was verified when it passed. */
  readonly detail: string;
  /** A not-proven check the caller accepted (allowNotProven): still listed, no longer blocking. */
  readonly allowed?: boolean;
}

/**
 * proven: read-own returned the tenant's own rows and every other check passed or is n/a;
 * failed: a leak was demonstrated; not-proven: some check could not be demonstrated;
 * global: not tenant-scoped, never probed; not-selected: left out by the caller's `tables`.
 */
export type TableStatus = 'proven' | 'failed' | 'not-proven' | 'global' | 'not-selected';

export interface TableReport {
  readonly table: string;
  readonly kind: TableKind;
  readonly tenantColumn: string | null;
  readonly status: TableStatus;
  readonly checks: readonly CheckResult[];
}

/** What the probes acted as and where: every report says it. */
export interface ReportSetup {
  /** The app role the report speaks of (the role the application connects as). */
  readonly appRole: string;
  /** How a tenant was chosen, e.g. `SET LOCAL app.tenant_id = <tenant>`. */
  readonly context: string;
  /** e.g. `native (PostgreSQL 18.4)`. */
  readonly backend: string;
}

export interface IsolationReport {
  /**
   * Every tenant-scoped table proven (there is at least one), no error finding. A not-proven check
   * counts only when the caller accepted it (allowNotProven).
   */
  readonly ok: boolean;
  readonly setup: ReportSetup;
  readonly tables: readonly TableReport[];
  readonly findings: readonly Finding[];
}
