import { MigrationFailedError, MigrationsUnreadableError, sqlStateOf } from '../errors.js';
import type { SqlLocation } from '../errors.js';
import type { Session } from '../queryable.js';
import {
  indexOfCharPosition,
  lineColumnAt,
  splitStatements,
  transactionControlKind,
} from '../sql/split.js';
import type { SqlStatement } from '../sql/split.js';
import { progress } from '../progress.js';

export interface SqlScript {
  /** Where the script comes from; error locations name it. */
  readonly file: string;
  readonly sql: string;
}

export interface RunScriptOptions {
  /** The migration the script belongs to, for messages. */
  readonly migration: string;
  readonly direction: 'up' | 'down';
  /** The role the session acts as, for messages. */
  readonly role?: string;
  /**
   * 'auto' wraps the script in one transaction unless it manages its own (contains BEGIN, COMMIT,
   * ROLLBACK, ...) or its first line is the directive `-- tenantkit:no-transaction`.
   * true / false force the wrapping on or off.
   */
  readonly transaction: 'auto' | boolean;
}

/** The directive that, on a script's first line, keeps 'auto' from wrapping it in a transaction. */
export const NO_TRANSACTION_DIRECTIVE = 'tenantkit:no-transaction';

const DIRECTIVE_RE = /^[ \t]*--[ \t]*tenantkit:no-transaction(?:[ \t].*)?$/i;

/** True when the first line of `sql` is the `-- tenantkit:no-transaction` directive. */
export function hasNoTransactionDirective(sql: string): boolean {
  const firstLine = stripBom(sql).split(/\r\n|\n|\r/, 1)[0] ?? '';
  return DIRECTIVE_RE.test(firstLine);
}

function stripBom(sql: string): string {
  return sql.charCodeAt(0) === 0xfeff ? sql.slice(1) : sql;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a migration file's bytes as UTF-8 (a leading byte order mark is dropped), refusing
 * anything else rather than sending mangled text to the server.
 */
export function decodeSqlFile(bytes: Uint8Array, file: string): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    throw new MigrationsUnreadableError(
      file,
      `Migration file ${file} is not valid UTF-8 text. Save it as UTF-8.`,
      cause,
    );
  }
  return stripBom(text);
}

function positionOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const raw = (error as { position?: unknown }).position;
  const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  return Number.isInteger(value) && value >= 1 ? value : undefined;
}

function locate(file: string, source: string, statement: SqlStatement, error: unknown): SqlLocation {
  const position = positionOf(error);
  const offset =
    position === undefined
      ? statement.offset
      : statement.offset + indexOfCharPosition(statement.text, position);
  return { file, ...lineColumnAt(source, offset) };
}

/**
 * The error to report as the cause. A statement that cannot run inside a transaction block
 * (CREATE INDEX CONCURRENTLY, VACUUM, ...) fails only because of the wrapping, so that failure
 * gets the fix appended; the driver error stays reachable as its cause.
 */
function reportedCause(error: unknown, wrapped: boolean): unknown {
  if (!wrapped || sqlStateOf(error) !== '25001' || !(error instanceof Error)) return error;
  const hinted = new Error(
    `${error.message} (this migration runs in a transaction; put "-- ${NO_TRANSACTION_DIRECTIVE}" on the first line of the file to run its statements one by one without one)`,
    { cause: error },
  );
  Object.assign(hinted, { code: sqlStateOf(error) });
  return hinted;
}

/**
 * Runs a SQL script statement by statement on `session`. Every failure becomes a
 * MigrationFailedError pointing at the file, line and column the server complained about (or at
 * the start of the failing statement when the server gives no position). A transaction left open
 * by the failure, the wrapping one or the script's own, is rolled back before the error is thrown.
 */
