import { spawn } from 'node:child_process';
import { InvalidOptionError, MigrationFailedError, MigrationsInvalidError } from '../../../errors.js';
import { quoteIdent, quoteQualified } from '../../../sql/ident.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from '../../migrator.js';
import { indexOfVersion, migrationHash, requireUrl } from '../../source-helpers.js';
import { checkIdentOption } from '../../state-table.js';

export interface CommandMigration {
  readonly version: string;
  readonly name: string;
  /** False when the tool has no down for it. Default true. */
  readonly reversible?: boolean;
  /** The file that defines it (hashed, and named in errors). */
  readonly file?: string;
}

/** The table a tool records the applied version in, e.g. Alembic's public.alembic_version(version_num). */
export interface CommandStateTable {
  /** Default "public". */
  readonly schema?: string;
  readonly table: string;
  /** The column holding the version. */
  readonly column: string;
}

export interface CommandMigratorOptions {
  /** For messages, e.g. "alembic (migrations/)". */
  readonly source: string;
  /** The migrations in order, oldest first. */
  readonly migrations: readonly CommandMigration[];
  /** argv that applies migrations up to and including `version`. */
  readonly up: (version: string) => readonly string[];
  /** argv that reverts down to `version` (which stays applied), or to base when undefined. */
  readonly down: (version: string | undefined) => readonly string[];
  readonly cwd?: string;
  /** Extra environment; DATABASE_URL is set to the target's URL. */
  readonly env?: Readonly<Record<string, string>>;
  /** Files whose content keys the template besides the migrations' own (configuration, env.py). */
  readonly hashFiles?: readonly string[];
  /**
   * How to read the version the target database is at, when `stateTable` does not say it: the argv
   * of a command that prints it (the first word of its last line of output; no output: at base),
   * or a function that reads it. When the tool keeps a table as well, give `stateTable` too, so
   * schema comparisons leave that table out.
   */
  readonly current?: readonly string[] | ((target: MigrationTarget) => Promise<string | null>);
  /**
   * The table the tool records the applied version in. current() reads it unless `current` is
   * given, and schema comparisons leave it out. One of the two is required.
   */
  readonly stateTable?: CommandStateTable;
  /** Environment variables set to the target's URL besides DATABASE_URL (what the project's config reads). */
  readonly urlEnv?: readonly string[];
}

function lastLine(output: string): string {
  return output.trim().split('\n').map((line) => line.trim()).filter((line) => line !== '').at(-1) ?? '';
}

interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  /** stdout and stderr as they came. */
  readonly output: string;
}

function runCommand(argv: readonly string[], cwd: string | undefined, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = argv;
    if (!command) {
      reject(new InvalidOptionError('command', 'an empty command was given for a migration step'));
      return;
    }
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, output }));
  });
}

/** The cause of a failed command: the tool's last line leads (reports keep the first), then its tail. */
function commandFailure(argv: readonly string[], result: CommandResult): Error {
  return new Error(`${argv.join(' ')} exited with ${result.code}: ${lastLine(result.output) || '(no output)'}\n${result.output.trim().split('\n').slice(-15).join('\n')}`);
}

/**
 * Any migration tool with a command line, driven through DATABASE_URL with one command per step up
 * and down: how Alembic, Flyway or golang-migrate projects use the kit. The database must be
 * reachable by URL (a server backend). The version the database is at is read from it every time:
 * through the tool's state table (`stateTable`) or a command that prints it (`current`).
 */
