import { readdir } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MigrationsInvalidError, MigrationsNotFoundError, MigrationsUnreadableError, messageOf } from '../../../errors.js';
import { importPeer } from '../../../peer.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from '../../migrator.js';
import { indexOfVersion, migrationHash, requireUrl, toolStep } from '../../source-helpers.js';

export interface KnexMigratorOptions {
  /** The knex migrations directory. */
  readonly directory: string;
  /** File extensions knex loads, as in knex's own `loadExtensions`. Default: knex's list. */
  readonly loadExtensions?: readonly string[];
  /** knex's state table. Default "knex_migrations" (knex adds "<name>_lock"). */
  readonly tableName?: string;
}

interface KnexMigrate {
  list(config: object): Promise<[readonly { name: string }[], readonly unknown[]]>;
  up(config: object): Promise<unknown>;
  down(config: object): Promise<unknown>;
}

interface KnexInstance {
  readonly migrate: KnexMigrate;
  destroy(): Promise<void>;
}

type KnexFactory = (config: object) => KnexInstance;

/** Failures reach the caller as MigrationFailedError; knex's own console output would repeat them. */
const QUIET_LOG = { warn() {}, error() {}, debug() {}, deprecate() {} };

const DEFAULT_EXTENSIONS = ['.co', '.coffee', '.eg', '.iced', '.js', '.cjs', '.litcoffee', '.ls', '.ts'];

interface KnexMigration extends MigrationInfo {
  /** The file name knex records in its table. */
  readonly file: string;
  readonly module: Record<string, unknown>;
}

/**
 * A knex migrations directory, applied through knex's own migration API. Versions are the file
 * names without extension, in knex's order; a migration whose module exports no `down` is
 * irreversible (knex itself would refuse to run it; here its up runs and its down is refused). knex connects on its own, so the database must be reachable by URL (a server
 * backend). knex keeps its state in its own tables, `knex_migrations` and `knex_migrations_lock`
 * (or `tableName` and `<tableName>_lock`) in public, which current() reads through knex.
 */
