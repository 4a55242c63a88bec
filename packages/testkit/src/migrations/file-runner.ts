import { join } from 'node:path';
import { MigrationsInvalidError } from '../errors.js';
import type { Session } from '../queryable.js';
import { type LoadedFile, fileLoader, readMigrationsDirectory, refuseSubChains, sqlFileNames } from './migration-files.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from './migrator.js';
import { type MigrationHash, indexOfVersion, migrationHash } from './source-helpers.js';

/** A migration read from a directory of SQL files. Versions are digits and run in numeric order. */
export interface FileMigration {
  /** The digits as written in the file name. */
  readonly version: string;
  readonly number: bigint;
  readonly name: string;
  /** How messages name it, e.g. 1_init. */
  readonly label: string;
  /** The file its up step is read from. */
  readonly upPath: string;
  /** False when it has no down step to run. */
  readonly reversible: boolean;
}

/** A file whose name matches the tool's rule, read. */
export interface NamedFile {
  readonly fileName: string;
  readonly file: LoadedFile;
}

/** How a tool names and splits its migration files: what each file-based source keeps for itself. */
export interface FileNaming<M extends FileMigration> {
  /** The function users call, named in messages (sqlDirectory). */
  readonly caller: string;
  /** "migration file pattern", "dbmate migration file pattern". */
  readonly patternName: string;
  /** The file name rule with an example, for messages. */
  readonly pattern: string;
  readonly fileName: RegExp;
  /** The files the caller wants, for the message about a path that is a file. */
  readonly expected: string;
  /** A first migration to suggest for an empty directory. */
  readonly firstFile: string;
  /** The migrations in order, from the matching files sorted by name; refuses collisions. */
  migrations(files: readonly NamedFile[]): M[];
  /** What a migration adds to the hash after its version and name: its files' bytes. */
  hashFiles(migration: M, hash: MigrationHash): void;
  info(migration: M): MigrationInfo;
  /** Why these migrations (newest first) stop a revert to `to`, with the fix. */
  irreversible(migrations: readonly M[], to: string | undefined): string;
}

/** How a tool records what is applied, and how a step runs together with that record. */
export interface FileStateTable<M extends FileMigration> {
  /** schema.table, for Migrator.stateTables. */
  readonly stateTables: readonly string[];
  /** What keys the hash besides the files: the table's schema and name. */
  readonly identity: readonly string[];
  /** Creates the table when missing; refuses a table of that name with another shape. */
  ensure(session: Session): Promise<void>;
  /** The indexes of the applied migrations, ascending; refuses a record the files cannot explain. */
  applied(session: Session, migrations: readonly M[]): Promise<number[]>;
  /** The last applied version, as the files write it, or null at base. */
  current(session: Session, migrations: readonly M[]): Promise<string | null>;
  /** Runs one step of `migrations[index]` and records it. */
  run(target: MigrationTarget, migrations: readonly M[], index: number, direction: 'up' | 'down'): Promise<void>;
}

interface Snapshot<M> {
  readonly migrations: readonly M[];
  readonly hash: string;
  readonly infos: readonly MigrationInfo[];
}

/**
 * A directory of SQL migrations run in numeric order, each step recorded in a state table: the
 * runner behind golang-migrate's and dbmate's layouts. Files are read lazily on first use and
 * re-read only when they change on disk; concurrent callers share one scan.
 */
export function fileMigrator<M extends FileMigration>(kind: string, directory: string, naming: FileNaming<M>, state: FileStateTable<M>): Migrator {
  const loader = fileLoader();
  let inFlight: Promise<Snapshot<M>> | null = null;

  async function scan(): Promise<Snapshot<M>> {
    const entries = await readMigrationsDirectory(directory, naming.caller, naming.expected);
    await refuseSubChains(directory, entries);
    const names = sqlFileNames(entries);
    const invalid = names.filter((n) => !naming.fileName.test(n));
    if (invalid.length > 0) {
      const first = join(directory, invalid[0] ?? '');
      const one = invalid.length === 1;
      const which = one ? `File ${first} does not` : `Files ${invalid.map((n) => join(directory, n)).join(', ')} do not`;
      throw new MigrationsInvalidError(
        first,
        `${which} match the ${naming.patternName} ${naming.pattern}. Rename ${one ? 'it' : 'them'}, or move ${one ? 'it' : 'them'} out of ${directory}.`,
      );
    }
    const read = await Promise.all(names.map(async (fileName) => ({ fileName, file: await loader.load(join(directory, fileName)) })));
    loader.keepOnly(names.map((n) => join(directory, n)));
    const migrations = naming.migrations(read.filter((entry): entry is NamedFile => entry.file !== null));
    if (migrations.length === 0) {
      throw new MigrationsInvalidError(
        directory,
        `Migrations directory ${directory} contains no migrations (no files named ${naming.pattern}). Add one, such as ${naming.firstFile}, or point ${naming.caller}() at the directory that holds them.`,
      );
    }
    const hash = migrationHash(kind);
    for (const part of state.identity) hash.field(part);
    for (const m of migrations) {
      hash.field(m.version).field(m.name);
      naming.hashFiles(m, hash);
    }
    return { migrations, hash: hash.digest(), infos: migrations.map((m) => naming.info(m)) };
  }

  function load(): Promise<Snapshot<M>> {
    inFlight ??= scan().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  const indexOfTarget = (to: string, migrations: readonly M[], direction: 'up' | 'down'): number =>
    indexOfVersion(migrations, to, { source: directory, direction, matches: (m, version) => /^\d+$/.test(version) && m.number === BigInt(version) });

  async function step(target: MigrationTarget, migrations: readonly M[], index: number, direction: 'up' | 'down'): Promise<AppliedStep> {
    const m = migrations[index]!;
    const started = performance.now();
    await state.run(target, migrations, index, direction);
    return { version: m.version, name: m.name, direction, ms: performance.now() - started };
  }

  return {
    kind,
    source: directory,
    stateTables: state.stateTables,

    async hash() {
      return (await load()).hash;
    },

    async list() {
      return (await load()).infos;
    },

    async current(target) {
      return state.current(target.session, (await load()).migrations);
    },

    async up(target, to) {
      const { migrations } = await load();
      const last = to === undefined ? migrations.length - 1 : indexOfTarget(to, migrations, 'up');
      await state.ensure(target.session);
      const done = new Set(await state.applied(target.session, migrations));
      const steps: AppliedStep[] = [];
      for (let index = 0; index <= last; index++) {
        if (!done.has(index)) steps.push(await step(target, migrations, index, 'up'));
      }
      return steps;
    },

    async down(target, to) {
      const { migrations } = await load();
      const keep = to === undefined ? -1 : indexOfTarget(to, migrations, 'down');
      const toRevert = (await state.applied(target.session, migrations)).filter((index) => index > keep).reverse();
      const irreversible = toRevert.map((index) => migrations[index]!).filter((m) => !m.reversible);
      if (irreversible.length > 0) throw new MigrationsInvalidError(irreversible[0]!.upPath, naming.irreversible(irreversible, to));
      const steps: AppliedStep[] = [];
      for (const index of toRevert) steps.push(await step(target, migrations, index, 'down'));
      return steps;
    },
  };
}
