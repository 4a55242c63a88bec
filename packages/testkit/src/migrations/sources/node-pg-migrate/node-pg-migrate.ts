import { readFile, readdir } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MigrationsInvalidError, MigrationsNotFoundError } from '../../../errors.js';
import { importPeer } from '../../../peer.js';
import { connectPgClient } from '../../../session/pg-session.js';
import { quoteQualified } from '../../../sql/ident.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from '../../migrator.js';
import { indexOfVersion, migrationHash, requireUrl, toolFailure } from '../../source-helpers.js';
import { readStateTable } from '../../state-table.js';

type NodePgMigrateModule = typeof import('node-pg-migrate');

export interface NodePgMigrateMigratorOptions {
  /** node-pg-migrate's migrations directory. */
  readonly dir: string;
  /** Its state table (default pgmigrations). */
  readonly migrationsTable?: string;
  /** The state table's schema (default public). */
  readonly migrationsSchema?: string;
}

interface NpmMigration extends MigrationInfo {
  /** The name node-pg-migrate records: the file name without its extension. */
  readonly id: string;
  readonly files: readonly string[];
}

const FEATURE = 'The node-pg-migrate adapter';
const SCRIPT = new Set(['.js', '.cjs', '.mjs', '.ts', '.cts', '.mts']);
const DOWN_MARKER = /^\s*--[\s-]*down\s+migration/im;

function compareNames(a: string, b: string): number {
  const prefix = (name: string): number | undefined => {
    const match = /^(\d+)/.exec(name);
    return match ? Number(match[1]) : undefined;
  };
  const pa = prefix(a);
  const pb = prefix(b);
  if (pa !== undefined && pb !== undefined && pa !== pb) return pa - pb;
  return a.localeCompare(b, undefined, { numeric: true });
}

async function scriptHasDown(file: string): Promise<boolean> {
  let module: { down?: unknown; default?: { down?: unknown } };
  try {
    module = (await import(pathToFileURL(file).href)) as typeof module;
  } catch {
    // A file plain Node cannot load (TypeScript): node-pg-migrate loads it its own way; assume it reverts.
    return true;
  }
  const down = 'down' in module ? module.down : module.default?.down;
  return typeof down === 'function';
}

async function readMigrations(dir: string): Promise<NpmMigration[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (cause) {
    throw new MigrationsNotFoundError(dir, `node-pg-migrate migrations directory ${dir} could not be read. Pass the directory holding the migration files as dir.`, cause);
  }
  const groups = new Map<string, { script?: string; single?: string; up?: string; down?: string }>();
  for (const entry of entries) {
    if (!(entry.isFile() || entry.isSymbolicLink()) || entry.name.startsWith('.')) continue;
    const file = join(dir, entry.name);
    const ext = extname(entry.name).toLowerCase();
    if (ext === '.sql') {
      const stem = basename(entry.name, extname(entry.name));
      const [id, part] = stem.endsWith('.up') ? [stem.slice(0, -3), 'up' as const] : stem.endsWith('.down') ? [stem.slice(0, -5), 'down' as const] : [stem, 'single' as const];
      const group = groups.get(id) ?? {};
      group[part] = file;
      groups.set(id, group);
    } else if (SCRIPT.has(ext)) {
      const id = basename(entry.name, extname(entry.name));
      groups.set(id, { ...groups.get(id), script: file });
    }
  }
  const migrations: NpmMigration[] = [];
  for (const id of [...groups.keys()].sort(compareNames)) {
    const group = groups.get(id)!;
    let reversible: boolean;
    let upFile: string | undefined;
    let downFile: string | undefined;
    if (group.script) reversible = await scriptHasDown(group.script);
    else if (group.single) {
      reversible = DOWN_MARKER.test(await readFile(group.single, 'utf8'));
    } else {
      upFile = group.up;
      downFile = group.down;
      reversible = group.down !== undefined;
    }
    const match = /^(\d+)_(.+)$/.exec(id);
    const files = [group.script, group.single, group.up, group.down].filter((file): file is string => file !== undefined);
    migrations.push({
      id,
      version: match ? match[1]! : id,
      name: match ? match[2]! : id,
      reversible,
      files,
      ...(upFile ? { upFile } : {}),
      ...(downFile ? { downFile } : {}),
    });
  }
  return migrations;
}

