import { TenantkitError } from '@tenantkit/testkit';
import { messageOf } from '@tenantkit/testkit/internal';

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
  /** A project file the command reads (package.json) cannot be read or is not valid JSON. */
  'TENANTKIT_PROJECT_FILE_INVALID',
  /** `seed` found no table to fill. */
  'TENANTKIT_NOTHING_TO_SEED',
  /** The --url user may not act as the app role. */
  'TENANTKIT_CANNOT_SET_ROLE',
  /** `mutate`: the test command fails on the schema without any mutant. */
  'TENANTKIT_SUITE_FAILS_UNMUTATED',
  /** `mutate`: the test command passed, but no kit in it applied the mutant (it does not use the kit). */
  'TENANTKIT_SUITE_IGNORES_MUTANT',
  /** `mutate`: the schema has nothing to mutate (no row level security the app role is subject to). */
  'TENANTKIT_NO_MUTANTS',
  /** `coverage`: the test command could not be started, or did not end within its bound. */
  'TENANTKIT_TEST_COMMAND_DID_NOT_RUN',
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

export class ProjectFileInvalidError extends CliError {
  constructor(path: string, why: string, fix: string, cause: unknown) {
    super('TENANTKIT_PROJECT_FILE_INVALID', `${path} ${why} (${messageOf(cause)}). ${fix}`, { object: path, cause });
  }
}

export class OutputUnwritableError extends CliError {
  constructor(flag: string, path: string, cause: unknown) {
    const reason = (cause as NodeJS.ErrnoException | undefined)?.code ?? (messageOf(cause));
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

export class CannotSetRoleError extends CliError {
  constructor(user: string, role: string) {
    super(
      'TENANTKIT_CANNOT_SET_ROLE',
      `The --url user "${user}" may not act as the app role "${role}" (SET ROLE ${role} would be refused: permission denied to set role), and every probe runs as that role. Connect as a user that may (GRANT ${role} TO ${user} WITH SET TRUE;, or GRANT ${role} TO ${user}; before PostgreSQL 16), or as a superuser.`,
      { object: role },
    );
  }
}

export class SuiteFailsUnmutatedError extends CliError {
  constructor(command: string, exit: string, tail: string) {
    super(
      'TENANTKIT_SUITE_FAILS_UNMUTATED',
      `The test command \`${command}\` fails without any mutant (${exit}), so a failure with a mutant would prove nothing: the suite fails without mutants, fix it first.${tail ? `\n--- its last output ---\n${tail}\n---` : ''}`,
      { object: command },
    );
  }
}

export class SuiteIgnoresMutantError extends CliError {
  constructor(command: string) {
    super(
      'TENANTKIT_SUITE_IGNORES_MUTANT',
      `The test command \`${command}\` passed, but no kit in it started with the mutant it was given (TENANTKIT_MUTANT), so every mutant would survive for nothing. The suite must get its databases from the kit (the vitest plugin tenantkit(kit), createTest, or startKit) without setting the mutant option, and the command must pass the environment on to it.`,
      { object: command },
    );
  }
}

export class NoMutantsError extends CliError {
  constructor(where: string, appRole: string) {
    super(
      'TENANTKIT_NO_MUTANTS',
      `${where} has no row level security the app role ${appRole} is subject to (no table with RLS on that it may use, no policy for it), so there is nothing to mutate. Point --sql or --migrations at the schema the suite tests, with the grants the app role gets (--app-grants).`,
      { object: where },
    );
  }
}

export class TestCommandDidNotRunError extends CliError {
  constructor(command: string, how: string) {
    super(
      'TENANTKIT_TEST_COMMAND_DID_NOT_RUN',
      `The test command \`${command}\` did not run to its end (${how}), so what it recorded proves nothing. Check that the command runs on its own, from this directory, and give it the time it needs (--timeout SECONDS).`,
      { object: command },
    );
  }
}
