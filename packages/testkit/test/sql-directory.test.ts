import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MigrationFailedError, TenantkitError } from '../src/errors.js';
import type { MigrationTarget } from '../src/migrations/migrator.js';
import { runScript } from '../src/migrations/run-script.js';
import { schemaFile, schemaSql } from '../src/migrations/sources/schema/schema.js';
import { sqlDirectory } from '../src/migrations/sources/golang-migrate/golang-migrate.js';
import { freshPglite, pgliteSession } from './helpers.js';

const tmpRoots: string[] = [];

async function makeDir(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tenantkit-sqldir-'));
  tmpRoots.push(dir);
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

afterAll(async () => {
  await Promise.all(tmpRoots.map((d) => rm(d, { recursive: true, force: true })));
});

/** The rejection of `promise`, which must reject. */
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
  '1_users.up.sql': 'CREATE TABLE users (id int PRIMARY KEY);\n',
  '1_users.down.sql': 'DROP TABLE users;\n',
  '2_posts.up.sql': 'CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);\n',
  '2_posts.down.sql': 'DROP TABLE posts;\n',
  '10_tags.up.sql': 'CREATE TABLE tags (name text);\n',
  '10_tags.down.sql': 'DROP TABLE tags;\n',
  'README.md': 'not a migration',
};

let pg: PGlite;
let target: MigrationTarget;

/** A fresh PGlite database for each test of the calling describe block. */
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

async function stateRows(table = '"public"."schema_migrations"'): Promise<{ version: string; dirty: boolean }[]> {
  const r = await pg.query<{ version: string; dirty: boolean }>(`SELECT version::text AS version, dirty FROM ${table}`);
  return r.rows;
}