export function knexMigrator(options: KnexMigratorOptions): Migrator {
  const directory = resolve(options.directory);
  const extensions = options.loadExtensions ?? DEFAULT_EXTENSIONS;
  const source = `knex (${options.directory})`;
  const table = options.tableName ?? 'knex_migrations';
  let loaded: Promise<KnexMigration[]> | undefined;

  const loadModule = async (path: string): Promise<Record<string, unknown>> => {
    try {
      return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (cause) {
      throw new MigrationsUnreadableError(path, `Cannot load the knex migration ${path}: ${messageOf(cause)}. Fix the module, or narrow loadExtensions.`, cause);
    }
  };

  const load = async (): Promise<KnexMigration[]> => {
    let files: string[];
    try {
      files = await readdir(directory);
    } catch (cause) {
      throw new MigrationsNotFoundError(directory, `The knex migrations directory ${directory} cannot be read. Pass the directory knex uses (migrations.directory in knexfile).`, cause);
    }
    // knex sorts by file name and keeps the files whose extension it loads.
    const chosen = files.filter((file) => extensions.includes(extname(file))).sort();
    const migrations: KnexMigration[] = [];
    for (const file of chosen) {
      const path = join(directory, file);
      const module = await loadModule(path);
      const exported = (module.default && typeof module.default === 'object' ? module.default : module) as Record<string, unknown>;
      const hasDown = typeof (module.down ?? exported.down) === 'function';
      const version = file.slice(0, file.length - extname(file).length);
      migrations.push({ version, name: version, file, module: exported, reversible: hasDown, upFile: path, ...(hasDown ? { downFile: path } : {}) });
    }
    return migrations;
  };
  const list = (): Promise<KnexMigration[]> => (loaded ??= load().catch((error: unknown) => {
    loaded = undefined;
    throw error;
  }));

  const irreversible = (migration: KnexMigration): string =>
    `${source}: migration ${migration.file} exports no down and is irreversible, so nothing was reverted. Export a down function, or revert no further than ${migration.version}.`;

  /**
   * The same files knex's directory source reads, under the same names, but already loaded: knex
   * refuses a module without down, so an irreversible one is given a down that says so.
   */
  const migrationSource = (migrations: readonly KnexMigration[]) => ({
    getMigrations: async () => migrations,
    getMigrationName: (migration: KnexMigration) => migration.file,
    getMigration: async (migration: KnexMigration) =>
      migration.reversible
        ? migration.module
        : {
            ...migration.module,
            down: async () => {
              throw new MigrationsInvalidError(migration.upFile!, irreversible(migration));
            },
          },
  });

  const config = (migrations: readonly KnexMigration[]) => ({
    migrationSource: migrationSource(migrations),
    ...(options.tableName ? { tableName: options.tableName } : {}),
  });

  /** Runs `work` with a fresh knex instance connected to the target, destroyed afterwards. */
  const withKnex = async <T>(target: MigrationTarget, work: (migrate: KnexMigrate, applied: Set<string>, migrations: KnexMigration[]) => Promise<T>): Promise<T> => {
    const url = requireUrl(target, `The knex source (${source})`);
    const migrations = await list();
    const module = await importPeer<{ default: KnexFactory } & Partial<{ knex: KnexFactory }>>('knex', 'The knex migrations adapter');
    const create = module.knex ?? module.default;
    const instance = create({ client: 'pg', connection: url, pool: { min: 0, max: 2 }, log: QUIET_LOG, migrations: config(migrations) });
    try {
      const [completed] = await instance.migrate.list(config(migrations));
      return await work(instance.migrate, new Set(completed.map((entry) => entry.name)), migrations);
    } finally {
      await instance.destroy();
    }
  };

  const run = (migrate: KnexMigrate, target: MigrationTarget, migrations: readonly KnexMigration[], migration: KnexMigration, direction: 'up' | 'down'): Promise<AppliedStep> =>
    toolStep(target, migration, direction, migration.file, () => migrate[direction]({ ...config(migrations), name: migration.file }));

  return {
    kind: 'knex',
    connectsByUrl: true,
    source,
    stateTables: [`public.${table}`, `public.${table}_lock`],
    async hash() {
      const hash = migrationHash('knex').field(table);
      for (const migration of await list()) await hash.field(migration.file).file(migration.upFile!);
      return hash.digest();
    },
    async list() {
      return (await list()).map(({ file: _file, module: _module, ...info }) => info);
    },
    async current(target) {
      return withKnex(target, async (_migrate, applied, migrations) => {
        const last = migrations.findLast((migration) => applied.has(migration.file));
        return last?.version ?? null;
      });
    },
    async up(target, to) {
      return withKnex(target, async (migrate, applied, migrations) => {
        const last = to === undefined ? migrations.length - 1 : indexOfVersion(migrations, to, { source, direction: 'up' });
        const steps: AppliedStep[] = [];
        for (const migration of migrations.slice(0, last + 1)) {
          if (applied.has(migration.file)) continue;
          steps.push(await run(migrate, target, migrations, migration, 'up'));
        }
        return steps;
      });
    },
    async down(target, to) {
      return withKnex(target, async (migrate, applied, migrations) => {
        const keep = to === undefined ? -1 : indexOfVersion(migrations, to, { source, direction: 'down' });
        const toRevert = migrations.slice(keep + 1).filter((migration) => applied.has(migration.file)).reverse();
        const first = toRevert.find((migration) => !migration.reversible);
        if (first) throw new MigrationsInvalidError(first.upFile!, irreversible(first));
        const steps: AppliedStep[] = [];
        for (const migration of toRevert) steps.push(await run(migrate, target, migrations, migration, 'down'));
        return steps;
      });
    },
  };
}
