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
  let applied = -1;
  const execute = async (target: MigrationTarget, argv: readonly string[], migration: MigrationInfo, direction: 'up' | 'down'): Promise<void> => {
    if (!target.url) {
      throw new InvalidOptionError(
        'backend',
        `the command adapter (${options.source}) needs a database reachable by URL: use backend "native", "url" or "container".`,
      );
    }
    const result = await runCommand(argv, options.cwd, { ...process.env, ...options.env, DATABASE_URL: target.url });
    if (result.code !== 0) {
      throw new MigrationFailedError({
        migration: `${migration.version}_${migration.name}`,
        direction,
        role: target.role,
        cause: new Error(`${argv.join(' ')} exited with ${result.code}:\n${result.output.trim().split('\n').slice(-15).join('\n')}`),
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
    async current() {
      return applied < 0 ? null : list[applied]!.version;
    },
    async up(target, to) {
      const last = to === undefined ? list.length - 1 : position(to);
      const steps: AppliedStep[] = [];
      for (let index = applied + 1; index <= last; index++) {
        const migration = list[index]!;
        const startedAt = performance.now();
        await execute(target, options.up(migration.version), migration, 'up');
        applied = index;
        steps.push({ version: migration.version, name: migration.name, direction: 'up', ms: performance.now() - startedAt });
      }
      return steps;
    },
    async down(target, to) {
      const keep = to === undefined ? -1 : position(to);
      const steps: AppliedStep[] = [];
      for (let index = applied; index > keep; index--) {
        const migration = list[index]!;
        if (!migration.reversible) throw new InvalidOptionError('down', `${options.source}: migration ${migration.version} ${migration.name} is irreversible.`);
        const startedAt = performance.now();
        await execute(target, options.down(index > 0 ? list[index - 1]!.version : undefined), migration, 'down');
        applied = index - 1;
        steps.push({ version: migration.version, name: migration.name, direction: 'down', ms: performance.now() - startedAt });
      }
      return steps;
    },
  };
}