describe('sqlDirectory: up, down, current', () => {
  freshDatabasePerTest();

  it('applies every migration in numeric order and records the version like golang-migrate', async () => {
    const dir = await makeDir(THREE);
    const migrator = sqlDirectory(dir);
    expect(migrator.kind).toBe('sql-directory');
    expect(migrator.source).toBe(dir);
    expect(await migrator.current(target)).toBeNull();

    const list = await migrator.list();
    expect(list.map((m) => [m.version, m.name, m.reversible])).toEqual([
      ['1', 'users', true],
      ['2', 'posts', true],
      ['10', 'tags', true],
    ]);
    expect(list[0]?.upFile).toBe(join(dir, '1_users.up.sql'));
    expect(list[0]?.downFile).toBe(join(dir, '1_users.down.sql'));

    const steps = await migrator.up(target);
    expect(steps.map((s) => [s.version, s.name, s.direction])).toEqual([
      ['1', 'users', 'up'],
      ['2', 'posts', 'up'],
      ['10', 'tags', 'up'],
    ]);
    for (const s of steps) expect(s.ms).toBeGreaterThanOrEqual(0);
    expect(await tables()).toEqual(['posts', 'schema_migrations', 'tags', 'users']);
    expect(await stateRows()).toEqual([{ version: '10', dirty: false }]);
    expect(await migrator.current(target)).toBe('10');
    expect(await migrator.up(target)).toEqual([]);
  });

  it('goes up to and including `to`, then on from there', async () => {
    const migrator = sqlDirectory(await makeDir(THREE));
    expect((await migrator.up(target, '2')).map((s) => s.version)).toEqual(['1', '2']);
    expect(await migrator.current(target)).toBe('2');
    expect(await migrator.up(target, '1')).toEqual([]);
    expect((await migrator.up(target)).map((s) => s.version)).toEqual(['10']);
  });

  it('goes down to `to` (which stays applied) and to the base without `to`', async () => {
    const migrator = sqlDirectory(await makeDir(THREE));
    await migrator.up(target);
    const partial = await migrator.down(target, '1');
    expect(partial.map((s) => [s.version, s.direction])).toEqual([
      ['10', 'down'],
      ['2', 'down'],
    ]);
    expect(await migrator.current(target)).toBe('1');
    expect(await tables()).toEqual(['schema_migrations', 'users']);
    expect(await migrator.down(target, '2')).toEqual([]);

    expect((await migrator.down(target)).map((s) => s.version)).toEqual(['1']);
    expect(await migrator.current(target)).toBeNull();
    expect(await stateRows()).toEqual([]);
    expect(await tables()).toEqual(['schema_migrations']);
    expect(await migrator.down(target)).toEqual([]);
  });

  it('keeps versions as written, compares them as numbers, and accepts `to` in either spelling', async () => {
    const migrator = sqlDirectory(
      await makeDir({
        '001_a.up.sql': 'CREATE TABLE a (x int);',
        '002_b.up.sql': 'CREATE TABLE b (x int);',
        '20240101120000_c.up.sql': 'CREATE TABLE c (x int);',
      }),
    );
    expect((await migrator.list()).map((m) => m.version)).toEqual(['001', '002', '20240101120000']);
    await migrator.up(target, '2');
    expect(await migrator.current(target)).toBe('002');
    await migrator.up(target);
    expect(await stateRows()).toEqual([{ version: '20240101120000', dirty: false }]);
    expect(await migrator.current(target)).toBe('20240101120000');
  });

  it('rejects a `to` that is not a known version', async () => {
    const migrator = sqlDirectory(await makeDir(THREE));
    const up = await failure(migrator.up(target, '3'));
    expect(up.code).toBe('TENANTKIT_INVALID_OPTION');
    expect(up.message).toContain('Version "3" passed to up()');
    expect(up.message).toContain('known versions: 1, 2, 10');
    const down = await failure(migrator.down(target, 'latest'));
    expect(down.code).toBe('TENANTKIT_INVALID_OPTION');
    expect(await tables()).toEqual([]);
  });

  it('accepts a file URL and a custom state table in its own schema', async () => {
    const dir = await makeDir(THREE);
    const migrator = sqlDirectory(pathToFileURL(dir), { schema: 'meta', table: 'versions' });
    expect(migrator.source).toBe(dir);
    await migrator.up(target, '1');
    expect(await stateRows('meta.versions')).toEqual([{ version: '1', dirty: false }]);
    expect(await migrator.current(target)).toBe('1');
    expect(await tables()).toEqual(['users']);
  });

  it('refuses a state table of another shape', async () => {
    await pg.exec('CREATE TABLE schema_migrations (version varchar PRIMARY KEY)');
    const error = await failure(sqlDirectory(await makeDir(THREE)).up(target));
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(error.message).toContain('"public"."schema_migrations" exists but is not a migrations state table');
    expect(error.message).toContain('version character varying');
  });

  it('refuses a database at a version that has no file', async () => {
    await pg.exec('CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)');
    await pg.exec('INSERT INTO schema_migrations VALUES (7, false)');
    const migrator = sqlDirectory(await makeDir(THREE));
    expect(await migrator.current(target)).toBe('7');
    const error = await failure(migrator.up(target));
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(error.message).toContain('at version 7');
  });
});

