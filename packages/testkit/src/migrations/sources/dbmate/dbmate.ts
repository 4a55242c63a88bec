import { basename } from 'node:path';
import { MigrationFailedError, MigrationsInvalidError, messageOf } from '../../../errors.js';
import type { Session } from '../../../queryable.js';
import { quoteQualified } from '../../../sql/ident.js';
import { splitStatements, transactionControlKind } from '../../../sql/split.js';
import { type FileMigration, type FileNaming, type FileStateTable, fileMigrator } from '../../file-runner.js';
import { type LoadedFile, declaredIrreversible, missingDownReason, toFsPath } from '../../migration-files.js';
import type { MigrationTarget, Migrator } from '../../migrator.js';
import { runScript } from '../../run-script.js';
import { listVersions } from '../../source-helpers.js';
import { checkIdentOption, describeShape, isTable, readStateTable } from '../../state-table.js';
import { type Section, parseDbmateFile } from './dbmate-file.js';

export interface DbmateDirectoryOptions {
  /** Name of dbmate's state table, in schema public. Default "schema_migrations". */
  readonly table?: string;
  /** Versions declared irreversible; as for sqlDirectory, a missing or empty down section fails otherwise. */
  readonly irreversible?: readonly string[];
}

/** As dbmate reads a folder: any name that starts with digits (the version) and ends in .sql. */
const DBMATE_FILE = /^(\d+)[-_.]?(.*)\.sql$/;
const PATTERN_TEXT = '{version}{anything}.sql (version: the leading digits, for example 20240101120000_create_users.sql or 1700000000001-extensions.sql)';
const MAX_VERSION_LENGTH = 128;

interface DbmateMigration extends FileMigration {
  readonly file: LoadedFile;
  readonly up: Section;
  readonly down: Section | undefined;
  readonly downWritten: boolean;
}

/** dbmate's naming rules: one file per migration, its sections marked by `-- migrate:up` / `-- migrate:down`. */
function sectionNaming(qualifiedTable: string, options: DbmateDirectoryOptions): FileNaming<DbmateMigration> {
  return {
    caller: 'dbmateDirectory',
    patternName: 'dbmate migration file pattern',
    pattern: PATTERN_TEXT,
    fileName: DBMATE_FILE,
    expected: PATTERN_TEXT,
    firstFile: '20240101120000_init.sql starting with "-- migrate:up"',

    migrations(files) {
      const migrations: DbmateMigration[] = [];
      for (const { fileName, file } of files) {
        const [, version = '', name = ''] = DBMATE_FILE.exec(fileName) ?? [];
        if (version.length > MAX_VERSION_LENGTH) {
          throw new MigrationsInvalidError(
            file.path,
            `Migration file ${file.path} has a version of ${version.length} digits, which does not fit the varchar(${MAX_VERSION_LENGTH}) version column of ${qualifiedTable}. Use a shorter version, such as a yyyymmddhhmmss timestamp.`,
          );
        }
        const { up, down, downWritten } = parseDbmateFile(file, fileName);
        const label = basename(file.path).replace(/\.sql$/i, '');
        migrations.push({ version, number: BigInt(version), name, label, upPath: file.path, reversible: down !== undefined, file, up, down, downWritten });
      }
      migrations.sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
      for (let i = 1; i < migrations.length; i++) {
        const previous = migrations[i - 1]!;
        const current = migrations[i]!;
        if (previous.number === current.number) {
          throw new MigrationsInvalidError(
            current.file.path,
            `Migration files ${previous.file.path} and ${current.file.path} both have version ${current.number}: versions compare as numbers, so they collide. Give one of them a different version.`,
          );
        }
      }
      return migrations;
    },

    hashFiles(m, hash) {
      hash.field(m.file.bytes);
    },

    info(m) {
      const missing = m.down ? undefined : `${basename(m.file.path)} has ${m.downWritten ? 'an empty "-- migrate:down" section' : 'no "-- migrate:down" section'}`;
      const declared = declaredIrreversible(m.up.script, m.version, options.irreversible) || declaredIrreversible(m.file.text, m.version, []);
      return {
        version: m.version,
        name: m.name,
        reversible: m.down !== undefined,
        upFile: m.file.path,
        ...(m.down ? { downFile: m.file.path } : {}),
        ...(missing && !declared ? { missingDown: missingDownReason(missing, m.version) } : {}),
      };
    },

    irreversible(migrations, to) {
      const one = migrations.length === 1;
      const first = migrations[0]!;
      return `Cannot revert to ${to === undefined ? 'the base' : `version ${to}`}: migration${one ? '' : 's'} ${migrations.map((m) => m.label).join(', ')} ${one ? 'has' : 'have'} no down section (or an empty one), so ${one ? 'it is' : 'they are'} irreversible. Nothing was reverted. Add a "-- migrate:down" section with the statements that revert ${one ? 'it' : 'them'} to ${migrations.map((m) => m.file.path).join(', ')}, or revert no further than version ${first.version}, which then stays applied.`;
    },
  };
}

/** The failure with the fix that fits dbmate files when a statement refused the transaction. */
function hinted(error: unknown, m: DbmateMigration, direction: 'up' | 'down'): unknown {
  if (!(error instanceof MigrationFailedError) || error.sqlState !== '25001') return error;
  const cause = error.cause;
  const message = messageOf(cause);
  const withFix = new Error(
    `${message} (this section runs in a transaction; write "-- migrate:${direction} transaction:false" in ${m.file.path} to run its statements one by one without one)`,
    { cause },
  );
  Object.assign(withFix, { code: error.sqlState });
  return new MigrationFailedError({
    migration: m.label,
    direction,
    ...(error.location ? { location: error.location } : {}),
    ...(error.statement !== undefined ? { statement: error.statement } : {}),
    sqlState: error.sqlState,
    ...(error.role !== undefined ? { role: error.role } : {}),
    cause: withFix,
  });
}