export function commandMigrator(options: CommandMigratorOptions): Migrator {
  const { current, stateTable } = options;
  if (current === undefined && stateTable === undefined) {
    throw new InvalidOptionError(
      'current',
      `the command source ${options.source} was given neither a state table nor a current command, so it cannot tell which version a database is at. Pass stateTable: { table, column } (the table the tool records its version in, e.g. { table: 'alembic_version', column: 'version_num' }), or current: the argv of a command that prints the version.`,
    );
  }
  const stateSchema = stateTable?.schema ?? 'public';
  if (stateTable) {
    checkIdentOption('stateTable.schema', stateSchema);
    checkIdentOption('stateTable.table', stateTable.table);
    checkIdentOption('stateTable.column', stateTable.column);
  }
  const list: MigrationInfo[] = options.migrations.map((migration) => ({
    version: migration.version,
    name: migration.name,
    reversible: migration.reversible ?? true,
    ...(migration.file ? { upFile: migration.file } : {}),
  }));
  const position = (version: string, direction: 'up' | 'down'): number => indexOfVersion(list, version, { source: options.source, direction });

  const run = async (target: MigrationTarget, argv: readonly string[]): Promise<CommandResult> => {
    const url = requireUrl(target, `The command source ${options.source}`);
    const urls = Object.fromEntries(['DATABASE_URL', ...(options.urlEnv ?? [])].map((name) => [name, url]));
    return runCommand(argv, options.cwd, { ...process.env, ...options.env, ...urls });
  };

  /** The versions the state table holds, or none when the tool has not created it yet. */
  const recorded = async (target: MigrationTarget, table: CommandStateTable): Promise<string[]> => {
    const qualified = quoteQualified(stateSchema, table.table);
    const { rows: found } = await target.session.query<{ name: string | null }>('SELECT to_regclass($1)::text AS name', [qualified]);
    if (!found[0]?.name) return [];
    const { rows } = await target.session.query<{ version: string | null }>(`SELECT ${quoteIdent(table.column)}::text AS version FROM ${qualified}`);
    return rows.flatMap((row) => (row.version === null ? [] : [row.version]));
  };

  /** The version the database records, or null at base. */
  const readCurrent = async (target: MigrationTarget): Promise<string | null> => {
    if (typeof current === 'function') return current(target);
    if (current !== undefined) {
      const result = await run(target, current);
      if (result.code !== 0) {
        throw new MigrationFailedError({ migration: `${options.source} (current version)`, direction: 'up', role: target.role, cause: commandFailure(current, result) });
      }
      return lastLine(result.stdout).split(/\s+/)[0] || null;
    }
    // Several rows (a tool that keeps one per applied version): the newest in the list's order.
    const versions = await recorded(target, stateTable!);
    const newest = Math.max(-1, ...versions.map((version) => list.findIndex((migration) => migration.version === version)));
    return newest < 0 ? (versions[0] ?? null) : list[newest]!.version;
  };

  const appliedIn = async (target: MigrationTarget, direction: 'up' | 'down'): Promise<number> => {
    const version = await readCurrent(target);
    if (version === null) return -1;
    const index = list.findIndex((migration) => migration.version === version);
    if (index < 0) {
      throw new MigrationsInvalidError(
        options.source,
        `The database is at version "${version}", which ${options.source} does not list (known: ${list.map((m) => m.version).join(', ')}). It was migrated from other files: recreate it, or restore the missing migration. Nothing was run (${direction}).`,
      );
    }
    return index;
  };

  const execute = async (target: MigrationTarget, argv: readonly string[], migration: MigrationInfo, direction: 'up' | 'down'): Promise<AppliedStep> => {
    const startedAt = performance.now();
    const result = await run(target, argv);
    if (result.code !== 0) {
      throw new MigrationFailedError({ migration: `${migration.version}_${migration.name}`, direction, role: target.role, cause: commandFailure(argv, result) });
    }
    return { version: migration.version, name: migration.name, direction, ms: performance.now() - startedAt };
  };

  return {
    kind: 'command',
    connectsByUrl: true,
    source: options.source,
    stateTables: stateTable ? [`${stateSchema}.${stateTable.table}`] : [],
    async hash() {
      const hash = migrationHash('command').field(options.source);
      for (const migration of options.migrations) {
        hash.field(migration.version).field(migration.name);
        if (migration.file) await hash.file(migration.file);
      }
      for (const file of options.hashFiles ?? []) await hash.file(file);
      return hash.digest();
    },
    async list() {
      return list;
    },
    async current(target) {
      return readCurrent(target);
    },
    async up(target, to) {
      const last = to === undefined ? list.length - 1 : position(to, 'up');
      const steps: AppliedStep[] = [];
      for (let index = (await appliedIn(target, 'up')) + 1; index <= last; index++) {
        steps.push(await execute(target, options.up(list[index]!.version), list[index]!, 'up'));
      }
      return steps;
    },
    async down(target, to) {
      const keep = to === undefined ? -1 : position(to, 'down');
      const applied = await appliedIn(target, 'down');
      const irreversible = list.slice(keep + 1, applied + 1).filter((migration) => !migration.reversible);
      if (irreversible.length > 0) {
        const names = irreversible.map((m) => `${m.version} ${m.name}`).join(', ');
        throw new MigrationsInvalidError(
          options.source,
          `Cannot revert ${options.source} to ${to === undefined ? 'the base' : `version ${to}`}: ${names} ${irreversible.length === 1 ? 'is' : 'are'} irreversible, so nothing was reverted. Revert no further than ${irreversible.at(-1)!.version}.`,
        );
      }
      const steps: AppliedStep[] = [];
      for (let index = applied; index > keep; index--) {
        steps.push(await execute(target, options.down(index > 0 ? list[index - 1]!.version : undefined), list[index]!, 'down'));
      }
      return steps;
    },
  };
}
