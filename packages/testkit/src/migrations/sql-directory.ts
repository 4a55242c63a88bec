import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  InvalidOptionError,
  MigrationsInvalidError,
  MigrationsNotFoundError,
  MigrationsUnreadableError,
} from '../errors.js';
import type { Session } from '../queryable.js';
import { quoteIdent, quoteQualified } from '../sql/ident.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from './migrator.js';
import { type LoadedFile, cacheKeyOf, declaredIrreversible, errnoOf, fileLoader, isEmptySql, missingDownReason, reasonOf, refuseSubChains } from './migration-files.js';
import { runScript } from './run-script.js';
import { readStateTable } from './state-table.js';

export { cacheKeyOf };

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
const FILE_RE = /^(\d+)_(.*)\.(up|down)\.sql$/;
const PATTERN_TEXT = '{version}_{title}.up.sql / {version}_{title}.down.sql (version: digits, for example 20240101120000_create_users.up.sql)';
const BIGINT_MAX = 9223372036854775807n;
/** Postgres truncates identifiers longer than this many bytes. */
const MAX_IDENT_BYTES = 63;

interface SqlMigration {
  /** The digits as written in the file name. */
  readonly version: string;
  readonly number: bigint;
  readonly name: string;
  readonly up: LoadedFile;
  readonly down: LoadedFile | undefined;
}

interface Snapshot {
  readonly migrations: readonly SqlMigration[];
  readonly hash: string;
  readonly infos: readonly MigrationInfo[];
}

interface State {
  /** null at base (golang-migrate writes -1 for a dirty base). */
  readonly version: bigint | null;
  readonly dirty: boolean;
}

function labelOf(m: SqlMigration): string {
  return m.name === '' ? m.version : `${m.version}_${m.name}`;
}

/** Converts a `file:` URL (object or string) to a path; other strings resolve against the cwd. */
export function toFsPath(pathOrUrl: string | URL): string {
  if (pathOrUrl instanceof URL) return fileURLToPath(pathOrUrl);
  return resolve(pathOrUrl.startsWith('file:') ? fileURLToPath(pathOrUrl) : pathOrUrl);
}

function checkIdentOption(option: string, value: string): void {
  if (value.length === 0) throw new InvalidOptionError(option, 'must not be empty. Leave it out to use the default.');
  if (value.includes('\0')) throw new InvalidOptionError(option, 'must not contain a NUL character.');
  if (Buffer.byteLength(value, 'utf8') > MAX_IDENT_BYTES) {
    throw new InvalidOptionError(
      option,
      `"${value}" is longer than ${MAX_IDENT_BYTES} bytes, and Postgres would silently truncate it. Use a shorter name.`,
    );
  }
}

