process.env.TENANTKIT_QUIET = '1';
delete process.env.TENANTKIT_BACKEND;

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidOptionError, MigrationFailedError, MigrationsInvalidError } from '../src/errors.js';
import { type Kit, startKit } from '../src/kit.js';
import { nodePgMigrateMigrator } from '../src/migrations/sources/node-pg-migrate/node-pg-migrate.js';
import { runStairway } from '../src/migrations/check/stairway.js';
import { ownerTarget } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/adapters/node-pg-migrate/', import.meta.url));
const EMPTY = '-- an empty database\n';
const IGNORE = ['public.pgmigrations'];


describe('the node-pg-migrate adapter on native', () => {
  let kit: Kit;
  const tmp: string[] = [];
  beforeAll(async () => {
    kit = await startKit({ backend: 'native', schema: EMPTY, isolation: 'database', poolSize: 0 });
  });
  afterAll(async () => {
    await kit?.stop();
    await Promise.all(tmp.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  test('lists the directory in order; down false or missing is irreversible', async () => {
    const list = await nodePgMigrateMigrator({ dir: join(FIXTURES, 'ok') }).list();
    expect(list.map((m) => [m.version, m.name, m.reversible])).toEqual([
      ['1700000000001', 'users', true],
      ['1700000000002', 'posts', true],
      ['1700000000003', 'audit', false],
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'tenantkit-npm-'));
    tmp.push(dir);
    await writeFile(join(dir, '2_b.js'), 'export const up = () => {};\n');
    await writeFile(join(dir, '10_c.sql'), '-- Up Migration\nSELECT 1;\n-- Down Migration\nSELECT 2;\n');
    await writeFile(join(dir, '1_a.sql'), 'SELECT 1;\n');
    expect((await nodePgMigrateMigrator({ dir }).list()).map((m) => [m.version, m.reversible])).toEqual([
      ['1', false],
      ['2', false],
      ['10', true],
    ]);
  });

  test('a correct set passes the stairway', async () => {
    await using db = await kit.acquire();
    const migrator = nodePgMigrateMigrator({ dir: join(FIXTURES, 'ok') });
    const report = await runStairway(migrator, { inspect: db, target: ownerTarget(db), ignoreTables: IGNORE });
    expect(report.migrations.map((step) => [step.version, step.status, step.problems.filter((p) => !p.startsWith('irreversible'))])).toEqual([
      ['1700000000001', 'pass', []],
      ['1700000000002', 'pass', []],
      ['1700000000003', 'skip', []],
    ]);
    expect(report.ok).toBe(true);
    expect(await migrator.current(ownerTarget(db))).toBe('1700000000003');
    await expect(migrator.down(ownerTarget(db), '1700000000001')).rejects.toBeInstanceOf(MigrationsInvalidError);
  });

  test('up and down move between versions', async () => {
    await using db = await kit.acquire();
    const migrator = nodePgMigrateMigrator({ dir: join(FIXTURES, 'ok'), migrationsTable: 'npm_state' });
    expect(await migrator.current(ownerTarget(db))).toBeNull();
    expect((await migrator.up(ownerTarget(db), '1700000000002')).map((s) => [s.version, s.direction])).toEqual([
      ['1700000000001', 'up'],
      ['1700000000002', 'up'],
    ]);
    expect(await migrator.up(ownerTarget(db), '1700000000002')).toEqual([]);
    expect((await migrator.down(ownerTarget(db), '1700000000001')).map((s) => [s.version, s.direction])).toEqual([['1700000000002', 'down']]);
    expect(await migrator.current(ownerTarget(db))).toBe('1700000000001');
    await migrator.down(ownerTarget(db));
    expect(await migrator.current(ownerTarget(db))).toBeNull();
    const tables = await db.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    expect(tables.rows.map((row) => row.name)).toEqual(['npm_state']);
  });

  test('a down that leaves an index fails with the diff', async () => {
    await using db = await kit.acquire();
    const report = await runStairway(nodePgMigrateMigrator({ dir: join(FIXTURES, 'leaves-index') }), { inspect: db, target: ownerTarget(db), ignoreTables: IGNORE });
    expect(report.ok).toBe(false);
    const failed = report.migrations.filter((step) => step.status === 'fail');
    expect(failed.map((step) => step.version)).toEqual(['1700000000002']);
    expect(failed[0]!.problems.join('\n')).toContain('index public.users_email_idx');
  });

  test('a failing migration is named', async () => {
    await using db = await kit.acquire();
    const dir = await mkdtemp(join(tmpdir(), 'tenantkit-npm-'));
    tmp.push(dir);
    await writeFile(join(dir, '1_users.sql'), '-- Up Migration\nCREATE TABLE users (id int);\n-- Down Migration\nDROP TABLE users;\n');
    await writeFile(join(dir, '2_broken.sql'), '-- Up Migration\nALTER TABLE nowhere ADD COLUMN x int;\n');
    const migrator = nodePgMigrateMigrator({ dir });
    const error = await migrator.up(ownerTarget(db)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MigrationFailedError);
    expect((error as Error).message).toContain('Migration 2_broken');
    expect(await migrator.current(ownerTarget(db))).toBe('1');
  });

  test('needs a URL', async () => {
    await using db = await kit.acquire();
    const error = await nodePgMigrateMigrator({ dir: join(FIXTURES, 'ok') })
      .up({ session: db.owner, role: db.owner.role })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(/native.*url.*container/);
  });
});
