import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MigrationsInvalidError, MigrationsNotFoundError, MigrationsUnreadableError, messageOf } from '../../../errors.js';
import { importPeer } from '../../../peer.js';
import type { PgModule, PgPool } from '../../../session/pg-session.js';
import { quoteQualified } from '../../../sql/ident.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from '../../migrator.js';
import { indexOfVersion, migrationHash, requireUrl, toolFailure } from '../../source-helpers.js';
import { readStateTable } from '../../state-table.js';

interface DrizzleNodePgModule {
  drizzle(client: PgPool): unknown;
}
interface DrizzleMigratorModule {
  migrate(db: unknown, config: { migrationsFolder: string; migrationsTable?: string; migrationsSchema?: string }): Promise<void>;
}

export interface DrizzleMigratorOptions {
  /** drizzle-kit's output folder: `<tag>.sql` files and `meta/_journal.json`. */
  readonly migrationsFolder: string;
  /** drizzle's state table (default __drizzle_migrations). */
  readonly migrationsTable?: string;
  /** Its schema (default drizzle). */
  readonly migrationsSchema?: string;
}

interface JournalEntry {
  readonly idx: number;
  readonly tag: string;
  readonly when: number;
}

interface DrizzleMigration extends MigrationInfo {
  readonly when: number;
}

const FEATURE = 'The drizzle migrations adapter';

