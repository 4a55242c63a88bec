import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { checkEveryMigration, versionGaps } from '../src/migrations/check/every-migration.js';
import type { SeedStep } from '../src/migrations/check/chain-data.js';
import { upOnlyMigrations } from '../src/migrations/sources/up-only/up-only.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** An up-only chain as a Prisma folder would hold it: one SQL file per step. */
async function chain(...steps: string[]) {
  const dir = await mkdtemp(join(tmpdir(), 'tk-chain-data-'));
  dirs.push(dir);
  const list = [];
  for (const [index, sql] of steps.entries()) {
    const file = join(dir, `${index + 1}.sql`);
    await writeFile(file, sql);
    list.push({ version: `2024010${index + 1}`, name: `step_${index + 1}`, file });
  }
  return upOnlyMigrations(list, { kind: 'prisma', source: dir });
}

/** Two rows in every table of public, from the columns' defaults (the test schemas default every column). */
const seedDefaults: SeedStep = async (session) => {
  const { rows } = await session.query<{ table: string }>(`SELECT quote_ident(relname) AS table FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> 'schema_migrations'`);
  for (const { table } of rows) await session.exec(`INSERT INTO public.${table} DEFAULT VALUES; INSERT INTO public.${table} DEFAULT VALUES;`);
};

const dataStep = (report: Awaited<ReturnType<typeof checkEveryMigration>>) => report.migrations.find((step) => step.version === 'data')!;

test('seeded rows carried through an up-only chain: a kept chain passes, a dropped table is named, no seed is not proven', async () => {
  const migrator = await chain(
    `CREATE TABLE notes (id serial PRIMARY KEY, tenant_id int NOT NULL DEFAULT 1, body text DEFAULT 'x');
     CREATE TABLE drafts (id serial PRIMARY KEY, body text DEFAULT 'd');`,
    `ALTER TABLE notes ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(); DROP TABLE drafts;`,
  );
  const kept = await checkEveryMigration(migrator, { seed: seedDefaults });
  expect(kept.ok, JSON.stringify(kept)).toBe(true);
  expect(dataStep(kept).status).toBe('pass');
  expect(dataStep(kept).problems).toEqual([expect.stringMatching(/^warning: after 20240102 step_2, public\.drafts is gone \(dropped or renamed\) with the 2 row\(s\) it held/)]);

  const unseeded = await checkEveryMigration(migrator);
  expect(dataStep(unseeded)).toMatchObject({ status: 'skip', problems: [expect.stringContaining('not checked: no seed given')] });
  const empty = await checkEveryMigration(migrator, { seed: async () => {} });
  expect(dataStep(empty)).toMatchObject({ status: 'skip', problems: [expect.stringContaining('the seeder put no rows in any table')] });
}, 120_000);

test('a NOT NULL column added with no default and a tenant column left NULL fail the chain; deleted rows are named; made-up rows refused are not proven', async () => {
  const notNull = await checkEveryMigration(await chain(`CREATE TABLE notes (id serial PRIMARY KEY, tenant_id int NOT NULL DEFAULT 1);`, `ALTER TABLE notes ADD COLUMN owner_id int NOT NULL;`), { seed: seedDefaults });
  // On an empty database every step applies; with rows the second does not.
  expect(notNull.migrations.filter((step) => step.version !== 'data').every((step) => step.status === 'skip')).toBe(true);
  expect(notNull.ok).toBe(false);
  expect(dataStep(notNull)).toMatchObject({ status: 'fail', problems: [expect.stringMatching(/^20240102 step_2 adds the NOT NULL column notes\.owner_id with no default/)] });
  // A step that refuses the made-up rows' values is not proven either way.
  const refuses = await checkEveryMigration(await chain(`CREATE TABLE notes (id serial PRIMARY KEY, kind text DEFAULT 'x');`, `ALTER TABLE notes ALTER COLUMN kind DROP DEFAULT, ALTER COLUMN kind TYPE int USING kind::int;`), { seed: seedDefaults });
  expect(refuses.ok).toBe(true);
  expect(dataStep(refuses)).toMatchObject({ status: 'skip', problems: [expect.stringMatching(/^not checked past 20240102 step_2: it fails on the rows seeded from the schema \(.*invalid input syntax/)] });

  const deletes = await checkEveryMigration(await chain(`CREATE TABLE notes (id serial PRIMARY KEY, tenant_id int NOT NULL DEFAULT 1);`, `DELETE FROM notes WHERE id % 2 = 0;`), { seed: seedDefaults });
  expect(dataStep(deletes)).toMatchObject({ status: 'pass', problems: [expect.stringMatching(/^warning: 20240102 step_2 deletes rows of public\.notes: 2 before it, 1 after/)] });

  const nulls = await checkEveryMigration(await chain(`CREATE TABLE notes (id serial PRIMARY KEY, body text DEFAULT 'x');`, `ALTER TABLE notes ADD COLUMN account_id int;`), { seed: seedDefaults, tenantColumns: ['account_id'] });
  // The 2 rows seeded before the column came, and 2 after (this seed leaves it NULL too).
  expect(dataStep(nulls)).toMatchObject({ status: 'fail', problems: [expect.stringMatching(/^NULL gate: public\.notes has 4 row\(s\) with NULL account_id at the head/)] });
  // Where a NULL tenant is meant (a shared row), no gate.
  const shared = await checkEveryMigration(await chain(`CREATE TABLE notes (id serial PRIMARY KEY, body text DEFAULT 'x');`, `ALTER TABLE notes ADD COLUMN account_id int;`), { seed: seedDefaults, tenantColumns: [] });
  expect(dataStep(shared).status).toBe('pass');
}, 180_000);

test('a gap in numbered versions is a warning on the migration after it; timestamps and spaced numbering are not gaps', () => {
  const info = (...versions: string[]) => versions.map((version) => ({ version, name: 'm', reversible: true }));
  expect([...versionGaps(info('0001', '0002', '0004', '0005', '0009'))]).toEqual([
    ['0004', expect.stringMatching(/^warning: version 0003 is missing between 0002 and 0004/)],
    ['0009', expect.stringMatching(/^warning: versions 0006 to 0008 are missing between 0005 and 0009/)],
  ]);
  expect(versionGaps(info('20240101120000', '20240301090000')).size).toBe(0);
  expect(versionGaps(info('10', '20', '30')).size).toBe(0);
  expect(versionGaps(info('1', '2', '3')).size).toBe(0);
});
