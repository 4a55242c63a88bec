import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { startKit } from '../src/kit.js';
import { upOnlyMigrations } from '../src/migrations/sources/up-only/up-only.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

test('up-only migrations go up one step at a time, record how far, and refuse to go down', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tk-up-only-'));
  dirs.push(dir);
  await writeFile(join(dir, 'a.sql'), 'CREATE TABLE a (id int);');
  await writeFile(join(dir, 'b.sql'), 'CREATE TABLE b (id int);');
  const migrator = upOnlyMigrations(
    [
      { version: '20240101', name: 'a', file: join(dir, 'a.sql') },
      { version: '20240102', name: 'b', file: join(dir, 'b.sql') },
    ],
    { kind: 'prisma', source: 'prisma migrations in test' },
  );
  expect((await migrator.list()).every((migration) => !migration.reversible)).toBe(true);
  await using kit = await startKit({ backend: 'pglite', schema: 'SELECT 1;' });
  await using db = await kit.acquire();
  const target = { session: db.owner, role: db.owner.role };
  expect(await migrator.current(target)).toBeNull();
  expect((await migrator.up(target, '20240101')).map((step) => step.version)).toEqual(['20240101']);
  expect(await migrator.current(target)).toBe('20240101');
  expect((await migrator.up(target)).map((step) => step.version)).toEqual(['20240102']);
  expect(await migrator.up(target)).toEqual([]);
  await expect(migrator.down(target, '20240101')).rejects.toMatchObject({ code: 'TENANTKIT_MIGRATIONS_INVALID', message: expect.stringContaining('no down migrations') });
  expect(await migrator.down(target, '20240102')).toEqual([]);
  await expect(migrator.up(target, '20991231')).rejects.toMatchObject({ code: 'TENANTKIT_INVALID_OPTION' });
  expect(() => upOnlyMigrations([{ version: '1', name: 'x', file: 'x' }, { version: '1', name: 'y', file: 'y' }], { kind: 'k', source: 's' })).toThrow(/two migrations have version 1/);
});
