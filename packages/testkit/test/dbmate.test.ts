import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MigrationFailedError, TenantkitError } from '../src/errors.js';
import { detectMigrationsFormat } from '../src/migrations/detect-format.js';
import { dbmateDirectory } from '../src/migrations/sources/dbmate/dbmate.js';
import type { MigrationTarget } from '../src/migrations/migrator.js';
import { freshPglite, pgliteSession } from './helpers.js';

const tmpRoots: string[] = [];

async function makeDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tenantkit-dbmate-'));
  tmpRoots.push(dir);
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

afterAll(async () => {
  await Promise.all(tmpRoots.map((d) => rm(d, { recursive: true, force: true })));
});

async function failure(promise: Promise<unknown>): Promise<TenantkitError> {
  const result = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (result === undefined) throw new Error('expected a rejection');
  expect(result).toBeInstanceOf(TenantkitError);
  return result as TenantkitError;
}

const THREE = {
  '20240101000000_users.sql': '-- migrate:up\nCREATE TABLE users (id int PRIMARY KEY);\n\n-- migrate:down\nDROP TABLE users;\n',
  '20240102000000_posts.sql':
    '-- migrate:up\nCREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);\n-- migrate:down\nDROP TABLE posts;\n',
  '20240103000000_tags.sql': '-- a comment before the sections is fine\n-- migrate:up\nCREATE TABLE tags (name text);\n-- migrate:down\nDROP TABLE tags;\n',
  'README.md': 'not a migration',
};

let pg: PGlite;
let target: MigrationTarget;

function freshDatabasePerTest(): void {
  beforeEach(async () => {
    pg = await freshPglite();
    target = { session: pgliteSession(pg), role: 'migrator' };
  });
  afterEach(async () => {
    await pg.close();
  });
}

async function tables(): Promise<string[]> {
  const r = await pg.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
  );
  return r.rows.map((row) => row.t);
}

async function versions(table = 'schema_migrations'): Promise<string[]> {
  const r = await pg.query<{ version: string }>(`SELECT version FROM ${table} ORDER BY version`);
  return r.rows.map((row) => row.version);
}

