import { MigrationsInvalidError } from '../../../errors.js';
import { importPeer } from '../../../peer.js';
import type { PgModule } from '../../../session/pg-session.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from '../../migrator.js';
import { indexOfVersion, migrationHash, requireUrl, toolFailure } from '../../source-helpers.js';

type KyselyModule = typeof import('kysely');
type KyselyMigrationModule = typeof import('kysely/migration');

/**
 * One kysely migration: `up`, and `down` when it can be reverted. Method parameters are compared
 * both ways, so migrations written `up(db: Kysely<any>)` fit without kysely's types in this package's
 * declarations (kysely is an optional peer).
 */
export interface KyselyMigrationLike {
  up(db: unknown): Promise<void>;
  down?(db: unknown): Promise<void>;
}

/** kysely's FileMigrationProvider (or any MigrationProvider), or the migrations as an object keyed by name. */
export type MigrationProviderLike =
  | { getMigrations(): Promise<Record<string, KyselyMigrationLike>> }
  | Readonly<Record<string, KyselyMigrationLike>>;

export interface KyselyMigratorOptions {
  readonly provider: MigrationProviderLike;
  /** kysely's migration table (default kysely_migration). */
  readonly migrationTableName?: string;
  /** kysely's lock table (default kysely_migration_lock). */
  readonly migrationLockTableName?: string;
  /** For messages (default "kysely migrations"). */
  readonly source?: string;
}

const FEATURE = 'The kysely migrations adapter';

function isProvider(provider: MigrationProviderLike): provider is { getMigrations(): Promise<Record<string, KyselyMigrationLike>> } {
  return typeof (provider as { getMigrations?: unknown }).getMigrations === 'function';
}

async function loadKysely(): Promise<{ kysely: KyselyModule; migration: KyselyMigrationModule; pg: PgModule }> {
  const kysely = await importPeer<KyselyModule>('kysely', FEATURE);
  // kysely before 0.28 exports the migrator from the package root.
  const migration = await importPeer<KyselyMigrationModule>('kysely/migration', FEATURE).catch(() => kysely as unknown as KyselyMigrationModule);
  const pg = await importPeer<PgModule>('pg', FEATURE);
  return { kysely, migration, pg };
}

/**
 * Migrations written for kysely's Migrator. Each call opens its own Kysely instance on the target's
 * URL (one connection, destroyed after), so the database must be reachable by URL (a server backend).
 * Migrations without `down` are irreversible. kysely keeps its state in public.kysely_migration and
 * public.kysely_migration_lock (or the names given), which current() reads through kysely.
 */
export function kyselyMigrator(options: KyselyMigratorOptions): Migrator {
  const source = options.source ?? 'kysely migrations';
  const tableName = options.migrationTableName ?? 'kysely_migration';
  const lockTableName = options.migrationLockTableName ?? 'kysely_migration_lock';
  const provider = options.provider;
  const load = async (): Promise<Record<string, KyselyMigrationLike>> => (isProvider(provider) ? provider.getMigrations() : { ...provider });
  const ordered = async (): Promise<Array<[string, KyselyMigrationLike]>> =>
    Object.entries(await load()).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  const withMigrator = async <T>(target: MigrationTarget, run: (migrator: import('kysely/migration').Migrator, noMigrations: KyselyMigrationModule['NO_MIGRATIONS']) => Promise<T>): Promise<T> => {
    const url = requireUrl(target, `The kysely source (${source})`);
    const { kysely, migration, pg } = await loadKysely();
    const pool = new pg.default.Pool({ connectionString: url, max: 1 });
    // Errors after the work is done (the test database dropped while the pool closes) are not the migration's.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new kysely.Kysely<any>({ dialect: new kysely.PostgresDialect({ pool: pool as never }) });
    try {
      const migrator = new migration.Migrator({
        db,
        provider: { getMigrations: async () => (await load()) as Record<string, import('kysely/migration').Migration> },
        migrationTableName: tableName,
        migrationLockTableName: lockTableName,
      });
      return await run(migrator, migration.NO_MIGRATIONS);
    } finally {
      await db.destroy();
    }
  };

  const appliedIndex = async (target: MigrationTarget, list: readonly MigrationInfo[]): Promise<number> =>
    withMigrator(target, async (migrator) => {
      const infos = await migrator.getMigrations();
      let last = -1;
      for (const info of infos) if (info.executedAt !== undefined) last = Math.max(last, list.findIndex((m) => m.version === info.name));
      return last;
    });

  const migrate = async (
    target: MigrationTarget,
    to: string | null,
    direction: 'up' | 'down',
  ): Promise<readonly AppliedStep[]> => {
    const startedAt = performance.now();
    const resultSet = await withMigrator(target, (migrator, none) => migrator.migrateTo(to === null ? none : to));
    const results = resultSet.results ?? [];
    if (resultSet.error !== undefined) {
      const failed = results.find((result) => result.status === 'Error');
      const error = resultSet.error;
      throw toolFailure(failed?.migrationName ?? (to ?? 'kysely migrator'), direction, target, error);
    }
    const ms = performance.now() - startedAt;
    return results
      .filter((result) => result.status === 'Success')
      .map((result) => ({ version: result.migrationName, name: result.migrationName, direction, ms: ms / Math.max(1, results.length) }));
  };

  return {
    kind: 'kysely',
    connectsByUrl: true,
    source,
    stateTables: [`public.${tableName}`, `public.${lockTableName}`],
    async hash() {
      const hash = migrationHash('kysely').field(tableName);
      for (const [name, migration] of await ordered()) hash.field(name).field(String(migration.up)).field(migration.down ? String(migration.down) : '');
      return hash.digest();
    },
    async list() {
      return (await ordered()).map(([name, migration]) => ({ version: name, name, reversible: typeof migration.down === 'function' }));
    },
    async current(target) {
      const list = await this.list();
      const index = await appliedIndex(target, list);
      return index < 0 ? null : list[index]!.version;
    },
    async up(target, to) {
      const list = await this.list();
      if (list.length === 0) return [];
      const last = to === undefined ? list.length - 1 : indexOfVersion(list, to, { source, direction: 'up' });
      if (last <= (await appliedIndex(target, list))) return [];
      return migrate(target, list[last]!.version, 'up');
    },
    async down(target, to) {
      const list = await this.list();
      const keep = to === undefined ? -1 : indexOfVersion(list, to, { source, direction: 'down' });
      const applied = await appliedIndex(target, list);
      if (applied <= keep) return [];
      const irreversible = list.slice(keep + 1, applied + 1).filter((migration) => !migration.reversible);
      if (irreversible.length > 0) {
        throw new MigrationsInvalidError(
          irreversible[0]!.name,
          `Cannot revert ${source} to ${to === undefined ? 'the base' : `"${to}"`}: ${irreversible.map((m) => m.name).join(', ')} ${irreversible.length === 1 ? 'has' : 'have'} no down method, so nothing was reverted. Add a down method, or revert no further than "${irreversible[irreversible.length - 1]!.name}".`,
        );
      }
      return migrate(target, keep < 0 ? null : list[keep]!.version, 'down');
    },
  };
}
