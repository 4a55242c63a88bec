import { TenantkitError } from '@tenantkit/testkit';

/**
 * The codes only the command line raises. They are TenantkitErrors like every other failure of the
 * kit, so `instanceof TenantkitError` and `error.code` work as everywhere else.
 */
export const CLI_ERROR_CODES = [
  /** A flag, a value or an argument the command does not take. */
  'TENANTKIT_USAGE',
  /** A file or folder named on the command line does not exist. */
  'TENANTKIT_FILE_NOT_FOUND',
  /** A file the command was asked to write cannot be written. */
  'TENANTKIT_OUTPUT_UNWRITABLE',
  /** `seed` found no table to fill. */
  'TENANTKIT_NOTHING_TO_SEED',
  /** The server closed the connection while the command was using it. */
  'TENANTKIT_CONNECTION_LOST',
  /** The --url user may not act as the app role. */
  'TENANTKIT_CANNOT_SET_ROLE',
  /** Anything else: a failure the command line has no name for, with the original message. */
  'TENANTKIT_ERROR',
] as const;
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

/** Base of the command line's errors; `code` is typed with its own codes. */
export class CliError extends TenantkitError<CliErrorCode> {}

/** Bad command-line input: exit 2 with the usage of the command. */
export class UsageError extends CliError {
  constructor(message: string, object?: string) {
    super('TENANTKIT_USAGE', message, object === undefined ? {} : { object });
  }
}

export class FileNotFoundError extends CliError {
  constructor(flag: string, path: string, kind: 'file' | 'directory' = 'file') {
    super('TENANTKIT_FILE_NOT_FOUND', `${flag} ${path}: no such ${kind}. Check the path (relative paths start from ${process.cwd()}).`, { object: path });
  }
}

export class OutputUnwritableError extends CliError {
  constructor(flag: string, path: string, cause: unknown) {
    const reason = (cause as NodeJS.ErrnoException | undefined)?.code ?? (cause instanceof Error ? cause.message : String(cause));
    super('TENANTKIT_OUTPUT_UNWRITABLE', `${flag} ${path}: the file cannot be written (${reason}). Name a file in a directory that exists and is writable.`, { object: path, cause });
  }
}

export class NothingToSeedError extends CliError {
  constructor(where: string) {
    super(
      'TENANTKIT_NOTHING_TO_SEED',
      `Nothing was seeded: ${where} has no tables (outside the system schemas). Point the command at the schema or migrations that create your tables, or at the database that has them.`,
      { object: where },
    );
  }
}

export class ConnectionLostError extends CliError {
  constructor(where: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      'TENANTKIT_CONNECTION_LOST',
      `The connection to ${where} was lost while the command was using it (${reason}). Nothing was proven or written; check that the server is running (its log says why it closed the connection) and run the command again.`,
      { object: where, cause },
    );
  }
}

export class CannotSetRoleError extends CliError {
  constructor(user: string, role: string) {
    super(
      'TENANTKIT_CANNOT_SET_ROLE',
      `The --url user "${user}" may not act as the app role "${role}" (SET ROLE ${role} would be refused: permission denied to set role), and every probe runs as that role. Connect as a user that may (GRANT ${role} TO ${user} WITH SET TRUE;, or GRANT ${role} TO ${user}; before PostgreSQL 16), or as a superuser.`,
      { object: role },
    );
  }
}

/** SQLSTATE classes and driver messages that mean the server or the socket went away. */
const CONNECTION_LOST = /^(08|57P)/;
const CONNECTION_LOST_MESSAGE = /connection error|Connection terminated|terminating connection|ECONNRESET|EPIPE|socket hang up/i;

/** True when the error, or one it was caused by, is the connection going away. */
export function isConnectionLost(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_LOST.test(code) || code === 'ECONNRESET' || code === 'EPIPE')) return true;
    if (CONNECTION_LOST_MESSAGE.test(current.message)) return true;
  }
  return false;
}