describe('dbmateDirectory: up, down, current', () => {
  freshDatabasePerTest();

  it('applies every migration in order and records one row per version like dbmate', async () => {
    const dir = await makeDir(THREE);
    const migrator = dbmateDirectory(dir);
    expect(migrator.kind).toBe('dbmate');
    expect(migrator.source).toBe(dir);
    expect(await migrator.current(target)).toBeNull();

    const list = await migrator.list();
    expect(list.map((m) => [m.version, m.name, m.reversible])).toEqual([
      ['20240101000000', 'users', true],
      ['20240102000000', 'posts', true],
      ['20240103000000', 'tags', true],
    ]);
    expect(list[0]?.upFile).toBe(join(dir, '20240101000000_users.sql'));
    expect(list[0]?.downFile).toBe(join(dir, '20240101000000_users.sql'));

    const steps = await migrator.up(target);
    expect(steps.map((s) => [s.version, s.direction])).toEqual([
      ['20240101000000', 'up'],
      ['20240102000000', 'up'],
      ['20240103000000', 'up'],
    ]);
    expect(await tables()).toEqual(['posts', 'schema_migrations', 'tags', 'users']);
    expect(await versions()).toEqual(['20240101000000', '20240102000000', '20240103000000']);
    const column = await pg.query<{ type: string }>(
      `SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = 'schema_migrations'::regclass AND attname = 'version'`,
    );
    expect(column.rows).toEqual([{ type: 'character varying(128)' }]);
    expect(await migrator.current(target)).toBe('20240103000000');
    expect(await migrator.up(target)).toEqual([]);
  });

  it('goes up to `to`, down to `to` (which stays applied), and down to the base', async () => {
    const migrator = dbmateDirectory(await makeDir(THREE));
    expect((await migrator.up(target, '20240102000000')).map((s) => s.name)).toEqual(['users', 'posts']);
    expect(await migrator.current(target)).toBe('20240102000000');
    expect(await migrator.up(target, '20240101000000')).toEqual([]);
    expect((await migrator.up(target)).map((s) => s.name)).toEqual(['tags']);

    const partial = await migrator.down(target, '20240101000000');
    expect(partial.map((s) => [s.name, s.direction])).toEqual([
      ['tags', 'down'],
      ['posts', 'down'],
    ]);
    expect(await migrator.current(target)).toBe('20240101000000');
    expect(await tables()).toEqual(['schema_migrations', 'users']);
    expect(await migrator.down(target, '20240102000000')).toEqual([]);

    expect((await migrator.down(target)).map((s) => s.name)).toEqual(['users']);
    expect(await migrator.current(target)).toBeNull();
    expect(await versions()).toEqual([]);
    expect(await migrator.down(target)).toEqual([]);
    // Up again from the base.
    expect(await migrator.up(target)).toHaveLength(3);
  });

  it('rejects an unknown `to` and versions the directory does not have', async () => {
    const migrator = dbmateDirectory(await makeDir(THREE));
    const bad = await failure(migrator.up(target, '7'));
    expect(bad.code).toBe('TENANTKIT_INVALID_OPTION');
    expect(bad.message).toContain('Version "7" passed to up()');
    await migrator.up(target);
    await pg.exec(`INSERT INTO schema_migrations VALUES ('20991231000000')`);
    const unknown = await failure(migrator.up(target));
    expect(unknown.message).toContain('records version 20991231000000 as applied');
  });

  it('applies a pending migration older than the newest applied one, as dbmate does', async () => {
    const dir = await makeDir(THREE);
    const migrator = dbmateDirectory(dir);
    await migrator.up(target);
    await writeFile(join(dir, '20240101120000_late.sql'), '-- migrate:up\nCREATE TABLE late (x int);\n-- migrate:down\nDROP TABLE late;\n');
    expect((await migrator.up(target)).map((s) => s.name)).toEqual(['late']);
    expect((await migrator.down(target, '20240102000000')).map((s) => s.name)).toEqual(['tags']);
  });

  it('uses another state table when asked', async () => {
    const migrator = dbmateDirectory(await makeDir(THREE), { table: 'dbmate_state' });
    await migrator.up(target, '20240101000000');
    expect(await versions('dbmate_state')).toEqual(['20240101000000']);
    expect(await tables()).toEqual(['dbmate_state', 'users']);
  });

  it('refuses a golang-migrate state table', async () => {
    await pg.exec('CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)');
    const refused = await failure(dbmateDirectory(await makeDir(THREE)).up(target));
    expect(refused.message).toContain('not a dbmate state table');
    expect(refused.message).toContain('sqlDirectory()');
  });

  it('treats a missing or empty down section as irreversible', async () => {
    const migrator = dbmateDirectory(
      pathToFileURL(
        await makeDir({
          '1_a.sql': '-- migrate:up\nCREATE TABLE a (x int);\n-- migrate:down\nDROP TABLE a;\n',
          '2_b.sql': '-- migrate:up\nCREATE TABLE b (x int);\n',
          '3_c.sql': '-- migrate:up\nCREATE TABLE c (x int);\n-- migrate:down\n-- nothing to do\n',
          '4_d.sql': '-- migrate:up\nCREATE TABLE d (x int);\n-- migrate:down\nDROP TABLE d;\n',
        }),
      ),
    );
    const list = await migrator.list();
    expect(list.map((m) => m.reversible)).toEqual([true, false, false, true]);
    expect(list[1]?.downFile).toBeUndefined();
    await migrator.up(target);
    const refused = await failure(migrator.down(target));
    expect(refused.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(refused.message).toContain('migrations 3_c, 2_b have no down section');
    expect(refused.message).toContain('-- migrate:down');
    expect(await migrator.current(target)).toBe('4');
    expect(await tables()).toEqual(['a', 'b', 'c', 'd', 'schema_migrations']);
    expect((await migrator.down(target, '3')).map((s) => s.name)).toEqual(['d']);
  });

  it('runs each section in a transaction with its state row, so a failure leaves nothing', async () => {
    const dir = await makeDir({
      '1_ok.sql': '-- migrate:up\nCREATE TABLE ok (x int);\n-- migrate:down\nDROP TABLE ok;\n',
      '2_half.sql': '-- migrate:up\nCREATE TABLE half (x int);\nINSERT INTO half VALUES (1 / 0);\n-- migrate:down\nDROP TABLE half;\n',
    });
    const migrator = dbmateDirectory(dir);
    const failed = (await failure(migrator.up(target))) as MigrationFailedError;
    expect(failed).toBeInstanceOf(MigrationFailedError);
    expect(failed.sqlState).toBe('22012');
    expect(failed.message).toContain('2_half (up)');
    expect(await tables()).toEqual(['ok', 'schema_migrations']);
    expect(await versions()).toEqual(['1']);
    expect(await migrator.current(target)).toBe('1');
    // Nothing is dirty: fixing the file is enough.
    await writeFile(join(dir, '2_half.sql'), '-- migrate:up\nCREATE TABLE half (x int);\n-- migrate:down\nDROP TABLE half;\n');
    expect((await migrator.up(target)).map((s) => s.version)).toEqual(['2']);

    await writeFile(join(dir, '2_half.sql'), '-- migrate:up\nCREATE TABLE half (x int);\n-- migrate:down\nDROP TABLE half;\nSELECT nope;\n');
    const down = (await failure(migrator.down(target))) as MigrationFailedError;
    expect(down.message).toContain('2_half (down)');
    expect(await tables()).toEqual(['half', 'ok', 'schema_migrations']);
    expect(await versions()).toEqual(['1', '2']);
  });

  it('runs a section marked transaction:false without one, and hints at it otherwise', async () => {
    const concurrently = 'CREATE TABLE t (x int);\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n';
    const wrapped = (await failure(
      dbmateDirectory(await makeDir({ '1_i.sql': `-- migrate:up\n${concurrently}` })).up(target),
    )) as MigrationFailedError;
    expect(wrapped.sqlState).toBe('25001');
    expect(wrapped.message).toContain('cannot run inside a transaction block');
    expect(wrapped.message).toContain('-- migrate:up transaction:false');
    expect(wrapped.location?.line).toBe(3);
    expect(await tables()).toEqual(['schema_migrations']);

    const migrator = dbmateDirectory(
      await makeDir({
        '1_i.sql': `-- migrate:up transaction:false\n${concurrently}-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY t_x;\nDROP TABLE t;\n`,
      }),
    );
    await migrator.up(target);
    expect((await pg.query(`SELECT 1 FROM pg_indexes WHERE indexname = 't_x'`)).rows).toHaveLength(1);
    expect(await versions()).toEqual(['1']);
    await migrator.down(target);
    expect(await tables()).toEqual(['schema_migrations']);
    expect(await versions()).toEqual([]);

    const half = dbmateDirectory(
      await makeDir({ '1_h.sql': '-- migrate:up transaction:false\nCREATE TABLE kept (x int);\nSELECT 1 / 0;\n' }),
    );
    await failure(half.up(target));
    // Without a transaction what ran stays, and the version is not recorded.
    expect(await tables()).toEqual(['kept', 'schema_migrations']);
    expect(await versions()).toEqual([]);
  });

  it('reports failures at the line and column in the file, in either section', async () => {
    const file = [
      '-- Creates the accounts table.',
      '',
      '-- migrate:up',
      'CREATE TABLE accounts (id int PRIMARY KEY);',
      'CREATE TABLE audit (',
      '  id int,',
      '  kind nosuchtype',
      ');',
      '',
      '-- migrate:down',
      'DROP TABLE audit;',
      'DROP TABLE accounts;',
    ].join('\r\n');
    const dir = await makeDir({ '1_accounts.sql': file });
    const failed = (await failure(dbmateDirectory(dir).up(target))) as MigrationFailedError;
    expect(failed.location).toMatchObject({
      file: join(dir, '1_accounts.sql'),
      line: 7,
      column: 8,
      sourceLine: '  kind nosuchtype',
    });
    expect(failed.message).toContain(`${join(dir, '1_accounts.sql')}:7:8`);
    expect(await tables()).toEqual(['schema_migrations']);

    await writeFile(join(dir, '1_accounts.sql'), file.replace('nosuchtype', 'text').replace('DROP TABLE audit;', 'DROP TABLE audit;\r\nDROP TABLE   gone;'));
    const migrator = dbmateDirectory(dir);
    await migrator.up(target);
    const down = (await failure(migrator.down(target))) as MigrationFailedError;
    expect(down.location).toMatchObject({ line: 12, sourceLine: 'DROP TABLE   gone;' });
    expect(await tables()).toEqual(['accounts', 'audit', 'schema_migrations']);
  });
});

describe('dbmateDirectory: hash', () => {
  it('is stable and changes with content, names and the table option', async () => {
    const dir = await makeDir(THREE);
    const first = await dbmateDirectory(dir).hash();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await dbmateDirectory(await makeDir(THREE)).hash()).toBe(first);
    expect(await dbmateDirectory(dir, { table: 'other' }).hash()).not.toBe(first);
    expect(
      await dbmateDirectory(
        await makeDir({ ...THREE, '20240103000000_tags.sql': THREE['20240103000000_tags.sql'].replace('DROP TABLE tags;\n', '') }),
      ).hash(),
    ).not.toBe(first);
    const { '20240103000000_tags.sql': tags, ...rest } = THREE;
    expect(await dbmateDirectory(await makeDir({ ...rest, '20240103000000_labels.sql': tags })).hash()).not.toBe(first);
  });
});

