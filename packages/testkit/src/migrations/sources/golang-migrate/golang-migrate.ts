import { basename, join } from 'node:path';
import { MigrationsInvalidError } from '../../../errors.js';
import type { Session } from '../../../queryable.js';
import { quoteQualified } from '../../../sql/ident.js';
import { type FileMigration, type FileNaming, type FileStateTable, type NamedFile, fileMigrator } from '../../file-runner.js';
import { type LoadedFile, declaredIrreversible, isEmptySql, missingDownReason, toFsPath } from '../../migration-files.js';
import type { MigrationInfo, Migrator } from '../../migrator.js';
import { runScript } from '../../run-script.js';
import { listVersions } from '../../source-helpers.js';
import { type VersionState, checkIdentOption, versionStateTable } from '../../state-table.js';

export interface SqlDirectoryOptions {
  /** Name of the state table (golang-migrate's layout). Default "schema_migrations". */
  readonly table?: string;
  /** Schema holding the state table; created if missing. Default "public". */
  readonly schema?: string;
  /**
   * Versions declared irreversible (no down file expected). A version with no down file that is
   * not declared here or by a first line "-- tenantkit: irreversible" fails the stairway.
   */
  readonly irreversible?: readonly string[];
}

/** The file naming golang-migrate uses: {version}_{title}.up.sql and {version}_{title}.down.sql. */
export const GOLANG_MIGRATE_FILE = /^(\d+)_(.*)\.(up|down)\.sql$/;
const PATTERN_TEXT = '{version}_{title}.up.sql / {version}_{title}.down.sql (version: digits, for example 20240101120000_create_users.up.sql)';
const BIGINT_MAX = 9223372036854775807n;

interface PairMigration extends FileMigration {
  readonly up: LoadedFile;
  readonly down: LoadedFile | undefined;
}

interface Named {
  readonly version: string;
  readonly title: string;
  readonly file: LoadedFile;
}

interface Group {
  readonly number: bigint;
  readonly up: Named[];
  readonly down: Named[];
}

/** golang-migrate's naming rules: an up file and an optional down file per version. */
function pairNaming(directory: string, qualifiedTable: string, options: SqlDirectoryOptions): FileNaming<PairMigration> {
  function groupsOf(files: readonly NamedFile[]): Group[] {
    const groups = new Map<bigint, Group>();
    for (const { fileName, file } of files) {
      const [, version = '', title = '', direction] = GOLANG_MIGRATE_FILE.exec(fileName) ?? [];
      const number = BigInt(version);
      if (number > BIGINT_MAX) {
        throw new MigrationsInvalidError(
          file.path,
          `Migration file ${file.path} has version ${version}, which does not fit the bigint version column of ${qualifiedTable} (at most ${BIGINT_MAX}). Use a smaller version, such as a yyyymmddhhmmss timestamp.`,
        );
      }
      let group = groups.get(number);
      if (!group) {
        group = { number, up: [], down: [] };
        groups.set(number, group);
      }
      (direction === 'up' ? group.up : group.down).push({ version, title, file });
    }
    const ordered = [...groups.values()].sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
    for (const group of ordered) {
      for (const [direction, named] of [['up', group.up], ['down', group.down]] as const) {
        if (named.length > 1) {
          throw new MigrationsInvalidError(
            named[1]?.file.path ?? directory,
            `Migration files ${named.map((n) => n.file.path).join(' and ')} are all ${direction} migrations for version ${group.number}: versions compare as numbers, so they collide. Give all but one of them a different version.`,
          );
        }
      }
    }
    return ordered;
  }

  return {
    caller: 'sqlDirectory',
    patternName: 'migration file pattern',
    pattern: PATTERN_TEXT,
    fileName: GOLANG_MIGRATE_FILE,
    expected: '*.up.sql',
    firstFile: '1_init.up.sql',

    migrations(files) {
      return groupsOf(files).map((group) => {
        const up = group.up[0];
        const down = group.down[0];
        if (!up) {
          const downPath = down?.file.path ?? directory;
          throw new MigrationsInvalidError(
            downPath,
            `Migration file ${downPath} has no up migration: ${join(directory, `${down?.version ?? group.number}_${down?.title ?? ''}.up.sql`)} is missing. Add the up file, or remove the down file.`,
          );
        }
        if (down && (down.version !== up.version || down.title !== up.title)) {
          throw new MigrationsInvalidError(
            down.file.path,
            `Migration files ${up.file.path} and ${down.file.path} share version ${group.number} but their names differ, so they do not form an up/down pair. Name the down file ${up.version}_${up.title}.down.sql, or give it a different version.`,
          );
        }
        return {
          version: up.version,
          number: group.number,
          name: up.title,
          label: up.title === '' ? up.version : `${up.version}_${up.title}`,
          upPath: up.file.path,
          reversible: down !== undefined,
          up: up.file,
          down: down?.file,
        };
      });
    },

    hashFiles(m, hash) {
      hash.field(m.up.bytes).field(m.down ? 'D' : 'N');
      if (m.down) hash.field(m.down.bytes);
    },

    info(m): MigrationInfo {
      const emptyDown = m.down !== undefined && isEmptySql(m.down.text);
      const declared = declaredIrreversible(m.up.text, m.version, options.irreversible);
      const missing = m.down === undefined ? `${m.version}_${m.name}.down.sql is missing` : emptyDown ? `${basename(m.down.path)} is empty` : undefined;
      return {
        version: m.version,
        name: m.name,
        reversible: m.down !== undefined && !emptyDown,
        upFile: m.up.path,
        ...(m.down ? { downFile: m.down.path } : {}),
        ...(missing && !declared ? { missingDown: missingDownReason(missing, m.version) } : {}),
      };
    },

    irreversible(migrations, to) {
      const one = migrations.length === 1;
      const first = migrations[0]!;
      return `Cannot revert to ${to === undefined ? 'the base' : `version ${to}`}: migration${one ? '' : 's'} ${migrations.map((m) => m.label).join(', ')} ${one ? 'has' : 'have'} no down file, so ${one ? 'it is' : 'they are'} irreversible. Nothing was reverted. Add ${migrations.map((m) => `${m.version}_${m.name}.down.sql`).join(', ')} to ${directory}, or revert no further than version ${first.version}, which then stays applied.`;
    },
  };
}