export async function runScript(session: Session, script: SqlScript, opts: RunScriptOptions): Promise<void> {
  const source = stripBom(script.sql);
  const statements = splitStatements(source);
  if (statements.length === 0) return;

  const wrap =
    opts.transaction === 'auto'
      ? !hasNoTransactionDirective(source) && !statements.some((s) => transactionControlKind(s.text) !== null)
      : opts.transaction;

  let transactionOpen = false;

  const fail = async (error: unknown, statement: SqlStatement | undefined, failedText?: string, notSplit?: string): Promise<never> => {
    if (transactionOpen) {
      try {
        await session.exec('ROLLBACK');
      } catch {
        // The original failure is what matters; a broken connection fails the rollback too.
      }
    }
    const sqlState = sqlStateOf(error);
    throw new MigrationFailedError({
      migration: opts.migration,
      direction: opts.direction,
      ...(statement ? { location: locate(script.file, source, statement, error) } : {}),
      ...(statement || failedText ? { statement: statement?.text ?? failedText } : {}),
      ...(sqlState ? { sqlState } : {}),
      ...(opts.role ? { role: opts.role } : {}),
      ...(notSplit ? { notSplit } : {}),
      cause: reportedCause(error, wrap),
    });
  };

  if (wrap) {
    try {
      await session.exec('BEGIN');
    } catch (error) {
      return fail(error, undefined, 'BEGIN');
    }
    transactionOpen = true;
  }

  for (const statement of statements) {
    try {
      await session.exec(statement.text);
    } catch (error) {
      if (wrap && sqlStateOf(error) === '53200' && splitBlocker(statements) === undefined) {
        await session.exec('ROLLBACK').catch(() => undefined);
        return runInBatches(session, script, source, statements, opts);
      }
      return fail(error, statement, undefined, wrap && sqlStateOf(error) === '53200' ? splitBlocker(statements) : undefined);
    }
    if (!wrap) {
      const kind = transactionControlKind(statement.text);
      if (kind === 'begin') transactionOpen = true;
      else if (kind !== null) transactionOpen = false;
    }
  }

  if (wrap) {
    try {
      await session.exec('COMMIT');
    } catch (error) {
      // A deferred constraint or similar failed at commit; the server has already rolled back.
      transactionOpen = false;
      return fail(error, undefined, 'COMMIT');
    }
  }
}

/** Statements per transaction when a script is split; halved while one batch still fills the lock table. */
const FIRST_BATCH = 1000;

/**
 * Why a script's statements must share one transaction, or undefined when they need not: a setting
 * or constraint mode scoped to the transaction, or a temporary table dropped at commit.
 */
function splitBlocker(statements: readonly SqlStatement[]): string | undefined {
  for (const statement of statements) {
    const text = statement.text;
    if (/^\s*SET\s+LOCAL\b/i.test(text)) return 'it uses SET LOCAL, which lasts only until its transaction ends';
    if (/^\s*SET\s+CONSTRAINTS\b/i.test(text)) return 'it uses SET CONSTRAINTS, which lasts only until its transaction ends';
    if (/\bset_config\s*\([^;]*,\s*true\s*\)/i.test(text)) return 'it calls set_config(..., true), which lasts only until its transaction ends';
    if (/\bON\s+COMMIT\s+(DROP|DELETE\s+ROWS)\b/i.test(text)) return 'it creates a temporary table that lives only until its transaction ends';
  }
  return undefined;
}

/**
 * A script that filled the server's lock table in one transaction (53200: every object a transaction
 * creates stays locked until it ends) is run again in several transactions of consecutive statements.
 * Nothing it states depends on one transaction (splitBlocker), and the database it runs on is a test
 * database, so only atomicity on failure changes: the statements before a failing one stay applied,
 * and the error says so. A warning says that production servers with default settings refuse the file.
 */
async function runInBatches(
  session: Session,
  script: SqlScript,
  source: string,
  statements: readonly SqlStatement[],
  opts: RunScriptOptions,
): Promise<void> {
  let size = FIRST_BATCH;
  let done = 0;
  let transactions = 0;
  while (done < statements.length) {
    const batch = statements.slice(done, done + size);
    let failure: { error: unknown; statement: SqlStatement | undefined } | undefined;
    try {
      await session.exec('BEGIN');
    } catch (error) {
      failure = { error, statement: undefined };
    }
    for (const statement of failure ? [] : batch) {
      try {
        await session.exec(statement.text);
      } catch (error) {
        failure = { error, statement };
        break;
      }
    }
    if (!failure) {
      try {
        await session.exec('COMMIT');
      } catch (error) {
        failure = { error, statement: undefined };
      }
    }
    if (failure) {
      await session.exec('ROLLBACK').catch(() => undefined);
      if (sqlStateOf(failure.error) === '53200' && size > 1) {
        size = Math.max(1, Math.floor(size / 2));
        continue;
      }
      const sqlState = sqlStateOf(failure.error);
      const { statement } = failure;
      throw new MigrationFailedError({
        migration: opts.migration,
        direction: opts.direction,
        ...(statement ? { location: locate(script.file, source, statement, failure.error) } : {}),
        statement: statement?.text ?? 'BEGIN/COMMIT',
        ...(sqlState ? { sqlState } : {}),
        ...(opts.role ? { role: opts.role } : {}),
        appliedBefore: done,
        cause: failure.error,
      });
    }
    done += batch.length;
    transactions++;
  }
  progress(
    `${script.file} filled the server's lock table in one transaction (SQLSTATE 53200), so it ran in ${transactions} transactions of at most ${Math.min(size, FIRST_BATCH)} statements. A server with default settings (max_locks_per_transaction 64) refuses it the same way: split it into several migrations, or raise max_locks_per_transaction there.`,
  );
}
