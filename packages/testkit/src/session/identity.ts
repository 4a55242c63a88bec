import type { Session } from '../queryable.js';
import type { IdentityName } from '../backends/backend.js';
import { type TransactionControl, splitStatements, transactionControlKind } from '../sql/split.js';

/** One of the three ways a test talks to its database. */
export interface Identity extends Session {
  readonly name: IdentityName;
  /** The Postgres role this identity acts as. */
  readonly role: string;
  /** A connection URL for this identity, where it is a genuine login (server backends). */
  readonly url: string | undefined;
  /** Runs fn in a transaction (a savepoint when the test itself runs in one); rolls back on throw. */
  transaction<T>(fn: (tx: Session) => Promise<T>): Promise<T>;
}

export interface AppIdentity extends Identity {
  /**
   * Runs fn as the app role inside a transaction whose tenant context is set with SET LOCAL, as a
   * request of the application would; the context ends with the transaction.
   */
  withTenant<T>(tenant: string | number | bigint, fn: (tx: Session) => Promise<T>): Promise<T>;
}

/** Identities bound to one test database, with the checks run when the test ends. */
export interface IdentitySet {
  readonly admin: Identity;
  readonly owner: Identity;
  readonly app: AppIdentity;
  /** Verifies no identity escaped its role and no tenant context outlived its transaction. */
  verify(): Promise<void>;
  close(): Promise<void>;
}

/** Serializes async work on one connection: a transaction must not interleave with other queries. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn, fn);
    this.#tail = result.catch(() => {});
    return result;
  }
}

/** Classifies SQL sent by tested code: a single BEGIN/COMMIT/ROLLBACK, or anything else. */
export function transactionControlOf(sql: string): TransactionControl | undefined {
  const statements = splitStatements(sql);
  if (statements.length !== 1) return undefined;
  return transactionControlKind(statements[0]!.text) ?? undefined;
}

const ROLE_CHANGE =
  /\b(?:re)?set\s+(?:session\s+|local\s+)?(?:role|session\s+authorization)\b|\breset\s+all\b|\bdiscard\s+all\b|\bset_config\s*\(\s*'(?:role|session_authorization)'/i;

/** Comments, string literals and dollar-quoted bodies: text that is not a statement of its own. */
const NOT_STATEMENTS = /--[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^']|'')*'|\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$\1\$/g;

/**
 * True when SQL would change the current role: forbidden to owner/app on a shared session. Role
 * changes hidden in function bodies or parameters are caught by the check when the test ends.
 */
export function changesRole(sql: string): boolean {
  return ROLE_CHANGE.test(sql.replace(NOT_STATEMENTS, ' '));
}

export function tenantText(tenant: string | number | bigint): string {
  return typeof tenant === 'string' ? tenant : tenant.toString();
}