/**
 * A node-pg-migrate migrations directory, run through its programmatic runner on the target's URL
 * (a server backend). A migration whose `down` is `false` or missing counts as irreversible. Its
 * state table, public.pgmigrations (or migrationsSchema.migrationsTable), is what current() reads.
 */
export function nodePgMigrateMigrator(options: NodePgMigrateMigratorOptions): Migrator {
  const dir = resolve(options.dir);
  const table = options.migrationsTable ?? 'pgmigrations';
  const schema = options.migrationsSchema ?? 'public';
  const source = `node-pg-migrate (${options.dir})`;

  const position = (list: readonly NpmMigration[], to: string, direction: 'up' | 'down'): number =>
    indexOfVersion(list, to, { source, direction, matches: (migration, version) => migration.version === version || migration.id === version });

  const appliedIds = async (target: MigrationTarget): Promise<Set<string>> => {
    if ((await readStateTable(target.session, schema, table)) === undefined) return new Set();
    const rows = await target.session.query<{ name: string }>(`SELECT name FROM ${quoteQualified(schema, table)} ORDER BY run_on, id`);
    return new Set(rows.rows.map((row) => row.name));
  };

  const run = async (target: MigrationTarget, direction: 'up' | 'down', planned: readonly NpmMigration[]): Promise<AppliedStep[]> => {
    if (planned.length === 0) return [];
    const url = requireUrl(target, `The node-pg-migrate source (${source})`);
    const { runner } = await importPeer<NodePgMigrateModule>('node-pg-migrate', FEATURE);
    // The kit's own connection, listened to: the runner's would crash the process when the test
    // database is dropped under a connection it has not finished closing.
    const client = await connectPgClient(url, 'tenantkit-node-pg-migrate');
    const startedAt = performance.now();
    try {
      await runner({
        // a pg Client, typed by the kit as the subset of it that the kit itself uses
        dbClient: client as never,
        dir,
        direction,
        count: planned.length,
        migrationsTable: table,
        migrationsSchema: schema,
        checkOrder: true,
        log: () => {},
      });
    } catch (cause) {
      const now = await appliedIds(target).catch(() => undefined);
      const failed = now ? planned.find((migration) => (direction === 'up' ? !now.has(migration.id) : now.has(migration.id))) : undefined;
      throw toolFailure(failed ? `${failed.id} (${failed.files.join(', ')})` : planned.map((m) => m.id).join(', '), direction, target, cause);
    } finally {
      await client.end().catch(() => {});
    }
    const ms = (performance.now() - startedAt) / planned.length;
    return planned.map((migration) => ({ version: migration.version, name: migration.name, direction, ms }));
  };

  return {
    kind: 'node-pg-migrate',
    connectsByUrl: true,
    source,
    stateTables: [`${schema}.${table}`],
    async hash() {
      const hash = migrationHash('node-pg-migrate').field(schema).field(table);
      for (const migration of await readMigrations(dir)) {
        hash.field(migration.id);
        for (const file of migration.files) await hash.file(file);
      }
      return hash.digest();
    },
    async list() {
      return readMigrations(dir);
    },
    async current(target) {
      const applied = await appliedIds(target);
      const list = await readMigrations(dir);
      const last = list.filter((migration) => applied.has(migration.id)).at(-1);
      return last ? last.version : null;
    },
    async up(target, to) {
      const list = await readMigrations(dir);
      const last = to === undefined ? list.length - 1 : position(list, to, 'up');
      const applied = await appliedIds(target);
      const planned = list.slice(0, last + 1).filter((migration) => !applied.has(migration.id));
      return run(target, 'up', planned);
    },
    async down(target, to) {
      const list = await readMigrations(dir);
      const keep = to === undefined ? -1 : position(list, to, 'down');
      const applied = await appliedIds(target);
      const planned = list.slice(keep + 1).filter((migration) => applied.has(migration.id)).reverse();
      const irreversible = planned.filter((migration) => !migration.reversible);
      if (irreversible.length > 0) {
        throw new MigrationsInvalidError(
          irreversible[0]!.files[0] ?? dir,
          `Cannot revert ${source} to ${to === undefined ? 'the base' : `version ${to}`}: ${irreversible.map((m) => m.id).join(', ')} ${irreversible.length === 1 ? 'has' : 'have'} no down (exported as false or missing), so nothing was reverted. Export a down function, or revert no further than ${irreversible[0]!.id}.`,
        );
      }
      return run(target, 'down', planned);
    },
  };
}