describe('sqlDirectory: failures', () => {
  freshDatabasePerTest();

  it('reports a syntax error as file:line:column with the offending line', async () => {
    const up = [
      '-- users and their tokens',
      'CREATE TABLE users (',
      '  id int PRIMARY KEY',
      ');',
      '',
      'CREATE TABLE tokens (',
      "  id int PRIMARY KEY, label text DEFALT 'x'",
      ');',
    ].join('\n');
    const dir = await makeDir({ '1_init.up.sql': up });
    const error = await failure(sqlDirectory(dir).up(target));
    expect(error).toBeInstanceOf(MigrationFailedError);
    const failed = error as MigrationFailedError;
    expect(failed.code).toBe('TENANTKIT_MIGRATION_FAILED');
    const file = join(dir, '1_init.up.sql');
    expect(failed.location).toEqual({
      file,
      line: 7,
      column: "  id int PRIMARY KEY, label text ".length + 1,
      sourceLine: "  id int PRIMARY KEY, label text DEFALT 'x'",
    });
    expect(failed.message).toContain(`${file}:7:34`);
    expect(failed.message).toContain("7 | \x20 id int PRIMARY KEY, label text DEFALT 'x'");
    expect(failed.message).toContain('1_init (up)');
    expect(failed.message).toContain('as role migrator');
    expect(failed.sqlState).toBe('42601');
    expect(failed.role).toBe('migrator');
    expect(failed.statement).toBe("CREATE TABLE tokens (\n  id int PRIMARY KEY, label text DEFALT 'x'\n)");
    // The whole file ran in one transaction: users was rolled back with it.
    expect(await tables()).toEqual(['schema_migrations']);
  });

  it('counts columns in characters after non-ASCII text, with CRLF line endings', async () => {
    const up = "-- café ☕\r\nCREATE TABLE t (x text);\r\nINSERT INTO t VALUES ('😀 ünï'), (nosuch_col);\r\n";
    const dir = await makeDir({ '1_t.up.sql': up });
    const failed = (await failure(sqlDirectory(dir).up(target))) as MigrationFailedError;
    expect(failed.sqlState).toBe('42703');
    expect(failed.location?.line).toBe(3);
    expect(failed.location?.sourceLine).toBe("INSERT INTO t VALUES ('😀 ünï'), (nosuch_col);");
    expect(failed.location?.column).toBe([..."INSERT INTO t VALUES ('😀 ünï'), ("].length + 1);
  });

  it('points at the start of the statement when the server gives no position', async () => {
    const up = 'CREATE TABLE t (x int);\n\n-- again\n  CREATE TABLE t (x int);\n';
    const dir = await makeDir({ '1_twice.up.sql': up });
    const failed = (await failure(sqlDirectory(dir).up(target))) as MigrationFailedError;
    expect(failed.message).toContain('already exists');
    expect(failed.sqlState).toBe('42P07');
    // The statement starts at its leading comment.
    expect(failed.location).toMatchObject({ line: 3, column: 1, sourceLine: '-- again' });
    expect(failed.statement).toBe('-- again\n  CREATE TABLE t (x int)');
  });

  it('leaves the version dirty after a failure and refuses to run until it is repaired', async () => {
    const dir = await makeDir({
      '1_ok.up.sql': 'CREATE TABLE ok (x int);',
      '2_half.up.sql': 'CREATE TABLE half (x int);\nINSERT INTO half VALUES (1);\nINSERT INTO half VALUES (1 / 0);\n',
      '2_half.down.sql': 'DROP TABLE half;',
    });
    const migrator = sqlDirectory(dir);
    const failed = (await failure(migrator.up(target))) as MigrationFailedError;
    expect(failed.sqlState).toBe('22012');
    expect(failed.location?.line).toBe(3);
    // The half-applied file was rolled back as a whole.
    expect(await tables()).toEqual(['ok', 'schema_migrations']);
    expect(await stateRows()).toEqual([{ version: '2', dirty: true }]);
    expect(await migrator.current(target)).toBe('2');

    for (const attempt of [migrator.up(target), migrator.down(target)]) {
      const refused = await failure(attempt);
      expect(refused.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
      expect(refused.message).toContain('dirty at version 2_half');
      expect(refused.message).toContain('Recreate the database');
      expect(refused.message).toContain('SET version = <that version>, dirty = false');
    }

    // The repair the message describes makes it usable again.
    await pg.exec('UPDATE schema_migrations SET version = 1, dirty = false');
    await writeFile(join(dir, '2_half.up.sql'), 'CREATE TABLE half (x int);');
    expect((await migrator.up(target)).map((s) => s.version)).toEqual(['2']);
  });

  it('leaves a dirty base marker when the first down fails', async () => {
    const migrator = sqlDirectory(
      await makeDir({ '1_a.up.sql': 'CREATE TABLE a (x int);', '1_a.down.sql': 'DROP TABLE nope;' }),
    );
    await migrator.up(target);
    const failed = (await failure(migrator.down(target))) as MigrationFailedError;
    expect(failed.message).toContain('1_a (down)');
    expect(await stateRows()).toEqual([{ version: '-1', dirty: true }]);
    expect(await migrator.current(target)).toBeNull();
    const refused = await failure(migrator.up(target));
    expect(refused.message).toContain('dirty at the base');
  });

  it('does not wrap a file that manages its own transactions', async () => {
    const dir = await makeDir({
      '1_own.up.sql': [
        'CREATE TABLE before_tx (x int);',
        'BEGIN;',
        'CREATE TABLE inside_tx (x int);',
        'COMMIT;',
        'BEGIN;',
        'CREATE TABLE rolled_back (x int);',
        'SELECT nosuch_col;',
        'COMMIT;',
      ].join('\n'),
    });
    const failed = (await failure(sqlDirectory(dir).up(target))) as MigrationFailedError;
    expect(failed.location?.line).toBe(7);
    // Statements before the file's own failed transaction stay; the session is usable again.
    expect(await tables()).toEqual(['before_tx', 'inside_tx', 'schema_migrations']);
    expect(await stateRows()).toEqual([{ version: '1', dirty: true }]);
  });

  it('runs a file with the no-transaction directive statement by statement', async () => {
    const concurrently = 'CREATE TABLE t (x int);\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n';
    const wrapped = await failure(sqlDirectory(await makeDir({ '1_i.up.sql': concurrently })).up(target));
    expect(wrapped.message).toContain('cannot run inside a transaction block');
    expect(wrapped.message).toContain('-- tenantkit:no-transaction');
    expect((wrapped as MigrationFailedError).sqlState).toBe('25001');
    await pg.exec('DROP TABLE schema_migrations');

    const dir = await makeDir({ '1_i.up.sql': `-- tenantkit:no-transaction (for CONCURRENTLY)\n${concurrently}` });
    await sqlDirectory(dir).up(target);
    const index = await pg.query(`SELECT 1 FROM pg_indexes WHERE indexname = 't_x'`);
    expect(index.rows).toHaveLength(1);
  });

  it('refuses to revert through an irreversible migration and names it', async () => {
    const migrator = sqlDirectory(
      await makeDir({
        '1_a.up.sql': 'CREATE TABLE a (x int);',
        '1_a.down.sql': 'DROP TABLE a;',
        '2_b.up.sql': 'CREATE TABLE b (x int);',
        '3_c.up.sql': 'CREATE TABLE c (x int);',
        '3_c.down.sql': 'DROP TABLE c;',
      }),
    );
    expect((await migrator.list()).map((m) => m.reversible)).toEqual([true, false, true]);
    await migrator.up(target);
    const refused = await failure(migrator.down(target));
    expect(refused.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(refused.message).toContain('migration 2_b has no down file');
    expect(refused.message).toContain('2_b.down.sql');
    // Nothing was reverted, not even 3 which could have been.
    expect(await migrator.current(target)).toBe('3');
    expect(await tables()).toEqual(['a', 'b', 'c', 'schema_migrations']);

    expect((await migrator.down(target, '2')).map((s) => s.version)).toEqual(['3']);
    expect(await migrator.current(target)).toBe('2');
  });
});

describe('runScript', () => {
  freshDatabasePerTest();

  it('wraps or not as forced, and rolls back its own transaction on failure', async () => {
    const session = pgliteSession(pg);
    const half = { file: 'half.sql', sql: 'CREATE TABLE x (a int);\nSELECT 1/0;' };
    await failure(runScript(session, half, { migration: 'h', direction: 'up', transaction: false }));
    expect(await tables()).toEqual(['x']);
    await pg.exec('DROP TABLE x');
    await failure(runScript(session, half, { migration: 'h', direction: 'up', transaction: true }));
    expect(await tables()).toEqual([]);
    // Nothing is left open on the session.
    const status = await pg.query<{ n: number }>('SELECT 1 AS n');
    expect(status.rows).toEqual([{ n: 1 }]);

    const own = { file: 'own.sql', sql: 'START TRANSACTION;\nCREATE TABLE y (a int);\nSELECT nope;\nCOMMIT;' };
    const failed = (await failure(runScript(session, own, { migration: 'o', direction: 'down', transaction: 'auto' }))) as MigrationFailedError;
    expect(failed.location).toMatchObject({ file: 'own.sql', line: 3, column: 8, sourceLine: 'SELECT nope;' });
    expect(failed.role).toBeUndefined();
    await pg.exec('CREATE TABLE y (a int)');
  });

  it('runs a SQL-standard function body as one statement', async () => {
    const sql = `CREATE TABLE n (v int);
CREATE FUNCTION add_n(x int) RETURNS void LANGUAGE sql
BEGIN ATOMIC
  INSERT INTO n VALUES (x);
  INSERT INTO n VALUES (CASE WHEN x > 0 THEN x * 10 ELSE 0 END);
END;
SELECT add_n(2);`;
    await runScript(pgliteSession(pg), { file: 'f.sql', sql }, { migration: 'f', direction: 'up', transaction: 'auto' });
    const rows = await pg.query<{ v: number }>('SELECT v FROM n ORDER BY v');
    expect(rows.rows.map((r) => r.v)).toEqual([2, 20]);
  });
});

describe('sqlDirectory: hash', () => {
  it('is stable across instances and calls, and changes with any byte', async () => {
    const dir = await makeDir(THREE);
    const a = sqlDirectory(dir);
    const first = await a.hash();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await a.hash()).toBe(first);
    expect(await sqlDirectory(dir).hash()).toBe(first);
    expect(await sqlDirectory(await makeDir(THREE)).hash()).toBe(first);

    // Any change to content, names, or options changes it.
    expect(await sqlDirectory(dir, { table: 'other' }).hash()).not.toBe(first);
    expect(await sqlDirectory(await makeDir({ ...THREE, '2_posts.down.sql': 'DROP TABLE posts;\r\n' })).hash()).not.toBe(first);
    expect(await sqlDirectory(await makeDir({ ...THREE, '2_posts.down.sql': 'DROP TABLE Posts;\n' })).hash()).not.toBe(first);
    const { '10_tags.down.sql': _dropped, ...irreversible } = THREE;
    expect(await sqlDirectory(await makeDir(irreversible)).hash()).not.toBe(first);
    const { '10_tags.up.sql': up10, '10_tags.down.sql': down10, ...rest } = THREE;
    expect(await sqlDirectory(await makeDir({ ...rest, '10_labels.up.sql': up10, '10_labels.down.sql': down10 })).hash()).not.toBe(first);

    // The same instance sees edits made after it was first used, same size or not.
    await writeFile(join(dir, '1_users.up.sql'), 'CREATE TABLE users (id int PRIMARY KEY);\n\n');
    const edited = await a.hash();
    expect(edited).not.toBe(first);
    await writeFile(join(dir, '1_users.up.sql'), 'CREATE TABLE users (id int PRIMARY KEY);\n-\n');
    expect(await a.hash()).not.toBe(edited);
  });
});

describe('sqlDirectory: invalid directories', () => {
  it('reports a missing directory', async () => {
    const missing = join(tmpdir(), 'tenantkit-does-not-exist', 'migrations');
    const error = await failure(sqlDirectory(missing).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_NOT_FOUND');
    expect(error.object).toBe(missing);
    expect(error.message).toContain(`${missing} does not exist`);
    expect(error.message).toContain("new URL('./migrations/', import.meta.url)");
  });

  it('reports a path that is a file', async () => {
    const dir = await makeDir({ 'file.txt': 'x' });
    const error = await failure(sqlDirectory(join(dir, 'file.txt')).hash());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_NOT_FOUND');
    expect(error.message).toContain('is not a directory');
  });

  it('reports an empty directory', async () => {
    const dir = await makeDir({ 'README.md': 'later' });
    const error = await failure(sqlDirectory(dir).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(error.message).toContain('contains no migrations');
    expect(error.message).toContain('1_init.up.sql');
  });

  it('reports a .sql file that does not follow the naming pattern', async () => {
    const dir = await makeDir({ ...THREE, 'seed.sql': 'SELECT 1;', '3_x.UP.SQL': '' });
    const error = await failure(sqlDirectory(dir).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(error.object).toBe(join(dir, '3_x.UP.SQL'));
    expect(error.message).toContain(join(dir, 'seed.sql'));
    expect(error.message).toContain('{version}_{title}.up.sql');
  });

  it('reports a down migration without its up', async () => {
    const dir = await makeDir({ ...THREE, '4_orphan.down.sql': 'SELECT 1;' });
    const error = await failure(sqlDirectory(dir).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(error.message).toContain(`${join(dir, '4_orphan.down.sql')} has no up migration`);
  });

  it('reports two migrations with numerically equal versions, naming both', async () => {
    const dir = await makeDir({ ...THREE, '0001_again.up.sql': 'SELECT 1;' });
    const error = await failure(sqlDirectory(dir).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(error.message).toContain(join(dir, '0001_again.up.sql'));
    expect(error.message).toContain(join(dir, '1_users.up.sql'));
    expect(error.message).toContain('are all up migrations for version 1');
  });

  it('reports an up and a down that share a version but not a name', async () => {
    const dir = await makeDir({ '1_a.up.sql': 'SELECT 1;', '1_b.down.sql': 'SELECT 1;' });
    const error = await failure(sqlDirectory(dir).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(error.message).toContain('do not form an up/down pair');
  });

  it('reports a version too large for the bigint column', async () => {
    const error = await failure(sqlDirectory(await makeDir({ '99999999999999999999_big.up.sql': '' })).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(error.message).toContain('does not fit the bigint version column');
  });

  it('reports a file that is not UTF-8', async () => {
    const dir = await makeDir({ '1_latin1.up.sql': new Uint8Array([0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x27, 0xe9, 0x27]) });
    const error = await failure(sqlDirectory(dir).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_UNREADABLE');
    expect(error.message).toContain('is not valid UTF-8');
  });

  it('reports a symbolic link to a missing file', async () => {
    const dir = await makeDir(THREE);
    await symlink(join(dir, 'gone.sql'), join(dir, '3_link.up.sql'));
    const error = await failure(sqlDirectory(dir).list());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_UNREADABLE');
    expect(error.object).toBe(join(dir, '3_link.up.sql'));
    expect(error.message).toContain('symbolic link to a file that does not exist');
  });

  it('ignores other files and subdirectories', async () => {
    const dir = await makeDir(THREE);
    await mkdir(join(dir, 'archive.sql'));
    await writeFile(join(dir, 'notes.txt'), 'x');
    expect(await sqlDirectory(dir).list()).toHaveLength(3);
  });

  it('rejects empty table and schema options', () => {
    expect(() => sqlDirectory('.', { table: '' })).toThrow(TenantkitError);
    expect(() => sqlDirectory('.', { schema: 'x'.repeat(64) })).toThrow(/longer than 63 bytes/);
  });
});

describe('schemaFile and schemaSql', () => {
  freshDatabasePerTest();

  it('applies a schema file once as an irreversible version 1', async () => {
    const dir = await makeDir({ 'schema.sql': 'CREATE TABLE a (x int);\nCREATE TABLE b (y int);\n' });
    const migrator = schemaFile(pathToFileURL(join(dir, 'schema.sql')));
    expect(migrator.kind).toBe('schema');
    expect(await migrator.list()).toEqual([
      { version: '1', name: 'schema', reversible: false, upFile: join(dir, 'schema.sql') },
    ]);
    expect(await migrator.current(target)).toBeNull();
    const steps = await migrator.up(target);
    expect(steps.map((s) => [s.version, s.direction])).toEqual([['1', 'up']]);
    expect(await tables()).toEqual(['a', 'b']);
    // Nothing is recorded in the database.
    expect(await migrator.current(target)).toBeNull();
    expect(await migrator.down(target, '1')).toEqual([]);
    const refused = await failure(migrator.down(target));
    expect(refused.code).toBe('TENANTKIT_MIGRATIONS_INVALID');
    expect(refused.message).toContain('cannot be reverted');
    expect((await failure(migrator.up(target, '2'))).code).toBe('TENANTKIT_INVALID_OPTION');
  });

  it('reports a missing schema file', async () => {
    const missing = join(tmpdir(), 'tenantkit-no-such-schema.sql');
    const error = await failure(schemaFile(missing).hash());
    expect(error.code).toBe('TENANTKIT_MIGRATIONS_NOT_FOUND');
    expect(error.message).toContain(`${missing} does not exist`);
  });

  it('hashes content only and reports failures at name:line:column', async () => {
    const sql = 'CREATE TABLE a (x int);\nCREATE TABLE b (y nosuchtype);\n';
    expect(await schemaSql(sql).hash()).toBe(await schemaSql(sql, 'other').hash());
    expect(await schemaSql(sql).hash()).not.toBe(await schemaSql(`${sql} `).hash());
    const dir = await makeDir({ 'db.sql': sql });
    expect(await schemaFile(join(dir, 'db.sql')).hash()).toBe(await schemaSql(sql).hash());

    const failed = (await failure(schemaSql(sql, 'inline').up(target))) as MigrationFailedError;
    expect(failed.location).toMatchObject({ file: 'inline', line: 2, column: 19 });
    expect(await tables()).toEqual([]);
  });
});
