process.env.TENANTKIT_QUIET = '1';
delete process.env.TENANTKIT_BACKEND;

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { memoryStorage, Umzug } from 'umzug';
import type { BackendKind } from '../src/config.js';
import { TenantkitError } from '../src/errors.js';
import { type Kit, startKit } from '../src/kit.js';
import { umzugMigrator } from '../src/migrations/sources/umzug/umzug.js';
import type { MigrationTarget } from '../src/migrations/migrator.js';
import { runStairway } from '../src/migrations/check/stairway.js';
import { expectCorrectSetCycles, ownerTarget } from './helpers.js';
import type { Session } from '../src/queryable.js';

const EMPTY = '-- an empty database\n';

interface Step {
  readonly name: string;
  readonly up: string;
  readonly down?: string;
}

const TENANTS: Step = {
  name: '001_tenants',
  up: 'CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL)',
  down: 'DROP TABLE tenants',
};
const OK: Step[] = [
  TENANTS,
  {
    name: '002_documents',
    up: 'CREATE TABLE documents (id serial PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, title text NOT NULL); CREATE INDEX documents_tenant_id_idx ON documents (tenant_id)',
    down: 'DROP TABLE documents',
  },
  { name: '003_documents_body', up: 'ALTER TABLE documents ADD COLUMN body text', down: 'ALTER TABLE documents DROP COLUMN body' },
];
const BROKEN: Step[] = [
  TENANTS,
  { name: '002_tenants_name_idx', up: 'CREATE INDEX tenants_name_idx ON tenants (name)', down: 'SELECT 1' },
  { name: '003_audit', up: 'CREATE TABLE audit (entry text)', down: 'DROP TABLE audit' },
];
const IRREVERSIBLE: Step[] = [TENANTS, { name: '002_tenants_note', up: 'ALTER TABLE tenants ADD COLUMN note text' }];

const migratorFor = (steps: readonly Step[]) =>
  umzugMigrator(
    (target: MigrationTarget) =>
      new Umzug<Session>({
        migrations: steps.map((step) => ({
          name: step.name,
          up: ({ context }) => context.exec(step.up),
          ...(step.down === undefined ? {} : { down: ({ context }: { context: Session }) => context.exec(step.down!) }),
        })),
        context: target.session,
        storage: memoryStorage(),
        logger: undefined,
      }),
    { source: 'umzug (inline)' },
  );

describe('umzugMigrator without a database', () => {
  test('lists the migrations and tells which have a down', async () => {
    const list = await migratorFor(IRREVERSIBLE).list();
    expect(list.map((m) => [m.version, m.reversible])).toEqual([
      ['001_tenants', true],
      ['002_tenants_note', false],
    ]);
  });

  test('the hash follows the steps', async () => {
    expect(await migratorFor(OK).hash()).toBe(await migratorFor(OK).hash());
    expect(await migratorFor(OK).hash()).not.toBe(await migratorFor(BROKEN).hash());
  });
});

describe.each(['pglite', 'native'] as BackendKind[])('umzugMigrator on %s', (backend) => {
  let kit: Kit;
  beforeAll(async () => {
    kit = await startKit({ backend, schema: EMPTY, isolation: 'database', poolSize: 0 });
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
    const migrator = migratorFor(OK);
    const options = optionsFor(db);
    await expectCorrectSetCycles(migrator, options, { first: '001_tenants', last: '003_documents_body' });
  });

  test('a down that leaves an index fails with the diff', async () => {
    await using db = await kit.acquire();
    const report = await runStairway(migratorFor(BROKEN), optionsFor(db));
    expect(report.ok).toBe(false);
    expect(report.migrations.map((step) => step.status)).toEqual(['pass', 'fail', 'skip']);
    expect(report.migrations[1]!.problems.join('\n')).toContain('index public.tenants_name_idx');
  });

  test('an irreversible migration is skipped, and down refuses it', async () => {
    await using db = await kit.acquire();
    const migrator = migratorFor(IRREVERSIBLE);
    const options = optionsFor(db);
    const report = await runStairway(migrator, options);
    expect(report.ok).toBe(true);
    expect(report.migrations.map((step) => step.status)).toEqual(['pass', 'skip']);
    const error = await migrator.down(options.target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenantkitError);
    expect((error as Error).message).toMatch(/irreversible/);
  });

  test('a failing statement is a MigrationFailedError naming the migration', async () => {
    await using db = await kit.acquire();
    const migrator = migratorFor(OK);
    const options = optionsFor(db);
    await db.owner.exec('CREATE TABLE documents (id int)');
    const error = await migrator.up(options.target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenantkitError);
    expect((error as TenantkitError).code).toBe('TENANTKIT_MIGRATION_FAILED');
    expect((error as Error).message).toContain('002_documents');
    expect((error as Error).message).toContain('already exists');
    expect(await migrator.current(options.target)).toBe('001_tenants');
  });
});
