import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InvalidOptionError, MigrationFailedError } from '../errors.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from './migrator.js';

export interface CommandMigration {
  readonly version: string;
  readonly name: string;
  /** False when the tool has no down for it. Default true. */
  readonly reversible?: boolean;
  /** The file that defines it (hashed, and named in errors). */
  readonly file?: string;
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
   * The version the target database is at, as the tool records it (e.g. alembic_version), or null at
   * base. Without it, the kit remembers what it applied to each database itself.
   */
  readonly current?: (target: MigrationTarget) => Promise<string | null>;
  /** Environment variables set to the target's URL besides DATABASE_URL (what the project's config reads). */
  readonly urlEnv?: readonly string[];
}

function lastLine(output: string): string {
  return output.trim().split('\n').map((line) => line.trim()).filter((line) => line !== '').at(-1) ?? '(no output)';
}

interface CommandResult {
  readonly code: number | null;
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
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * Any migration tool with a command line, driven through DATABASE_URL with one command per step up
 * and down: how Alembic, Flyway or golang-migrate projects use the kit. The database must be
 * reachable by URL (a server backend).
 */
export function commandMigrator(options: CommandMigratorOptions): Migrator {
  const list: MigrationInfo[] = options.migrations.map((migration) => ({
    version: migration.version,
    name: migration.name,
    reversible: migration.reversible ?? true,
    ...(migration.file ? { upFile: migration.file } : {}),
  }));
  const position = (version: string): number => {
    const index = list.findIndex((migration) => migration.version === version);
    if (index < 0) throw new InvalidOptionError('to', `${options.source} has no migration "${version}"; known: ${list.map((m) => m.version).join(', ')}.`);
    return index;
  };
  /** What the kit applied to each database (by URL), when the tool's own record is not read. */
  const remembered = new Map<string, number>();
  const appliedIn = async (target: MigrationTarget): Promise<number> => {
    if (options.current) {
      const version = await options.current(target);
      return version === null ? -1 : position(version);
    }
    return remembered.get(target.url ?? '') ?? -1;
  };
  const execute = async (target: MigrationTarget, argv: readonly string[], migration: MigrationInfo, direction: 'up' | 'down'): Promise<void> => {
    if (!target.url) {
      throw new InvalidOptionError(
        'backend',
        `the command adapter (${options.source}) needs a database reachable by URL: use backend "native", "url" or "container".`,
      );
    }
    const urls = Object.fromEntries(['DATABASE_URL', ...(options.urlEnv ?? [])].map((name) => [name, target.url!]));
    const result = await runCommand(argv, options.cwd, { ...process.env, ...options.env, ...urls });
    if (result.code !== 0) {
      throw new MigrationFailedError({
        migration: `${migration.version}_${migration.name}`,
        direction,
        role: target.role,
        // The tool's last line (its error, for Python a traceback's last line) leads: reports keep the first line.
        cause: new Error(`${argv.join(' ')} exited with ${result.code}: ${lastLine(result.output)}\n${result.output.trim().split('\n').slice(-15).join('\n')}`),
      });
    }
  };
  return {
    kind: 'command',
    source: options.source,
    async hash() {
      const hash = createHash('sha256').update(`command\0${options.source}\0`);
      for (const migration of options.migrations) {
        hash.update(`${migration.version}\0${migration.name}\0`);
        if (migration.file) hash.update(await readFile(migration.file));
      }
      for (const file of options.hashFiles ?? []) hash.update(await readFile(file));
      return hash.digest('hex');
    },
    async list() {
      return list;
    },
    async current(target) {
      const applied = await appliedIn(target);
      return applied < 0 ? null : list[applied]!.version;
    },
    async up(target, to) {
      const last = to === undefined ? list.length - 1 : position(to);
      const steps: AppliedStep[] = [];
      for (let index = (await appliedIn(target)) + 1; index <= last; index++) {
        const migration = list[index]!;
        const startedAt = performance.now();
        await execute(target, options.up(migration.version), migration, 'up');
        remembered.set(target.url ?? '', index);
        steps.push({ version: migration.version, name: migration.name, direction: 'up', ms: performance.now() - startedAt });
      }
      return steps;
    },
    async down(target, to) {
      const keep = to === undefined ? -1 : position(to);
      const steps: AppliedStep[] = [];
      for (let index = await appliedIn(target); index > keep; index--) {
        const migration = list[index]!;
        if (!migration.reversible) throw new InvalidOptionError('down', `${options.source}: migration ${migration.version} ${migration.name} is irreversible.`);
        const startedAt = performance.now();
        await execute(target, options.down(index > 0 ? list[index - 1]!.version : undefined), migration, 'down');
        remembered.set(target.url ?? '', index - 1);
        steps.push({ version: migration.version, name: migration.name, direction: 'down', ms: performance.now() - startedAt });
      }
      return steps;
    },
  };
}