/** dbmate's state table: one row per applied version, written in the same transaction as the section. */
function appliedVersions(directory: string, schema: string, table: string): FileStateTable<DbmateMigration> {
  const qualifiedTable = quoteQualified(schema, table);

  async function exists(session: Session): Promise<boolean> {
    const shape = await readStateTable(session, schema, table);
    if (shape === undefined) return false;
    const version = shape.columns.find((r) => r.name === 'version')?.type;
    const textual = version !== undefined && /^(character varying|text)\b/.test(version);
    const golang = shape.columns.some((r) => r.name === 'dirty');
    if (!isTable(shape) || !textual || golang) {
      throw new MigrationsInvalidError(
        qualifiedTable,
        `${qualifiedTable} exists but is not a dbmate state table (a table with a version varchar column; found ${describeShape(shape)}).${golang ? ' It looks like golang-migrate\'s table: for .up.sql/.down.sql migrations use sqlDirectory().' : ''} Another tool probably owns it: pass dbmateDirectory(dir, { table: '...' }) a different name.`,
      );
    }
    return true;
  }

  async function readApplied(session: Session): Promise<string[]> {
    if (!(await exists(session))) return [];
    const result = await session.query<{ version: string }>(`SELECT version::text AS version FROM ${qualifiedTable}`);
    return result.rows.map((r) => r.version);
  }

  /** Runs one section and records the result, both in one transaction when the section allows. */
  async function runSection(target: MigrationTarget, m: DbmateMigration, section: Section, direction: 'up' | 'down'): Promise<void> {
    const session = target.session;
    const record = async (): Promise<void> => {
      if (direction === 'up') await session.query(`INSERT INTO ${qualifiedTable} (version) VALUES ($1)`, [m.version]);
      else await session.query(`DELETE FROM ${qualifiedTable} WHERE version = $1`, [m.version]);
    };
    const script = { file: m.file.path, sql: section.script };
    const opts = { migration: m.label, direction, role: target.role } as const;
    const ownTransactions = splitStatements(section.script).some((s) => transactionControlKind(s.text) !== null);
    if (!section.transaction || ownTransactions) {
      await runScript(session, script, { ...opts, transaction: false });
      await record();
      return;
    }
    try {
      await session.exec('BEGIN');
    } catch (error) {
      throw new MigrationFailedError({ ...opts, statement: 'BEGIN', cause: error });
    }
    try {
      await runScript(session, script, { ...opts, transaction: false });
      await record();
    } catch (error) {
      try {
        await session.exec('ROLLBACK');
      } catch {
        // Keep the original error.
      }
      throw hinted(error, m, direction);
    }
    try {
      await session.exec('COMMIT');
    } catch (error) {
      throw new MigrationFailedError({ ...opts, statement: 'COMMIT', cause: error });
    }
  }

  return {
    stateTables: [`${schema}.${table}`],
    identity: [schema, table],

    async ensure(session) {
      if (await exists(session)) return;
      await session.exec(`CREATE TABLE IF NOT EXISTS ${qualifiedTable} (version varchar(${MAX_VERSION_LENGTH}) PRIMARY KEY)`);
    },

    async applied(session, migrations) {
      const applied = await readApplied(session);
      const unknown = applied.filter((v) => !migrations.some((m) => m.version === v));
      if (unknown.length > 0) {
        const one = unknown.length === 1;
        throw new MigrationsInvalidError(
          qualifiedTable,
          `${qualifiedTable} records version${one ? '' : 's'} ${unknown.slice(0, 20).join(', ')} as applied, but ${directory} has no migration file with ${one ? 'that version' : 'those versions'} (known: ${listVersions(migrations)}). The database was migrated from other files: recreate it, or restore the missing migration files.`,
        );
      }
      return migrations.flatMap((m, i) => (applied.includes(m.version) ? [i] : []));
    },

    async current(session, migrations) {
      let best: { number: bigint; version: string } | null = null;
      for (const version of await readApplied(session)) {
        if (!/^\d+$/.test(version)) continue;
        const number = BigInt(version);
        if (best === null || number > best.number) best = { number, version };
      }
      if (best === null) return null;
      const found = best;
      return migrations.find((m) => m.version === found.version)?.version ?? found.version;
    },

    async run(target, migrations, index, direction) {
      const m = migrations[index]!;
      await runSection(target, m, direction === 'up' ? m.up : m.down!, direction);
    },
  };
}

/**
 * A directory of dbmate migrations: one file per migration named `{version}_{name}.sql`, holding
 * a `-- migrate:up` section and optionally a `-- migrate:down` section. Versions are digits and run
 * in numeric order; a file whose down section is missing or empty is irreversible. A marker may
 * carry options, as in dbmate: `-- migrate:up transaction:false` runs the section statement by
 * statement without a transaction.
 *
 * The applied versions are kept in dbmate's state table, `schema_migrations(version varchar(128)
 * primary key)`, one row per applied migration, so an existing dbmate database is understood.
 * Each section runs in a transaction together with the change to the state table, so a failure
 * leaves nothing behind (sections run without a transaction keep what ran before the failure and
 * are not recorded). Errors point at the line and column in the migration file.
 */
export function dbmateDirectory(dir: string | URL, options: DbmateDirectoryOptions = {}): Migrator {
  const directory = toFsPath(dir);
  const table = options.table ?? 'schema_migrations';
  checkIdentOption('table', table);
  const schema = 'public';
  return fileMigrator('dbmate', directory, sectionNaming(quoteQualified(schema, table), options), appliedVersions(directory, schema, table));
}
