import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { alembicMigrator } from '../src/migrations/sources/alembic/alembic.js';
import { detectUpOnlyLayout, upOnlyFolder } from '../src/migrations/sources/up-only/folders.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A folder holding the given files (paths relative to it). */
async function project(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'tk-up-only-folders-'));
  dirs.push(root);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, file)), { recursive: true });
    await writeFile(join(root, file), text);
  }
  return root;
}

const journal = (...tags: string[]) => JSON.stringify({ version: '7', dialect: 'postgresql', entries: tags.map((tag, idx) => ({ idx, version: '7', when: idx + 1, tag, breakpoints: true })) });

describe('up-only folders as their tools lay them out', () => {
  test('Prisma, drizzle-kit and Supabase folders are recognised and listed in the order their tool applies them', async () => {
    const root = await project({
      'prisma/migrations/migration_lock.toml': 'provider = "postgresql"\n',
      'prisma/migrations/20240102000000_b/migration.sql': 'CREATE TABLE b (id int);',
      'prisma/migrations/20240101000000_a/migration.sql': 'CREATE TABLE a (id int);',
      // The journal, not the names, gives drizzle's order.
      'drizzle/meta/_journal.json': journal('0001_second', '0000_first'),
      'drizzle/0000_first.sql': 'SELECT 1;',
      'drizzle/0001_second.sql': 'SELECT 1;',
      'supabase/config.toml': 'project_id = "x"\n',
      'supabase/migrations/20240101000000_init.sql': 'SELECT 1;',
      'plain/0001_a.up.sql': 'SELECT 1;',
    });
    expect(await detectUpOnlyLayout(join(root, 'prisma/migrations'))).toBe('prisma');
    expect(await detectUpOnlyLayout(join(root, 'drizzle'))).toBe('drizzle');
    expect(await detectUpOnlyLayout(join(root, 'supabase/migrations'))).toBe('supabase');
    expect(await detectUpOnlyLayout(join(root, 'plain'))).toBeUndefined();
    const names = async (dir: string) => (await (await upOnlyFolder(join(root, dir))).list()).map((migration) => `${migration.version} ${migration.name}`);
    expect(await names('prisma/migrations')).toEqual(['20240101000000 a', '20240102000000 b']);
    expect(await names('drizzle')).toEqual(['0001 second', '0000 first']);
    expect(await names('supabase/migrations')).toEqual(['20240101000000 init']);
  });

  test('what cannot be read is a named migrations error, with the same codes as the other sources', async () => {
    const root = await project({
      'missing-file/meta/_journal.json': journal('0000_first'),
      'bad-journal/meta/_journal.json': '{ not json',
      'empty/migrations/migration_lock.toml': '',
      'plain/0001_a.up.sql': 'SELECT 1;',
    });
    const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);
    expect(await failure(upOnlyFolder(join(root, 'missing-file')))).toMatchObject({ code: 'TENANTKIT_MIGRATIONS_INVALID', message: expect.stringContaining('0000_first.sql does not exist') });
    expect(await failure(upOnlyFolder(join(root, 'bad-journal')))).toMatchObject({ code: 'TENANTKIT_MIGRATIONS_UNREADABLE', message: expect.stringContaining('drizzle-kit generate') });
    expect(await failure(upOnlyFolder(join(root, 'empty/migrations')))).toMatchObject({ code: 'TENANTKIT_MIGRATIONS_INVALID', message: expect.stringContaining('holds no migrations') });
    expect(await failure(upOnlyFolder(join(root, 'plain')))).toMatchObject({ code: 'TENANTKIT_MIGRATIONS_INVALID', message: expect.stringContaining('sqlDirectory or dbmateDirectory') });
    expect(await failure(upOnlyFolder(join(root, 'nowhere'), 'supabase'))).toMatchObject({ code: 'TENANTKIT_MIGRATIONS_NOT_FOUND' });
  });
});

describe('alembicMigrator before any database', () => {
  /** A stand-in for python that prints what `-m alembic` would and exits as given. */
  async function fakePython(root: string, script: string): Promise<string> {
    const file = join(root, 'python');
    await writeFile(file, `#!/bin/sh\n${script}\n`);
    await chmod(file, 0o755);
    return file;
  }

  test('no alembic.ini, no Python, no Alembic and several heads are named, each with its code and the fix', async () => {
    const root = await project({ 'alembic.ini': '[alembic]\nscript_location = versions\n' });
    const ini = join(root, 'alembic.ini');
    const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);
    expect(await failure(alembicMigrator({ ini: join(root, 'nope.ini') }))).toMatchObject({ code: 'TENANTKIT_MIGRATIONS_NOT_FOUND' });
    expect(await failure(alembicMigrator({ ini, python: join(root, 'no-such-python') }))).toMatchObject({
      code: 'TENANTKIT_TOOL_UNAVAILABLE',
      message: expect.stringContaining('pip install alembic'),
    });
    const noModule = await fakePython(root, 'echo "/usr/bin/python3: No module named alembic" >&2; exit 1');
    expect(await failure(alembicMigrator({ ini, python: noModule }))).toMatchObject({ code: 'TENANTKIT_TOOL_UNAVAILABLE', message: expect.stringContaining('has no Alembic (No module named alembic)') });
    const twoHeads = await fakePython(root, 'echo "a1 (head)"; echo "b2 (head)"');
    expect(await failure(alembicMigrator({ ini, python: twoHeads }))).toMatchObject({ code: 'TENANTKIT_MIGRATIONS_INVALID', message: expect.stringContaining('alembic merge heads') });
    const broken = await fakePython(root, 'echo "FAILED: No config file" >&2; exit 1');
    expect(await failure(alembicMigrator({ ini, python: broken }))).toMatchObject({ code: 'TENANTKIT_MIGRATIONS_UNREADABLE', message: expect.stringContaining('FAILED: No config file') });
  });
});