describe('dbmateDirectory: invalid directories', () => {
  it('reports a file without -- migrate:up, naming it and the fix', async () => {
    const dir = await makeDir({ ...THREE, '20240104000000_seed.sql': 'INSERT INTO users VALUES (1);\n' });
    const error = await failure(dbmateDirectory(dir).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(error.object).toBe(join(dir, '20240104000000_seed.sql'));
    expect(error.message).toContain('has no "-- migrate:up" line');
    expect(error.message).toContain('Put "-- migrate:up" on its own line');
  });

  it('points golang-migrate files at sqlDirectory()', async () => {
    const error = await failure(dbmateDirectory(await makeDir({ '1_a.up.sql': 'CREATE TABLE a (x int);' })).list());
    expect(error.message).toContain('use sqlDirectory()');
  });

  it('refuses statements outside the sections, sections out of order and repeated markers', async () => {
    const outside = await failure(
      dbmateDirectory(await makeDir({ '1_a.sql': 'SELECT 1;\n-- migrate:up\nSELECT 2;\n' })).list(),
    );
    expect(outside.message).toContain('statements before its "-- migrate:up" line');
    const order = await failure(
      dbmateDirectory(await makeDir({ '1_a.sql': '-- migrate:down\nSELECT 1;\n-- migrate:up\nSELECT 2;\n' })).list(),
    );
    expect(order.message).toContain('before "-- migrate:up"');
    const twice = await failure(
      dbmateDirectory(await makeDir({ '1_a.sql': '-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n' })).list(),
    );
    expect(twice.message).toContain('has 2 "-- migrate:up" lines');
    const option = await failure(
      dbmateDirectory(await makeDir({ '1_a.sql': '-- migrate:up transaction:maybe\nSELECT 1;\n' })).list(),
    );
    expect(option.message).toContain('takes true or false');
  });

  it('reports misnamed files, colliding versions, empty and missing directories', async () => {
    const misnamed = await failure(dbmateDirectory(await makeDir({ ...THREE, 'seed.sql': '-- migrate:up\n' })).list());
    expect(misnamed.message).toContain('{version}{anything}.sql');
    const collide = await failure(
      dbmateDirectory(await makeDir({ '1_a.sql': '-- migrate:up\n', '001_b.sql': '-- migrate:up\n' })).list(),
    );
    expect(collide.message).toContain('both have version 1');
    const empty = await failure(dbmateDirectory(await makeDir({ 'notes.txt': 'x' })).list());
    expect(empty.message).toContain('contains no migrations');
    const missing = await failure(dbmateDirectory(join(tmpdir(), 'tenantkit-no-such-dbmate-dir')).list());
    expect(missing.code).toBe('TENANTKIT_MIGRATIONS_NOT_FOUND');
    expect(() => dbmateDirectory('.', { table: '' })).toThrow(TenantkitError);
  });
});

describe('detectMigrationsFormat', () => {
  it('tells golang-migrate pairs from dbmate files', async () => {
    expect(await detectMigrationsFormat(await makeDir(THREE))).toBe('dbmate');
    expect(
      await detectMigrationsFormat(await makeDir({ '1_a.up.sql': 'SELECT 1;', '1_a.down.sql': 'SELECT 1;', 'x.md': '' })),
    ).toBe('golang-migrate');
    expect(await detectMigrationsFormat(await makeDir({ '1_a.up.sql': 'SELECT 1;' }))).toBe('golang-migrate');
  });

  it('refuses mixed, unknown and empty directories', async () => {
    const mixed = await failure(
      detectMigrationsFormat(await makeDir({ '1_a.up.sql': 'SELECT 1;', '2_b.sql': '-- migrate:up\nSELECT 1;\n' })),
    );
    expect(mixed.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(mixed.message).toContain('mixes golang-migrate files');
    const unknown = await failure(detectMigrationsFormat(await makeDir({ ...THREE, '9_plain.sql': 'SELECT 1;' })));
    expect(unknown.message).toContain('9_plain.sql');
    expect(unknown.message).toContain('no "-- migrate:up" line');
    const empty = await failure(detectMigrationsFormat(await makeDir({ 'a.txt': '' })));
    expect(empty.message).toContain('contains no .sql migration files');
    const missing = await failure(detectMigrationsFormat(join(tmpdir(), 'tenantkit-no-such-dir')));
    expect(missing.code).toBe('TENANTKIT_MIGRATIONS_NOT_FOUND');
  });
});
