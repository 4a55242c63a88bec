import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { basename, join } from 'node:path';
import {
  InvalidOptionError,
  MigrationFailedError,
  MigrationsInvalidError,
  MigrationsNotFoundError,
  MigrationsUnreadableError,
} from '../errors.js';
import type { Session } from '../queryable.js';
import { quoteQualified } from '../sql/ident.js';
import { splitStatements, transactionControlKind } from '../sql/split.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from './migrator.js';
import { decodeSqlFile, hasNoTransactionDirective, runScript } from './run-script.js';
import { readStateTable } from './state-table.js';
import { type LoadedFile, declaredIrreversible, errnoOf, fileLoader, missingDownReason, reasonOf, refuseSubChains } from './migration-files.js';
import { toFsPath } from './sql-directory.js';

export interface DbmateDirectoryOptions {
  /** Name of dbmate's state table, in schema public. Default "schema_migrations". */
  readonly table?: string;
  /** Versions declared irreversible; as for sqlDirectory, a missing or empty down section fails otherwise. */
  readonly irreversible?: readonly string[];
}

/** As dbmate reads a folder: any name that starts with digits (the version) and ends in .sql. */
const FILE_RE = /^(\d+)[-_.]?(.*)\.sql$/;
/** golang-migrate's file naming, for telling the two layouts apart. */
const PAIR_RE = /^(\d+)_(.*)\.(up|down)\.sql$/;
const MARKER_RE = /^--[ \t]*migrate:(up|down)(?![A-Za-z0-9_])([^\r\n]*)$/gm;
const PATTERN_TEXT = '{version}{anything}.sql (version: the leading digits, for example 20240101120000_create_users.sql or 1700000000001-extensions.sql)';
const MAX_VERSION_LENGTH = 128;
const MAX_IDENT_BYTES = 63;

/** One section of a migration file, ready for runScript. */
interface Section {
  /**
   * The section's statements preceded by the line breaks of everything before it in the file, so
   * that positions in it are positions in the file.
   */
  readonly script: string;
  readonly empty: boolean;
  /** False when the marker says transaction:false (or the section starts with the tenantkit directive). */
  readonly transaction: boolean;
}

interface DbmateMigration {
  readonly version: string;
  readonly number: bigint;
  readonly name: string;
  readonly file: LoadedFile;
  readonly up: Section;
  /** Undefined when there is no down section, or it holds no statements: irreversible. */
  readonly down: Section | undefined;
  /** A `-- migrate:down` line is there (its section may still be empty). */
  readonly downWritten: boolean;
}

interface Snapshot {
  readonly migrations: readonly DbmateMigration[];
  readonly hash: string;
  readonly infos: readonly MigrationInfo[];
}

function labelOf(m: DbmateMigration): string {
  return basename(m.file.path).replace(/\.sql$/i, '');
}

function listVersions(migrations: readonly DbmateMigration[]): string {
  const shown = migrations.slice(0, 20).map((m) => m.version);
  return migrations.length > shown.length ? `${shown.join(', ')}, ...` : shown.join(', ');
}

