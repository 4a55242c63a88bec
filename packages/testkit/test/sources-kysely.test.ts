process.env.TENANTKIT_QUIET = '1';
delete process.env.TENANTKIT_BACKEND;

import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidOptionError, MigrationFailedError, MigrationsInvalidError } from '../src/errors.js';
import { type Kit, startKit } from '../src/kit.js';
import { kyselyMigrator, type KyselyMigrationLike } from '../src/migrations/sources/kysely/kysely.js';
import { runStairway } from '../src/migrations/check/stairway.js';
import { ownerTarget } from './helpers.js';

const EMPTY = '-- an empty database\n';
const IGNORE = ['public.kysely_migration', 'public.kysely_migration_lock'];

const users: KyselyMigrationLike = {
  async up(db: Kysely<any>) {
    await db.schema.createTable('users').addColumn('id', 'serial', (col) => col.primaryKey()).addColumn('email', 'text', (col) => col.notNull()).execute();
  },
  async down(db: Kysely<any>) {
    await db.schema.dropTable('users').execute();
  },
};

const OK = {
  '0001_users': users,
  '0002_posts': {
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE posts (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users (id), title text)`.execute(db);
      await sql`CREATE INDEX posts_user_id_idx ON posts (user_id)`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE posts`.execute(db);
    },
  },
  '0003_audit': {
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE audit_log (at timestamptz NOT NULL DEFAULT now(), note text)`.execute(db);
    },
  },
} satisfies Record<string, KyselyMigrationLike>;

const LEAVES_INDEX = {
  '0001_users': users,
  '0002_users_email': {
    async up(db: Kysely<any>) {
      await sql`CREATE INDEX users_email_idx ON users (email)`.execute(db);
    },
    async down() {},
  },
} satisfies Record<string, KyselyMigrationLike>;


describe('the kysely adapter on native', () => {
  let kit: Kit;
  beforeAll(async () => {
    kit = await startKit({ backend: 'native', schema: EMPTY, isolation: 'database', poolSize: 0 });
  });
  afterAll(async () => {
    await kit?.stop();
  });

  test('lists migrations in name order, without down as irreversible', async () => {
    const migrator = kyselyMigrator({ provider: { getMigrations: async () => ({ '0002_posts': OK['0002_posts'], '0001_users': users }) } });
    expect(await migrator.list()).toEqual([
      { version: '0001_users', name: '0001_users', reversible: true },
      { version: '0002_posts', name: '0002_posts', reversible: true },
    ]);
    expect((await kyselyMigrator({ provider: OK }).list()).map((m) => m.reversible)).toEqual([true, true, false]);
    expect(await kyselyMigrator({ provider: OK }).hash()).not.toBe(await kyselyMigrator({ provider: LEAVES_INDEX }).hash());
  });

  test('a correct set passes the stairway', async () => {
    await using db = await kit.acquire();
    const migrator = kyselyMigrator({ provider: OK });
    const report = await runStairway(migrator, { inspect: db, target: ownerTarget(db), ignoreTables: IGNORE });
    expect(report.migrations.map((step) => [step.version, step.status])).toEqual([
      ['0001_users', 'pass'],
      ['0002_posts', 'pass'],
      ['0003_audit', 'skip'],
    ]);
    expect(report.ok).toBe(true);
    expect(await migrator.current(ownerTarget(db))).toBe('0003_audit');
    await expect(migrator.down(ownerTarget(db))).rejects.toBeInstanceOf(MigrationsInvalidError);
    expect(await migrator.current(ownerTarget(db))).toBe('0003_audit');
  });

  test('up and down move between versions', async () => {
    await using db = await kit.acquire();
    const migrator = kyselyMigrator({ provider: { '0001_users': users, '0002_posts': OK['0002_posts'] }, migrationTableName: 'app_migrations' });
    expect(await migrator.current(ownerTarget(db))).toBeNull();
    expect((await migrator.up(ownerTarget(db), '0001_users')).map((s) => s.version)).toEqual(['0001_users']);
    expect((await migrator.up(ownerTarget(db))).map((s) => [s.version, s.direction])).toEqual([['0002_posts', 'up']]);
    expect(await migrator.up(ownerTarget(db))).toEqual([]);
    expect((await migrator.down(ownerTarget(db), '0001_users')).map((s) => [s.version, s.direction])).toEqual([['0002_posts', 'down']]);
    expect(await migrator.current(ownerTarget(db))).toBe('0001_users');
    await migrator.down(ownerTarget(db));
    expect(await migrator.current(ownerTarget(db))).toBeNull();
    const tables = await db.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    expect(tables.rows.map((row) => row.name)).toEqual(['app_migrations', 'kysely_migration_lock']);
  });

  test('a down that leaves an index fails with the diff', async () => {
    await using db = await kit.acquire();
    const report = await runStairway(kyselyMigrator({ provider: LEAVES_INDEX }), { inspect: db, target: ownerTarget(db), ignoreTables: IGNORE });
    expect(report.ok).toBe(false);
    const failed = report.migrations.filter((step) => step.status === 'fail');
    expect(failed.map((step) => step.version)).toEqual(['0002_users_email']);
    expect(failed[0]!.problems.join('\n')).toContain('index public.users_email_idx');
  });

  test('a failing migration is named', async () => {
    await using db = await kit.acquire();
    const migrator = kyselyMigrator({
      provider: {
        '0001_users': users,
        '0002_broken': { up: async (k: Kysely<any>) => void (await sql`ALTER TABLE nowhere ADD COLUMN x int`.execute(k)) },
      },
    });
    const error = await migrator.up(ownerTarget(db)).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(MigrationFailedError);
    expect((error as MigrationFailedError).message).toContain('Migration 0002_broken (up) failed');
    expect((error as MigrationFailedError).sqlState).toBe('42P01');
    // kysely runs one migrateTo in a single transaction on Postgres: nothing stays applied.
    expect(await migrator.current(ownerTarget(db))).toBeNull();
  });

  test('needs a URL', async () => {
    await using db = await kit.acquire();
    const error = await kyselyMigrator({ provider: OK })
      .up({ session: db.owner, role: db.owner.role })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(/native.*url.*container/);
  });
});
