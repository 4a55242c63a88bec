process.env.TENANTKIT_QUIET = '1';
delete process.env.TENANTKIT_BACKEND;

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidOptionError, MigrationsInvalidError } from '../src/errors.js';
import { type Kit, startKit } from '../src/kit.js';
import { drizzleMigrator } from '../src/migrations/sources/drizzle/drizzle.js';
import { runStairway } from '../src/migrations/check/stairway.js';
import { ownerTarget } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/adapters/drizzle/', import.meta.url));
const EMPTY = '-- an empty database\n';
const IGNORE = ['drizzle.__drizzle_migrations'];


describe('the drizzle adapter on native', () => {
  let kit: Kit;
  beforeAll(async () => {
    kit = await startKit({ backend: 'native', schema: EMPTY, isolation: 'database', poolSize: 0 });
  });
  afterAll(async () => {
    await kit?.stop();
  });

  test('lists the journal; every migration is irreversible', async () => {
    const list = await drizzleMigrator({ migrationsFolder: join(FIXTURES, 'two') }).list();
    expect(list.map((m) => [m.version, m.name, m.reversible])).toEqual([
      ['0000', '0000_tenants', false],
      ['0001', '0001_projects', false],
    ]);
    expect(list[0]!.upFile).toBe(join(FIXTURES, 'two', '0000_tenants.sql'));
  });

  test('the stairway reports irreversible steps and builds the schema', async () => {
    await using db = await kit.acquire();
    const migrator = drizzleMigrator({ migrationsFolder: join(FIXTURES, 'ok') });
    const report = await runStairway(migrator, { inspect: db, target: ownerTarget(db), ignoreTables: IGNORE });
    expect(report.ok).toBe(true);
    expect(report.migrations.map((step) => [step.name, step.status])).toEqual([['0000_tenants', 'skip']]);
    expect(report.migrations[0]!.problems[0]).toMatch(/irreversible/);
    const indexes = await db.query<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'tenants' ORDER BY 1");
    expect(indexes.rows.map((row) => row.name)).toEqual(['tenants_name_idx', 'tenants_pkey']);
    expect(await migrator.current(ownerTarget(db))).toBe('0000');
  });

  test('goes up step by step through a shortened journal; reverting is refused', async () => {
    await using db = await kit.acquire();
    const migrator = drizzleMigrator({ migrationsFolder: join(FIXTURES, 'two') });
    expect(await migrator.current(ownerTarget(db))).toBeNull();
    expect((await migrator.up(ownerTarget(db), '0000')).map((s) => s.name)).toEqual(['0000_tenants']);
    expect(await migrator.current(ownerTarget(db))).toBe('0000');
    expect((await migrator.up(ownerTarget(db))).map((s) => s.name)).toEqual(['0001_projects']);
    expect(await migrator.up(ownerTarget(db))).toEqual([]);
    expect(await migrator.current(ownerTarget(db))).toBe('0001');
    const down = await migrator.down(ownerTarget(db), '0000').catch((caught: unknown) => caught);
    expect(down).toBeInstanceOf(MigrationsInvalidError);
    expect((down as Error).message).toMatch(/0001_projects is irreversible/);
    const tables = await db.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    expect(tables.rows.map((row) => row.name)).toEqual(['projects', 'tenants']);
  });

  test('the stairway takes a set of several migrations one by one', async () => {
    await using db = await kit.acquire();
    const report = await runStairway(drizzleMigrator({ migrationsFolder: join(FIXTURES, 'two') }), { inspect: db, target: ownerTarget(db), ignoreTables: IGNORE });
    expect(report.ok).toBe(true);
    expect(report.migrations.map((step) => [step.name, step.status])).toEqual([
      ['0000_tenants', 'skip'],
      ['0001_projects', 'skip'],
    ]);
  });

  test('needs a URL', async () => {
    await using db = await kit.acquire();
    const error = await drizzleMigrator({ migrationsFolder: join(FIXTURES, 'ok') })
      .up({ session: db.owner, role: db.owner.role })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(/native.*url.*container/);
  });
});