async function readJournal(folder: string): Promise<DrizzleMigration[]> {
  const path = join(folder, 'meta', '_journal.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new MigrationsNotFoundError(path, `drizzle journal ${path} could not be read. Pass drizzle-kit's output folder (the one holding meta/_journal.json) as migrationsFolder.`, cause);
  }
  let entries: JournalEntry[];
  try {
    const journal = JSON.parse(text) as { entries?: unknown };
    if (!Array.isArray(journal.entries)) throw new Error('it has no "entries" array');
    entries = journal.entries as JournalEntry[];
  } catch (cause) {
    throw new MigrationsUnreadableError(path, `drizzle journal ${path} is not valid: ${messageOf(cause)}. Regenerate it with drizzle-kit generate.`, cause);
  }
  return [...entries]
    .sort((a, b) => a.idx - b.idx)
    .map((entry) => {
      if (typeof entry.tag !== 'string' || typeof entry.idx !== 'number' || typeof entry.when !== 'number') {
        throw new MigrationsUnreadableError(path, `drizzle journal ${path} has an entry without tag, idx and when: ${JSON.stringify(entry)}. Regenerate it with drizzle-kit generate.`);
      }
      return { version: String(entry.idx).padStart(4, '0'), name: entry.tag, reversible: false, upFile: join(folder, `${entry.tag}.sql`), when: entry.when };
    });
}

/**
 * Connection errors after the work is done (the test database dropped while the pool closes) are
 * not the migration's: every client gets a listener, so none surfaces as an unhandled error.
 */
function quietPool(pool: PgPool): PgPool {
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** A temporary copy of the migrations folder whose journal lists entries 0..last only. */
async function journalUpTo(folder: string, last: number): Promise<string> {
  const copy = await mkdtemp(join(tmpdir(), 'tenantkit-drizzle-'));
  await cp(folder, copy, { recursive: true });
  const journalPath = join(copy, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: unknown[] };
  journal.entries = journal.entries.slice(0, last + 1);
  await writeFile(journalPath, JSON.stringify(journal));
  return copy;
}

/**
 * A drizzle-kit migrations folder, applied with drizzle-orm's node-postgres migrator on the target's
 * URL (a server backend). drizzle has no down migrations, so every step is irreversible, and it
 * applies all pending migrations at once. current() reads drizzle's state table,
 * drizzle.__drizzle_migrations (or the names given).
 */
export function drizzleMigrator(options: DrizzleMigratorOptions): Migrator {
  const folder = resolve(options.migrationsFolder);
  const table = options.migrationsTable ?? '__drizzle_migrations';
  const schema = options.migrationsSchema ?? 'drizzle';
  const source = `drizzle (${options.migrationsFolder})`;

  const position = (list: readonly DrizzleMigration[], to: string, direction: 'up' | 'down'): number =>
    indexOfVersion(list, to, { source, direction, matches: (migration, version) => migration.version === version || migration.name === version });

  /** Index of the last applied migration, as drizzle decides it: by the newest created_at. */
  const appliedIndex = async (target: MigrationTarget, list: readonly DrizzleMigration[]): Promise<number> => {
    if ((await readStateTable(target.session, schema, table)) === undefined) return -1;
    const rows = await target.session.query<{ created_at: string | null }>(`SELECT max(created_at)::text AS created_at FROM ${quoteQualified(schema, table)}`);
    const newest = rows.rows[0]?.created_at;
    if (newest === null || newest === undefined) return -1;
    let last = -1;
    list.forEach((migration, index) => {
      if (migration.when <= Number(newest)) last = index;
    });
    return last;
  };

  return {
    kind: 'drizzle',
    connectsByUrl: true,
    source,
    stateTables: [`${schema}.${table}`],
    async hash() {
      const list = await readJournal(folder);
      const hash = await migrationHash('drizzle').field(schema).field(table).file(join(folder, 'meta', '_journal.json'));
      for (const migration of list) await hash.field(migration.name).file(migration.upFile!);
      return hash.digest();
    },
    async list() {
      return readJournal(folder);
    },
    async current(target) {
      const list = await readJournal(folder);
      const index = await appliedIndex(target, list);
      return index < 0 ? null : list[index]!.version;
    },
    async up(target, to) {
      const list = await readJournal(folder);
      if (list.length === 0) return [];
      const last = to === undefined ? list.length - 1 : position(list, to, 'up');
      const applied = await appliedIndex(target, list);
      if (last <= applied) return [];
      const url = requireUrl(target, `The drizzle source (${source})`);
      const pg = await importPeer<PgModule>('pg', FEATURE);
      const { drizzle } = await importPeer<DrizzleNodePgModule>('drizzle-orm/node-postgres', FEATURE);
      const { migrate } = await importPeer<DrizzleMigratorModule>('drizzle-orm/node-postgres/migrator', FEATURE);
      const pending = list.slice(applied + 1, last + 1);
      // drizzle applies everything its journal lists: to stop earlier, it reads a copy of the folder
      // whose journal ends at `to`.
      const migrationsFolder = last === list.length - 1 ? folder : await journalUpTo(folder, last);
      const pool = quietPool(new pg.default.Pool({ connectionString: url, max: 1 }));
      const startedAt = performance.now();
      try {
        await migrate(drizzle(pool), { migrationsFolder, migrationsTable: table, migrationsSchema: schema });
      } catch (cause) {
        const pgError = (cause as { cause?: { code?: unknown } } | null)?.cause ?? cause;
        throw toolFailure(pending.length === 1 ? pending[0]!.upFile! : `one of ${pending.map((m) => m.name).join(', ')} (${folder})`, 'up', target, pgError);
      } finally {
        await pool.end();
        if (migrationsFolder !== folder) await rm(migrationsFolder, { recursive: true, force: true });
      }
      const ms = (performance.now() - startedAt) / pending.length;
      return pending.map((migration): AppliedStep => ({ version: migration.version, name: migration.name, direction: 'up', ms }));
    },
    async down(target, to) {
      const list = await readJournal(folder);
      const keep = to === undefined ? -1 : position(list, to, 'down');
      const applied = await appliedIndex(target, list);
      if (applied <= keep) return [];
      const first = list[applied]!;
      throw new MigrationsInvalidError(
        first.upFile!,
        `Cannot revert ${source} to ${to === undefined ? 'the base' : `"${to}"`}: drizzle migrations have no down step, so ${first.name} is irreversible. Nothing was reverted. Rebuild the database from scratch instead of reverting.`,
      );
    },
  };
}