async function readDirectory(directory: string, caller: string, expected: string): Promise<Dirent[]> {
  try {
    return await readdir(directory, { withFileTypes: true });
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT') {
      throw new MigrationsNotFoundError(
        directory,
        `Migrations directory ${directory} does not exist. Create it, or pass the right path to ${caller}(): a relative path resolves against the current directory (${process.cwd()}); new URL('./migrations/', import.meta.url) resolves against your module.`,
        error,
      );
    }
    if (code === 'ENOTDIR') {
      throw new MigrationsNotFoundError(
        directory,
        `Migrations directory ${directory} is not a directory (it is a file). Pass the directory that holds the ${expected} files to ${caller}().`,
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

function sqlFileNames(entries: readonly Dirent[]): string[] {
  return entries
    .filter((e) => /\.sql$/i.test(e.name) && !e.isDirectory())
    .map((e) => e.name)
    .sort();
}

interface Marker {
  readonly kind: 'up' | 'down';
  /** Index of the marker's first character. */
  readonly start: number;
  /** Index of the first character after the marker's line break. */
  readonly bodyStart: number;
  readonly options: string;
}

function findMarkers(text: string): Marker[] {
  const markers: Marker[] = [];
  for (const match of text.matchAll(MARKER_RE)) {
    const start = match.index;
    let end = start + match[0].length;
    if (text.startsWith('\r\n', end)) end += 2;
    else if (text[end] === '\n' || text[end] === '\r') end += 1;
    markers.push({ kind: match[1] === 'up' ? 'up' : 'down', start, bodyStart: end, options: match[2] ?? '' });
  }
  return markers;
}

/** True when `text` holds a line `-- migrate:up`, the mark of a dbmate migration file. */
export function hasDbmateUpMarker(text: string): boolean {
  return findMarkers(text).some((m) => m.kind === 'up');
}

function transactionOption(marker: Marker, path: string): boolean {
  let transaction = true;
  for (const token of marker.options.trim().split(/\s+/)) {
    const match = /^transaction:(.*)$/i.exec(token);
    if (!match) continue;
    const value = (match[1] ?? '').toLowerCase();
    if (value !== 'true' && value !== 'false') {
      throw new MigrationsInvalidError(
        path,
        `Migration file ${path} has "-- migrate:${marker.kind}${marker.options}": the transaction option takes true or false, not "${match[1] ?? ''}". Write transaction:false to run the section without a transaction, or leave the option out.`,
      );
    }
    transaction = value === 'true';
  }
  return transaction;
}

function sectionOf(text: string, marker: Marker, end: number, path: string): Section {
  const body = text.slice(marker.bodyStart, end);
  const lineBreaks = text.slice(0, marker.bodyStart).replace(/[^\r\n]/g, '');
  return {
    script: lineBreaks + body,
    empty: splitStatements(body).length === 0,
    transaction: transactionOption(marker, path) && !hasNoTransactionDirective(body),
  };
}

/** Splits a dbmate file into its up and down sections, refusing what dbmate refuses. */
function parseMigrationFile(file: LoadedFile, fileName: string): { up: Section; down: Section | undefined; downWritten: boolean } {
  const { text, path } = file;
  const markers = findMarkers(text);
  const ups = markers.filter((m) => m.kind === 'up');
  const downs = markers.filter((m) => m.kind === 'down');
  const upMarker = ups[0];
  if (!upMarker) {
    const golang = PAIR_RE.test(fileName)
      ? ` Its name looks like a golang-migrate file: use sqlDirectory() for a directory of .up.sql/.down.sql pairs.`
      : '';
    throw new MigrationsInvalidError(
      path,
      `Migration file ${path} has no "-- migrate:up" line, so it is not a dbmate migration.${golang} Put "-- migrate:up" on its own line before the statements that apply the migration, and "-- migrate:down" before those that revert it.`,
    );
  }
  for (const [kind, found] of [['up', ups], ['down', downs]] as const) {
    if (found.length > 1) {
      throw new MigrationsInvalidError(
        path,
        `Migration file ${path} has ${found.length} "-- migrate:${kind}" lines; a dbmate file has one section of each kind. Merge the sections into one.`,
      );
    }
  }
  const downMarker = downs[0];
  if (downMarker && downMarker.start < upMarker.start) {
    throw new MigrationsInvalidError(
      path,
      `Migration file ${path} has its "-- migrate:down" section before "-- migrate:up"; dbmate requires the up section first. Move the down section to the end of the file.`,
    );
  }
  if (splitStatements(text.slice(0, upMarker.start)).length > 0) {
    throw new MigrationsInvalidError(
      path,
      `Migration file ${path} has statements before its "-- migrate:up" line; they belong to no section and dbmate refuses them. Move them below "-- migrate:up" (or below "-- migrate:down" if they revert the migration).`,
    );
  }
  const up = sectionOf(text, upMarker, downMarker ? downMarker.start : text.length, path);
  const down = downMarker ? sectionOf(text, downMarker, text.length, path) : undefined;
  return { up, down: down && !down.empty ? down : undefined, downWritten: downMarker !== undefined };
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
  if (table.length === 0) throw new InvalidOptionError('table', 'must not be empty. Leave it out to use the default.');
  if (table.includes('\0')) throw new InvalidOptionError('table', 'must not contain a NUL character.');
  if (Buffer.byteLength(table, 'utf8') > MAX_IDENT_BYTES) {
    throw new InvalidOptionError(
      'table',
      `"${table}" is longer than ${MAX_IDENT_BYTES} bytes, and Postgres would silently truncate it. Use a shorter name.`,
    );
  }
  const schema = 'public';
  const qualifiedTable = quoteQualified(schema, table);

  let inFlight: Promise<Snapshot> | null = null;

  const loader = fileLoader();

  async function scan(): Promise<Snapshot> {
    const entries = await readDirectory(directory, 'dbmateDirectory', `${PATTERN_TEXT}`);
    await refuseSubChains(directory, entries);
    const names = sqlFileNames(entries);
    const invalid = names.filter((n) => !FILE_RE.test(n));
    if (invalid.length > 0) {
      const first = join(directory, invalid[0] ?? '');
      const which =
        invalid.length === 1 ? `File ${first} does not` : `Files ${invalid.map((n) => join(directory, n)).join(', ')} do not`;
      throw new MigrationsInvalidError(
        first,
        `${which} match the dbmate migration file pattern ${PATTERN_TEXT}. Rename ${invalid.length === 1 ? 'it' : 'them'}, or move ${invalid.length === 1 ? 'it' : 'them'} out of ${directory}.`,
      );
    }

    const files = await Promise.all(
      names.map(async (fileName) => ({ fileName, file: await loader.load(join(directory, fileName)) })),
    );
    loader.keepOnly(names.map((n) => join(directory, n)));

    const migrations: DbmateMigration[] = [];
    for (const { fileName, file } of files) {
      if (file === null) continue;
      const match = FILE_RE.exec(fileName);
      if (!match) continue;
      const [, version = '', name = ''] = match;
      if (version.length > MAX_VERSION_LENGTH) {
        throw new MigrationsInvalidError(
          file.path,
          `Migration file ${file.path} has a version of ${version.length} digits, which does not fit the varchar(${MAX_VERSION_LENGTH}) version column of ${qualifiedTable}. Use a shorter version, such as a yyyymmddhhmmss timestamp.`,
        );
      }
      const { up, down, downWritten } = parseMigrationFile(file, fileName);
      migrations.push({ version, number: BigInt(version), name, file, up, down, downWritten });
    }
    migrations.sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0));
    for (let i = 1; i < migrations.length; i++) {
      const previous = migrations[i - 1];
      const current = migrations[i];
      if (previous && current && previous.number === current.number) {
        throw new MigrationsInvalidError(
          current.file.path,
          `Migration files ${previous.file.path} and ${current.file.path} both have version ${current.number}: versions compare as numbers, so they collide. Give one of them a different version.`,
        );
      }
    }
    if (migrations.length === 0) {
      throw new MigrationsInvalidError(
        directory,
        `Migrations directory ${directory} contains no migrations (no files named ${PATTERN_TEXT}). Add one, such as 20240101120000_init.sql starting with "-- migrate:up", or point dbmateDirectory() at the directory that holds them.`,
      );
    }

    const hash = createHash('sha256');
    const field = (data: string | Buffer): void => {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      hash.update(`${bytes.length}:`);
      hash.update(bytes);
    };
    hash.update('dbmate\0');
    field(schema);
    field(table);
    for (const m of migrations) {
      field(m.version);
      field(m.name);
      field(m.file.bytes);
    }

    const infos: MigrationInfo[] = migrations.map((m) => {
      const missing = m.down ? undefined : `${basename(m.file.path)} has ${m.downWritten ? 'an empty "-- migrate:down" section' : 'no "-- migrate:down" section'}`;
      return {
        version: m.version,
        name: m.name,
        reversible: m.down !== undefined,
        upFile: m.file.path,
        ...(m.down ? { downFile: m.file.path } : {}),
        ...(missing && !declaredIrreversible(m.up.script, m.version, options.irreversible) && !declaredIrreversible(m.file.text, m.version, [])
          ? { missingDown: missingDownReason(missing, m.version) }
          : {}),
      };
    });
    return { migrations, hash: hash.digest('hex'), infos };
  }

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
    const version = shape.columns.find((r) => r.name === 'version')?.type;
    const textual = version !== undefined && /^(character varying|text)\b/.test(version);
    const golang = shape.columns.some((r) => r.name === 'dirty');
    if ((relkind !== 'r' && relkind !== 'p') || !textual || golang) {
      const found = shape.columns.map((r) => `${r.name} ${r.type}`).join(', ');
      throw new MigrationsInvalidError(
        qualifiedTable,
        `${qualifiedTable} exists but is not a dbmate state table (a table with a version varchar column; found ${relkind === 'r' || relkind === 'p' ? '' : `relkind ${relkind} with `}columns: ${found || 'none'}).${golang ? ' It looks like golang-migrate\'s table: for .up.sql/.down.sql migrations use sqlDirectory().' : ''} Another tool probably owns it: pass dbmateDirectory(dir, { table: '...' }) a different name.`,
      );
    }
    return 'ok';
  }

  async function ensureTable(session: Session): Promise<void> {
    if ((await tableShape(session)) === 'ok') return;
    await session.exec(`CREATE TABLE IF NOT EXISTS ${qualifiedTable} (version varchar(${MAX_VERSION_LENGTH}) PRIMARY KEY)`);
  }

  async function readApplied(session: Session): Promise<string[]> {
    if ((await tableShape(session)) === 'missing') return [];
    const result = await session.query<{ version: string }>(`SELECT version::text AS version FROM ${qualifiedTable}`);
    return result.rows.map((r) => r.version);
  }

  /** The indexes of applied migrations, ascending; refuses versions the directory does not have. */
  function appliedIndexes(applied: readonly string[], snap: Snapshot): number[] {
    const unknown = applied.filter((v) => !snap.migrations.some((m) => m.version === v));
    if (unknown.length > 0) {
      throw new MigrationsInvalidError(
        qualifiedTable,
        `${qualifiedTable} records version${unknown.length === 1 ? '' : 's'} ${unknown.slice(0, 20).join(', ')} as applied, but ${directory} has no migration file with ${unknown.length === 1 ? 'that version' : 'those versions'} (known: ${listVersions(snap.migrations)}). The database was migrated from other files: recreate it, or restore the missing migration files.`,
      );
    }
    return snap.migrations.flatMap((m, i) => (applied.includes(m.version) ? [i] : []));
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

  /** The failure with the fix that fits dbmate files when a statement refused the transaction. */
  function hinted(error: unknown, m: DbmateMigration, direction: 'up' | 'down'): unknown {
    if (!(error instanceof MigrationFailedError) || error.sqlState !== '25001') return error;
    const cause = error.cause;
    const message = cause instanceof Error ? cause.message : String(cause);
    const withFix = new Error(
      `${message} (this section runs in a transaction; write "-- migrate:${direction} transaction:false" in ${m.file.path} to run its statements one by one without one)`,
      { cause },
    );
    Object.assign(withFix, { code: error.sqlState });
    return new MigrationFailedError({
      migration: labelOf(m),
      direction,
      ...(error.location ? { location: error.location } : {}),
      ...(error.statement !== undefined ? { statement: error.statement } : {}),
      sqlState: error.sqlState,
      ...(error.role !== undefined ? { role: error.role } : {}),
      cause: withFix,
    });
  }

  /** Runs one section and records the result, both in one transaction when the section allows. */
  async function runSection(
    target: MigrationTarget,
    m: DbmateMigration,
    section: Section,
    direction: 'up' | 'down',
  ): Promise<void> {
    const session = target.session;
    const record = async (): Promise<void> => {
      if (direction === 'up') await session.query(`INSERT INTO ${qualifiedTable} (version) VALUES ($1)`, [m.version]);
      else await session.query(`DELETE FROM ${qualifiedTable} WHERE version = $1`, [m.version]);
    };
    const script = { file: m.file.path, sql: section.script };
    const opts = { migration: labelOf(m), direction, role: target.role } as const;
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
    kind: 'dbmate',
    source: directory,

    async hash() {
      return (await load()).hash;
    },

    async list() {
      return (await load()).infos;
    },

    async current(target: MigrationTarget) {
      const snap = await load();
      const applied = await readApplied(target.session);
      let best: { number: bigint; version: string } | null = null;
      for (const version of applied) {
        if (!/^\d+$/.test(version)) continue;
        const number = BigInt(version);
        if (best === null || number > best.number) best = { number, version };
      }
      if (best === null) return null;
      const found = best;
      return snap.migrations.find((m) => m.version === found.version)?.version ?? found.version;
    },

    async up(target: MigrationTarget, to?: string) {
      const snap = await load();
      const last = to === undefined ? snap.migrations.length - 1 : indexOfTarget(to, snap, 'up');
      await ensureTable(target.session);
      const done = new Set(appliedIndexes(await readApplied(target.session), snap));

      const steps: AppliedStep[] = [];
      for (const [index, m] of snap.migrations.entries()) {
        if (index > last || done.has(index)) continue;
        const started = performance.now();
        await runSection(target, m, m.up, 'up');
        steps.push({ version: m.version, name: m.name, direction: 'up', ms: performance.now() - started });
      }
      return steps;
    },

    async down(target: MigrationTarget, to?: string) {
      const snap = await load();
      const keep = to === undefined ? -1 : indexOfTarget(to, snap, 'down');
      const applied = appliedIndexes(await readApplied(target.session), snap);
      const toRevert = applied
        .filter((i) => i > keep)
        .reverse()
        .flatMap((i) => (snap.migrations[i] ? [snap.migrations[i]] : []));
      if (toRevert.length === 0) return [];

      const irreversible = toRevert.filter((m) => m.down === undefined);
      const firstIrreversible = irreversible[0];
      if (firstIrreversible) {
        const names = irreversible.map(labelOf).join(', ');
        const one = irreversible.length === 1;
        throw new MigrationsInvalidError(
          firstIrreversible.file.path,
          `Cannot revert to ${to === undefined ? 'the base' : `version ${to}`}: migration${one ? '' : 's'} ${names} ${one ? 'has' : 'have'} no down section (or an empty one), so ${one ? 'it is' : 'they are'} irreversible. Nothing was reverted. Add a "-- migrate:down" section with the statements that revert ${one ? 'it' : 'them'} to ${irreversible.map((m) => m.file.path).join(', ')}, or revert no further than version ${firstIrreversible.version}, which then stays applied.`,
        );
      }

      const steps: AppliedStep[] = [];
      for (const m of toRevert) {
        if (!m.down) continue;
        const started = performance.now();
        await runSection(target, m, m.down, 'down');
        steps.push({ version: m.version, name: m.name, direction: 'down', ms: performance.now() - started });
      }
      return steps;
    },
  };
}

/**
 * Tells which migration layout a directory uses: golang-migrate's `.up.sql`/`.down.sql` pairs
 * ('sql-files', for sqlDirectory()) or dbmate's single `.sql` files with a `-- migrate:up` line
 * ('dbmate', for dbmateDirectory()). A directory mixing the two, or holding neither, is refused.
 */
export async function detectMigrationsFormat(dir: string | URL): Promise<'sql-files' | 'dbmate'> {
  const directory = toFsPath(dir);
  const entries = await readDirectory(directory, 'detectMigrationsFormat', '.sql migration');
  await refuseSubChains(directory, entries);
  const names = sqlFileNames(entries);
  const pairs = names.filter((n) => PAIR_RE.test(n));
  const singles = names.filter((n) => !PAIR_RE.test(n));
  if (pairs.length > 0 && singles.length > 0) {
    throw new MigrationsInvalidError(
      join(directory, singles[0] ?? ''),
      `Migrations directory ${directory} mixes golang-migrate files (${pairs.slice(0, 3).join(', ')}) with other .sql files (${singles.slice(0, 3).join(', ')}), so its format is ambiguous. Keep one layout: {version}_{title}.up.sql/.down.sql pairs, or dbmate files {version}_{name}.sql with "-- migrate:up" and "-- migrate:down" sections.`,
    );
  }
  if (pairs.length > 0) return 'sql-files';
  if (singles.length === 0) {
    throw new MigrationsInvalidError(
      directory,
      `Migrations directory ${directory} contains no .sql migration files, so its format cannot be told. Add golang-migrate pairs ({version}_{title}.up.sql and .down.sql) or dbmate files ({version}_{name}.sql with a "-- migrate:up" line).`,
    );
  }
  const unmarked: string[] = [];
  for (const name of singles) {
    const path = join(directory, name);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (errnoOf(error) === 'EISDIR') continue;
      throw new MigrationsUnreadableError(path, `Migration file ${path} could not be read: ${reasonOf(error)}. Check its permissions.`, error);
    }
    if (!hasDbmateUpMarker(decodeSqlFile(bytes, path))) unmarked.push(path);
  }
  if (unmarked.length > 0) {
    throw new MigrationsInvalidError(
      unmarked[0] ?? directory,
      `Migrations directory ${directory} holds .sql files that are neither golang-migrate pairs ({version}_{title}.up.sql/.down.sql) nor dbmate migrations: ${unmarked.slice(0, 5).join(', ')} ${unmarked.length === 1 ? 'has' : 'have'} no "-- migrate:up" line. Add "-- migrate:up" (and "-- migrate:down") sections to make them dbmate migrations, or rename them to the golang-migrate pattern.`,
    );
  }
  return 'dbmate';
}