function listVersions(migrations: readonly SqlMigration[]): string {
  const shown = migrations.slice(0, 20).map((m) => m.version);
  return migrations.length > shown.length ? `${shown.join(', ')}, ...` : shown.join(', ');
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
  const qualifiedTable = quoteQualified(schema, table);

  let inFlight: Promise<Snapshot> | null = null;

  async function readEntries(): Promise<Dirent[]> {
    try {
      return await readdir(directory, { withFileTypes: true });
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOENT') {
        throw new MigrationsNotFoundError(
          directory,
          `Migrations directory ${directory} does not exist. Create it, or pass the right path to sqlDirectory(): a relative path resolves against the current directory (${process.cwd()}); new URL('./migrations/', import.meta.url) resolves against your module.`,
          error,
        );
      }
      if (code === 'ENOTDIR') {
        throw new MigrationsNotFoundError(
          directory,
          `Migrations directory ${directory} is not a directory (it is a file). Pass the directory that holds the *.up.sql files to sqlDirectory().`,
          error,
        );
      }
      throw new MigrationsUnreadableError(
        directory,
        `Migrations directory ${directory} could not be read: ${reasonOf(error)}. Check that it exists and that this user may list it.`,
        error,
      );
    }
  }

  const loader = fileLoader();

  async function scan(): Promise<Snapshot> {
    const entries = await readEntries();
    await refuseSubChains(directory, entries);
    const names = entries
      .filter((e) => /\.sql$/i.test(e.name) && !e.isDirectory())
      .map((e) => e.name)
      .sort();

    const invalid = names.filter((n) => !FILE_RE.test(n));
    if (invalid.length > 0) {
      const first = join(directory, invalid[0] ?? '');
      const which = invalid.length === 1 ? `File ${first} does not` : `Files ${invalid.map((n) => join(directory, n)).join(', ')} do not`;
      throw new MigrationsInvalidError(
        first,
        `${which} match the migration file pattern ${PATTERN_TEXT}. Rename ${invalid.length === 1 ? 'it' : 'them'}, or move ${invalid.length === 1 ? 'it' : 'them'} out of ${directory}.`,
      );
    }

    const files = await Promise.all(
      names.map(async (fileName) => ({ fileName, file: await loader.load(join(directory, fileName)) })),
    );
    loader.keepOnly(names.map((n) => join(directory, n)));

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
    const groups = new Map<bigint, Group>();
    for (const { fileName, file } of files) {
      if (file === null) continue;
      const match = FILE_RE.exec(fileName);
      if (!match) continue;
      const [, version = '', title = '', direction] = match;
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

    const migrations: SqlMigration[] = [];
    for (const group of ordered) {
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
      migrations.push({ version: up.version, number: group.number, name: up.title, up: up.file, down: down?.file });
    }
    if (migrations.length === 0) {
      throw new MigrationsInvalidError(
        directory,
        `Migrations directory ${directory} contains no migrations (no files named ${PATTERN_TEXT}). Add one, such as 1_init.up.sql, or point sqlDirectory() at the directory that holds them.`,
      );
    }

    const hash = createHash('sha256');
    const field = (data: string | Buffer): void => {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      hash.update(`${bytes.length}:`);
      hash.update(bytes);
    };
    hash.update('sql-directory\0');
    field(schema);
    field(table);
    for (const m of migrations) {
      field(m.version);
      field(m.name);
      field(m.up.bytes);
      if (m.down) {
        hash.update('D');
        field(m.down.bytes);
      } else {
        hash.update('N');
      }
    }

    const infos: MigrationInfo[] = migrations.map((m) => {
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
    });
    return { migrations, hash: hash.digest('hex'), infos };
  }

  /** Scans the directory; concurrent callers share one scan, unchanged files are not re-read. */
  function load(): Promise<Snapshot> {
    inFlight ??= scan().finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  async function tableShape(session: Session): Promise<'missing' | 'ok'> {
    const shape = await readStateTable(session, schema, table);
    if (shape === undefined) return 'missing';
    const { relkind } = shape;
    const typeOf = (name: string): string | undefined => shape.columns.find((r) => r.name === name)?.type;
    if ((relkind !== 'r' && relkind !== 'p') || typeOf('version') !== 'bigint' || typeOf('dirty') !== 'boolean') {
      const found = shape.columns.map((r) => `${r.name} ${r.type}`).join(', ');
      throw new MigrationsInvalidError(
        qualifiedTable,
        `${qualifiedTable} exists but is not a migrations state table of the expected shape (a table with version bigint and dirty boolean; found ${relkind === 'r' || relkind === 'p' ? '' : `relkind ${relkind} with `}columns: ${found || 'none'}). Another tool probably owns it: pass sqlDirectory(dir, { table: '...' }) a different name.`,
      );
    }
    return 'ok';
  }

  async function ensureTable(session: Session): Promise<void> {
    if ((await tableShape(session)) === 'ok') return;
    const ns = await session.query(`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [schema]);
    if (ns.rows.length === 0) await session.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
    await session.exec(
      `CREATE TABLE IF NOT EXISTS ${qualifiedTable} (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`,
    );
  }

  async function readState(session: Session): Promise<State | null> {
    if ((await tableShape(session)) === 'missing') return null;
    const result = await session.query<{ version: string; dirty: boolean | string }>(
      `SELECT version::text AS version, dirty FROM ${qualifiedTable} LIMIT 1`,
    );
    const row = result.rows[0];
    if (!row) return null;
    const version = BigInt(row.version);
    const dirty = row.dirty === true || row.dirty === 't' || row.dirty === 'true';
    return { version: version < 0n ? null : version, dirty };
  }

  /** Records the state the way golang-migrate does: one row, or none at a clean base. */
  async function writeState(session: Session, version: bigint | null, dirty: boolean): Promise<void> {
    await session.exec('BEGIN');
    try {
      await session.query(`DELETE FROM ${qualifiedTable}`);
      if (version !== null || dirty) {
        await session.query(`INSERT INTO ${qualifiedTable} (version, dirty) VALUES ($1, $2)`, [
          String(version ?? -1n),
          dirty,
        ]);
      }
      await session.exec('COMMIT');
    } catch (error) {
      try {
        await session.exec('ROLLBACK');
      } catch {
        // Keep the original error.
      }
      throw error;
    }
  }

  function refuseDirty(state: State | null, snap: Snapshot): void {
    if (!state?.dirty) return;
    const atVersion = state.version === null ? null : snap.migrations.find((m) => m.number === state.version);
    const what =
      state.version === null
        ? 'the base (no version): a down migration of the first migration failed partway'
        : `version ${atVersion ? labelOf(atVersion) : String(state.version)}: an earlier run failed partway through its up migration, or through the down migration of the one after it`;
    throw new MigrationsInvalidError(
      qualifiedTable,
      `${qualifiedTable} marks the database as dirty at ${what}, so its schema is in an unknown state. Nothing was run. Recreate the database (test databases are disposable) after fixing the failing migration, or repair it by hand and then record the last fully applied version: UPDATE ${qualifiedTable} SET version = <that version>, dirty = false (or DELETE FROM ${qualifiedTable} if none was). A migration that ran in a transaction (the default) left nothing behind.`,
    );
  }

  function indexOfCurrent(state: State | null, snap: Snapshot): number {
    if (state?.version == null) return -1;
    const index = snap.migrations.findIndex((m) => m.number === state.version);
    if (index < 0) {
      throw new MigrationsInvalidError(
        qualifiedTable,
        `${qualifiedTable} says the database is at version ${state.version}, but ${directory} has no migration with that version (known: ${listVersions(snap.migrations)}). The database was migrated from other files: recreate it, or restore the missing migration file.`,
      );
    }
    return index;
  }

  function indexOfTarget(to: string, snap: Snapshot, direction: 'up' | 'down'): number {
    const index = /^\d+$/.test(to) ? snap.migrations.findIndex((m) => m.number === BigInt(to)) : -1;
    if (index < 0) {
      throw new MigrationsInvalidError(
        directory,
        `Version "${to}" passed to ${direction}() is not a migration in ${directory} (known versions: ${listVersions(snap.migrations)}). Pass one of them${direction === 'down' ? ', or no version to revert everything' : ', or no version to apply everything'}.`,
      );
    }
    return index;
  }

  return {
    kind: 'sql-directory',
    source: directory,

    async hash() {
      return (await load()).hash;
    },

    async list() {
      return (await load()).infos;
    },

    async current(target: MigrationTarget) {
      const snap = await load();
      const state = await readState(target.session);
      if (state?.version == null) return null;
      return snap.migrations.find((m) => m.number === state.version)?.version ?? String(state.version);
    },

    async up(target: MigrationTarget, to?: string) {
      const snap = await load();
      const last = to === undefined ? snap.migrations.length - 1 : indexOfTarget(to, snap, 'up');
      const session = target.session;
      await ensureTable(session);
      const state = await readState(session);
      refuseDirty(state, snap);
      const from = indexOfCurrent(state, snap);

      const steps: AppliedStep[] = [];
      for (const m of snap.migrations.slice(from + 1, last + 1)) {
        const started = performance.now();
        await writeState(session, m.number, true);
        await runScript(
          session,
          { file: m.up.path, sql: m.up.text },
          { migration: labelOf(m), direction: 'up', role: target.role, transaction: 'auto' },
        );
        await writeState(session, m.number, false);
        steps.push({ version: m.version, name: m.name, direction: 'up', ms: performance.now() - started });
      }
      return steps;
    },

    async down(target: MigrationTarget, to?: string) {
      const snap = await load();
      const keep = to === undefined ? -1 : indexOfTarget(to, snap, 'down');
      const session = target.session;
      const state = await readState(session);
      refuseDirty(state, snap);
      const from = indexOfCurrent(state, snap);
      if (from <= keep) return [];

      const toRevert = snap.migrations.slice(keep + 1, from + 1).reverse();
      const irreversible = toRevert.filter((m) => m.down === undefined);
      const firstIrreversible = irreversible[0];
      if (firstIrreversible) {
        const names = irreversible.map(labelOf).join(', ');
        throw new MigrationsInvalidError(
          firstIrreversible.up.path,
          `Cannot revert to ${to === undefined ? 'the base' : `version ${to}`}: migration${irreversible.length === 1 ? '' : 's'} ${names} ${irreversible.length === 1 ? 'has' : 'have'} no down file, so ${irreversible.length === 1 ? 'it is' : 'they are'} irreversible. Nothing was reverted. Add ${irreversible.map((m) => `${m.version}_${m.name}.down.sql`).join(', ')} to ${directory}, or revert no further than version ${firstIrreversible.version}, which then stays applied.`,
        );
      }

      const steps: AppliedStep[] = [];
      for (const m of toRevert) {
        const down = m.down;
        if (!down) continue;
        const index = snap.migrations.indexOf(m);
        const previous = index > 0 ? (snap.migrations[index - 1]?.number ?? null) : null;
        const started = performance.now();
        await writeState(session, previous, true);
        await runScript(
          session,
          { file: down.path, sql: down.text },
          { migration: labelOf(m), direction: 'down', role: target.role, transaction: 'auto' },
        );
        await writeState(session, previous, false);
        steps.push({ version: m.version, name: m.name, direction: 'down', ms: performance.now() - started });
      }
      return steps;
    },
  };
}
