import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import type { BackendKind } from '../src/config.js';
import { type Kit, startKit } from '../src/kit.js';
import { runFullCycle, runStairway } from '../src/migrations/check/stairway.js';
import type { Migrator } from '../src/migrations/migrator.js';
import { sqlDirectory } from '../src/migrations/sources/golang-migrate/golang-migrate.js';
import './helpers.js';

const CORPUS = fileURLToPath(new URL('./fixtures/migration-corpus/', import.meta.url));

/** What the check must name for each broken set: the object its down leaves behind or gets wrong. */
const BROKEN: Record<string, string> = {
  'broken-01-leaves-index': 'index public.documents_tenant_id_idx',
  'broken-02-leaves-enum': 'public.document_kind',
  'broken-03-leaves-not-null': 'column public.documents.body',
  'broken-04-leaves-rls': 'public.documents',
  'broken-05-leaves-default': 'column public.documents.title',
  'broken-06-leaves-grant': 'tk_app',
  'broken-07-leaves-function': 'document_slug',
  'broken-08-leaves-check': 'documents_title_not_blank',
  'broken-09-restores-other-type': 'column public.invoices.amount',
  'broken-10-restores-other-policy': 'documents_tenant_isolation',
  'broken-11-reapply-table-exists': 'already exists',
  'broken-12-reapply-trigger-exists': 'already exists',
};
const SETS = readdirSync(CORPUS).sort();
const EMPTY = '-- an empty database\n';

describe.each(['pglite', 'native'] as BackendKind[])('the stairway on %s', (backend) => {
  let kit: Kit;
  beforeAll(async () => {
    kit = await startKit({ backend, schema: EMPTY, isolation: 'database', poolSize: 0 });
  });
  afterAll(async () => {
    await kit?.stop();
  });

  test('covers the whole corpus', () => {
    expect(SETS.filter((set) => set.startsWith('broken-'))).toEqual(Object.keys(BROKEN).sort());
    expect(SETS.filter((set) => set.startsWith('ok-')).length).toBeGreaterThanOrEqual(4);
  });

  test.each(SETS)('%s', async (set) => {
    await using db = await kit.acquire();
    const migrator = sqlDirectory(`${CORPUS}${set}`);
    const options = { inspect: db, target: { session: db.owner, role: db.owner.role } };
    const report = await runStairway(migrator, options);
    const failed = report.migrations.filter((step) => step.status === 'fail');
    if (set.startsWith('ok-')) {
      expect(failed.map((step) => step.problems)).toEqual([]);
      expect(report.ok).toBe(true);
      await migrator.down(options.target).catch(() => {});
      if (set !== 'ok-04-irreversible-last') expect(await runFullCycle(migrator, options)).toEqual([]);
      return;
    }
    expect(report.ok).toBe(false);
    expect(failed).toHaveLength(1);
    expect(Number(failed[0]!.version)).toBe(2);
    expect(failed[0]!.problems.join('\n')).toContain(BROKEN[set]!);
    if (set.includes('reapply')) expect(report.error?.file).toMatch(/0002_.*\.up\.sql$/);
  });
});

describe('the backfill trap', () => {
  const set = async (forced: boolean, context: boolean) => {
    const dir = await mkdtemp(join(tmpdir(), 'tenantkit-backfill-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, '0001_sessions.up.sql'),
      `CREATE TABLE sessions (id int PRIMARY KEY, account_id uuid, note text);
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
${forced ? 'ALTER TABLE sessions FORCE ROW LEVEL SECURITY;' : ''}
CREATE POLICY account ON sessions USING (account_id = NULLIF(current_setting('app.account_id', true), '')::uuid);\n`,
    );
    await writeFile(join(dir, '0001_sessions.down.sql'), 'DROP TABLE sessions;\n');
    await writeFile(
      join(dir, '0002_backfill.up.sql'),
      `ALTER TABLE sessions ADD COLUMN label text;
${context ? "SELECT set_config('app.account_id', '00000000-0000-4000-8000-000000000001', true);" : ''}
UPDATE sessions SET label = 'migrated';\n`,
    );
    await writeFile(join(dir, '0002_backfill.down.sql'), 'ALTER TABLE sessions DROP COLUMN label;\n');
    return dir;
  };

  test.each([
    { forced: true, context: false, warned: true },
    { forced: true, context: true, warned: false },
    { forced: false, context: false, warned: false },
  ])('FORCE $forced, context set $context: warned $warned', async ({ forced, context, warned }) => {
    await using kit = await startKit({ backend: 'pglite', schema: EMPTY, isolation: 'database', poolSize: 0 });
    await using db = await kit.acquire();
    const report = await runStairway(sqlDirectory(await set(forced, context)), { inspect: db, target: { session: db.owner, role: db.owner.role } });
    expect(report.ok).toBe(true);
    const warnings = report.migrations.flatMap((step) => step.problems).filter((problem) => problem.startsWith('warning:'));
    expect(warnings).toHaveLength(warned ? 1 : 0);
    if (warned) expect(warnings[0]).toMatch(/0002_backfill\.up\.sql: UPDATE public\.sessions runs as tk_owner.*FORCE ROW LEVEL SECURITY/);
  });

  test('an up file the check cannot read is a named error, not a step passed unchecked', async () => {
    await using kit = await startKit({ backend: 'pglite', schema: EMPTY, isolation: 'database', poolSize: 0 });
    await using db = await kit.acquire();
    const dir = await set(true, false);
    const source = sqlDirectory(dir);
    const gone = join(dir, 'gone.up.sql');
    const migrator: Migrator = { ...source, list: async () => (await source.list()).map((step) => ({ ...step, upFile: gone })) };
    await expect(runStairway(migrator, { inspect: db, target: { session: db.owner, role: db.owner.role } })).rejects.toMatchObject({
      code: 'TENANTKIT_MIGRATIONS_UNREADABLE',
      object: gone,
    });
  });
});
