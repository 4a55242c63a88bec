import type { Queryable, Session } from '@tenantkit/testkit';
import type { CheckName } from './checks.js';
import type { CheckResult } from './types.js';

/** What one probing statement did: Postgres's own row count, or the error that stopped it. */
export interface Outcome {
  readonly rowCount?: number;
  readonly error?: { readonly code: string | undefined; readonly message: string; readonly detail?: string };
}

/** The app role's table privileges, read from the catalog (has_table_privilege, membership included). */
export interface Privileges {
  readonly select: boolean;
  readonly insert: boolean;
  readonly update: boolean;
  readonly delete: boolean;
  readonly truncate: boolean;
}

export type Privilege = keyof Privileges;

export async function readPrivileges(db: Queryable, role: string, qualified: string): Promise<Privileges> {
  const { rows } = await db.query<Privileges>(
    `SELECT has_table_privilege($1, $2::regclass, 'SELECT') AS select, has_table_privilege($1, $2::regclass, 'INSERT') AS insert,
            has_table_privilege($1, $2::regclass, 'UPDATE') AS update, has_table_privilege($1, $2::regclass, 'DELETE') AS delete,
            has_table_privilege($1, $2::regclass, 'TRUNCATE') AS truncate`,
    [role, qualified],
  );
  return rows[0]!;
}

function failureOf(error: unknown): NonNullable<Outcome['error']> {
  const failure = error as { code?: string; message?: string; detail?: string };
  return { code: failure.code, message: failure.message ?? String(error), ...(failure.detail ? { detail: failure.detail } : {}) };
}

/**
 * Runs one statement as the app role inside a savepoint, so a refused statement does not end the
 * probe's transaction. Without RETURNING the row count counts every row the statement wrote,
 * whether or not the tenant could have read them.
 */
export async function attempt(tx: Session, sql: string, params: readonly unknown[]): Promise<Outcome> {
  await tx.exec('SAVEPOINT tk_probe');
  let outcome: Outcome;
  try {
    outcome = { rowCount: (await tx.query(sql, params)).rowCount };
  } catch (error) {
    outcome = { error: failureOf(error) };
  }
  // Undone either way: one probe's write must not change what the next one sees.
  await tx.exec('ROLLBACK TO SAVEPOINT tk_probe; RELEASE SAVEPOINT tk_probe');
  return outcome;
}

/**
 * `SELECT count(*) AS n ...` as the app role, or the error that stopped it. Inside a transaction
 * (a Session given as `tx`) it runs in a savepoint, so the probe goes on after an error.
 */
export async function count(session: Queryable, sql: string, params: readonly unknown[], tx?: Session): Promise<number | NonNullable<Outcome['error']>> {
  await tx?.exec('SAVEPOINT tk_count');
  try {
    const { rows } = await session.query<{ n: string | number }>(sql, params);
    await tx?.exec('RELEASE SAVEPOINT tk_count');
    return Number(rows[0]?.n ?? 0);
  } catch (error) {
    await tx?.exec('ROLLBACK TO SAVEPOINT tk_count; RELEASE SAVEPOINT tk_count');
    return failureOf(error);
  }
}

const RLS_MESSAGE = /row-level security/i;

/**
 * Why a refused statement still counts as a pass: row level security refused it, or the app role
 * lacks the privilege and the catalog confirms it. Anything else proves nothing.
 */
export function refusedBy(error: NonNullable<Outcome['error']>, privileges: Privileges, needed: Privilege): string | undefined {
  if (error.code !== '42501') return undefined;
  if (RLS_MESSAGE.test(error.message)) return `refused by row level security: ${error.message}`;
  if (!privileges[needed]) return `refused: the app role has no ${needed.toUpperCase()} on the table (the catalog confirms it)`;
  return undefined;
}

/**
 * Errors a policy raises when no valid tenant is set: a data exception from casting an empty or
 * garbage setting (22xxx), or reading a setting that was never set without missing_ok (42704).
 * The statement is refused: closed, not open.
 */
export function failsClosed(error: NonNullable<Outcome['error']>): boolean {
  return (error.code?.startsWith('22') ?? false) || error.code === '42704';
}

export const pass = (check: CheckName, detail: string): CheckResult => ({ check, status: 'pass', detail });
export const fail = (check: CheckName, detail: string): CheckResult => ({ check, status: 'fail', detail });
export const notProven = (check: CheckName, detail: string): CheckResult => ({ check, status: 'not-proven', detail });
export const notApplicable = (check: CheckName, detail: string): CheckResult => ({ check, status: 'n/a', detail });

/** Why a statement that failed for another reason proves nothing. */
export function errorNotProven(check: CheckName, error: NonNullable<Outcome['error']>): CheckResult {
  return notProven(check, `the statement failed for a reason other than row level security (${error.code ?? 'no SQLSTATE'}: ${error.message}), so isolation was not tested`);
}

const RANK: Record<CheckResult['status'], number> = { fail: 3, 'not-proven': 2, pass: 1, 'n/a': 0 };

/** Several statements probing one check: a proven leak wins, then anything not proven, then a pass. */
export function strongest(results: readonly CheckResult[]): CheckResult {
  return [...results].sort((x, y) => RANK[y.status] - RANK[x.status])[0]!;
}
