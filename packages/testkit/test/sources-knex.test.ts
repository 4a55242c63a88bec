process.env.TENANTKIT_QUIET = '1';
delete process.env.TENANTKIT_BACKEND;

import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidOptionError, TenantkitError } from '../src/errors.js';
import { type Kit, startKit } from '../src/kit.js';
import { knexMigrator } from '../src/migrations/sources/knex/knex.js';
import { runStairway } from '../src/migrations/check/stairway.js';
import { expectCorrectSetCycles, ownerTarget } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/adapters/knex/', import.meta.url));
const EMPTY = '-- an empty database\n';
const migratorFor = (set: string) => knexMigrator({ directory: `${FIXTURES}${set}`, loadExtensions: ['.cjs'] });

describe('knexMigrator without a database', () => {
  test('lists the files in knex order, versions without extension', async () => {
    const list = await migratorFor('ok').list();
    expect(list.map((m) => m.version)).toEqual(['20240101000000_tenants', '20240102000000_documents', '20240103000000_documents_body']);
    expect(list.every((m) => m.reversible)).toBe(true);
  });

  test('a module without down is irreversible', async () => {
    const list = await migratorFor('irreversible').list();
    expect(list.map((m) => m.reversible)).toEqual([true, false]);
  });

  test('the hash follows the files', async () => {
    expect(await migratorFor('ok').hash()).toBe(await migratorFor('ok').hash());
    expect(await migratorFor('ok').hash()).not.toBe(await migratorFor('broken-leaves-index').hash());
  });

  test('needs a URL', async () => {
    const target = { session: { query: async () => ({ rows: [], rowCount: 0 }), exec: async () => {} }, role: 'owner' };
    const error = await migratorFor('ok').up(target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(/backend "native", "url" or "container"/);
  });
});

describe('knexMigrator on native', () => {
  let kit: Kit;
  beforeAll(async () => {
    kit = await startKit({ backend: 'native', schema: EMPTY, isolation: 'database', poolSize: 0 });
  });
  afterAll(async () => {
    await kit?.stop();
  });

  const optionsFor = (db: Awaited<ReturnType<Kit['acquire']>>) => ({
    inspect: db,
    target: ownerTarget(db),
  });

  test('a correct set passes the stairway and the full cycle', async () => {
    await using db = await kit.acquire();
    const migrator = migratorFor('ok');
    const options = optionsFor(db);
    await expectCorrectSetCycles(migrator, options, { first: '20240101000000_tenants', last: '20240103000000_documents_body' });
  });

  test('a down that leaves an index fails with the diff', async () => {
    await using db = await kit.acquire();
    const report = await runStairway(migratorFor('broken-leaves-index'), optionsFor(db));
    expect(report.ok).toBe(false);
    expect(report.migrations.map((step) => step.status)).toEqual(['pass', 'fail', 'skip']);
    expect(report.migrations[1]!.problems.join('\n')).toContain('index public.tenants_name_idx');
  });

  test('an irreversible migration is skipped, and down refuses it', async () => {
    await using db = await kit.acquire();
    const migrator = migratorFor('irreversible');
    const options = optionsFor(db);
    const report = await runStairway(migrator, options);
    expect(report.ok).toBe(true);
    expect(report.migrations.map((step) => step.status)).toEqual(['pass', 'skip']);
    const error = await migrator.down(options.target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenantkitError);
    expect((error as Error).message).toMatch(/irreversible/);
  });

  test('a failing statement is a MigrationFailedError naming the file', async () => {
    await using db = await kit.acquire();
    const migrator = migratorFor('ok');
    const options = optionsFor(db);
    await db.owner.exec('CREATE TABLE documents (id int)');
    const error = await migrator.up(options.target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenantkitError);
    expect((error as TenantkitError).code).toBe('TENANTKIT_MIGRATION_FAILED');
    expect((error as Error).message).toContain('20240102000000_documents.cjs');
    expect(await migrator.current(options.target)).toBe('20240101000000_tenants');
  });
});