/** golang-migrate's state table: the last applied version, marked dirty while its step runs. */
function versionState(directory: string, schema: string, table: string): FileStateTable<PairMigration> {
  const record = versionStateTable(schema, table, `Another tool probably owns it: pass sqlDirectory(dir, { table: '...' }) a different name.`);
  const qualifiedTable = record.qualified;

  function refuseDirty(state: VersionState | null, migrations: readonly PairMigration[]): void {
    if (!state?.dirty) return;
    const atVersion = state.version === null ? null : migrations.find((m) => m.number === state.version);
    const what =
      state.version === null
        ? 'the base (no version): a down migration of the first migration failed partway'
        : `version ${atVersion ? atVersion.label : String(state.version)}: an earlier run failed partway through its up migration, or through the down migration of the one after it`;
    throw new MigrationsInvalidError(
      qualifiedTable,
      `${qualifiedTable} marks the database as dirty at ${what}, so its schema is in an unknown state. Nothing was run. Recreate the database (test databases are disposable) after fixing the failing migration, or repair it by hand and then record the last fully applied version: UPDATE ${qualifiedTable} SET version = <that version>, dirty = false (or DELETE FROM ${qualifiedTable} if none was). A migration that ran in a transaction (the default) left nothing behind.`,
    );
  }

  return {
    stateTables: [`${schema}.${table}`],
    identity: [schema, table],
    ensure: (session: Session) => record.ensure(session),

    async applied(session, migrations) {
      const state = await record.read(session);
      refuseDirty(state, migrations);
      if (state?.version == null) return [];
      const index = migrations.findIndex((m) => m.number === state.version);
      if (index < 0) {
        throw new MigrationsInvalidError(
          qualifiedTable,
          `${qualifiedTable} says the database is at version ${state.version}, but ${directory} has no migration with that version (known: ${listVersions(migrations)}). The database was migrated from other files: recreate it, or restore the missing migration file.`,
        );
      }
      return migrations.slice(0, index + 1).map((_, i) => i);
    },

    async current(session, migrations) {
      const state = await record.read(session);
      if (state?.version == null) return null;
      return migrations.find((m) => m.number === state.version)?.version ?? String(state.version);
    },

    async run(target, migrations, index, direction) {
      const m = migrations[index]!;
      const file = direction === 'up' ? m.up : m.down!;
      // Down: the version before this one is where the database lands.
      const at = direction === 'up' ? m.number : index > 0 ? migrations[index - 1]!.number : null;
      await record.write(target.session, at, true);
      await runScript(target.session, { file: file.path, sql: file.text }, { migration: m.label, direction, role: target.role, transaction: 'auto' });
      await record.write(target.session, at, false);
    },
  };
}

/**
 * A directory of plain SQL migrations named like golang-migrate's: `{version}_{title}.up.sql`
 * with a `{version}_{title}.down.sql`. Versions are digits (timestamps are fine) and run in
 * numeric order. A migration without a down file (or with an empty one) is irreversible, and the
 * stairway fails it unless it was declared so (`irreversible`, or a first line
 * `-- tenantkit: irreversible` in the up file).
 *
 * The applied version is kept in golang-migrate's state table, `schema_migrations(version bigint
 * not null primary key, dirty boolean not null)`, so an existing golang-migrate database is
 * understood. Each up file runs in a transaction unless it manages its own or starts with
 * `-- tenantkit:no-transaction`; a failure leaves the table marked dirty, as golang-migrate does,
 * and further runs refuse until the database is recreated or repaired.
 *
 * Files are read lazily on first use and re-read only when they change on disk.
 */
export function sqlDirectory(dir: string | URL, options: SqlDirectoryOptions = {}): Migrator {
  const directory = toFsPath(dir);
  const table = options.table ?? 'schema_migrations';
  const schema = options.schema ?? 'public';
  checkIdentOption('table', table);
  checkIdentOption('schema', schema);
  const state = versionState(directory, schema, table);
  return fileMigrator('sql-directory', directory, pairNaming(directory, quoteQualified(schema, table), options), state);
}
