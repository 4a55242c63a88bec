import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BackendKind } from '../src/config.js';
import { COVERAGE_ENV, type CoverageDatabaseLine, type CoverageStatementLine, readCoverageRecords } from '../src/coverage/coverage-file.js';
import { type Kit, startKit } from '../src/kit.js';
import type { NativeServer } from '../src/backends/native/native-server.js';
import type { TestDatabase } from '../src/database.js';
import { shareNativeServer, stopSharedServer } from './helpers.js';

const ACME = '00000000-0000-4000-8000-00000000000a';
const GLOBEX = '00000000-0000-4000-8000-00000000000b';
const TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid";

const SETUP = `DO $$ BEGIN CREATE ROLE coverage_auditor NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;`;
const SCHEMA = `
CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE documents (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, title text NOT NULL);
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY documents_tenant ON documents USING (tenant_id = ${TENANT});
CREATE POLICY documents_audit ON documents FOR SELECT TO coverage_auditor USING (true);
CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, body text NOT NULL);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY notes_read ON notes FOR SELECT USING (tenant_id = ${TENANT});
CREATE POLICY notes_write ON notes FOR INSERT WITH CHECK (tenant_id = ${TENANT});
CREATE POLICY notes_change ON notes FOR UPDATE USING (tenant_id = ${TENANT});
CREATE POLICY notes_remove ON notes FOR DELETE USING (tenant_id = ${TENANT});
CREATE TABLE events (tenant_id uuid NOT NULL, kind text NOT NULL) PARTITION BY LIST (kind);
CREATE TABLE events_login PARTITION OF events FOR VALUES IN ('login');
CREATE TABLE events_other PARTITION OF events DEFAULT;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_tenant ON events USING (tenant_id = ${TENANT});
`;

async function seed(db: TestDatabase): Promise<void> {
  await db.query(`INSERT INTO tenants VALUES ($1, 'Acme'), ($2, 'Globex')`, [ACME, GLOBEX]);
  await db.query(`INSERT INTO documents (tenant_id, title) VALUES ($1, 'a1'), ($2, 'g1')`, [ACME, GLOBEX]);
  await db.query(`INSERT INTO notes (tenant_id, body) VALUES ($1, 'a'), ($2, 'g')`, [ACME, GLOBEX]);
}

/** What a test sees from a fixed series of statements: rows, row counts and error codes. */
async function scenario(db: TestDatabase): Promise<unknown[]> {
  const seen: unknown[] = [];
  const code = (error: unknown) => (error as { code?: string }).code ?? String(error);
  await seed(db);
  await db.app.withTenant(ACME, async (tx) => {
    seen.push((await tx.query('SELECT title FROM documents ORDER BY title')).rows);
    seen.push((await tx.query(`WITH changed AS (UPDATE notes SET body = 'x' RETURNING id) SELECT count(*)::int AS n FROM changed`)).rows);
    seen.push((await tx.query(`INSERT INTO events (tenant_id, kind) VALUES ($1, 'login')`, [ACME])).rowCount);
    seen.push((await tx.query(`SELECT count(*)::int AS n FROM events`)).rows);
  });
  // A statement EXPLAIN refuses, inside a transaction: the test still sees the statement's own error.
  seen.push(
    await db.app
      .withTenant(ACME, async (tx) => {
        await tx.query('SELECT * FROM no_such_table');
      })
      .catch(code),
  );
  seen.push(await db.app.withTenant(ACME, (tx) => tx.exec(`SELECT 1; SELECT 2`)));
  seen.push(await db.app.withTenant(ACME, (tx) => tx.query('TRUNCATE notes')).catch(code));
  // The app role without a tenant context, and the admin: not coverage.
  seen.push((await db.app.query('SELECT count(*)::int AS n FROM notes')).rows);
  seen.push((await db.query('DELETE FROM notes WHERE tenant_id = $1', [GLOBEX])).rowCount);
  return seen;
}

const backends: { kind: BackendKind }[] = [{ kind: 'pglite' }, { kind: 'native' }];

describe.each(backends)('policy coverage recording on $kind', ({ kind }) => {
  let server: NativeServer | undefined;
  let kit: Kit;
  let dir: string;

  beforeAll(async () => {
    if (kind === 'native') server = await shareNativeServer();
    kit = await startKit({ backend: kind, schema: SCHEMA, setup: SETUP });
    dir = await mkdtemp(join(tmpdir(), 'tenantkit-coverage-'));
  });
  afterAll(async () => {
    delete process.env[COVERAGE_ENV];
    await kit?.stop();
    await stopSharedServer(server);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('records tables x commands and the policies that applied, only for the app role with a tenant context, without changing results', async () => {
    delete process.env[COVERAGE_ENV];
    const plain = await kit.acquire();
    const without = await scenario(plain);
    await plain.release();
    expect(readCoverageRecords(dir).lines).toEqual([]);

    process.env[COVERAGE_ENV] = dir;
    const recorded = await kit.acquire();
    const withRecording = await scenario(recorded);
    await recorded.release();
    delete process.env[COVERAGE_ENV];

    expect(withRecording).toEqual(without);
    expect(without[4]).toBe('42P01');
    expect(without[6]).toBe('42501');

    const { lines, unreadable } = readCoverageRecords(dir);
    expect(unreadable).toEqual([]);
    const statements = lines.filter((line): line is CoverageStatementLine => line.kind === 'statement');
    const touched = statements.flatMap((line) => line.touches.map((touch) => `${touch.table} ${touch.command} [${touch.policies.join(',')}]`));
    expect(touched.sort()).toEqual(
      [
        // The policy TO coverage_auditor applies to another role: not among those exercised.
        'public.documents SELECT [documents_tenant]',
        // The UPDATE in a CTE counts for notes; its scan of notes is part of the UPDATE.
        'public.notes UPDATE [notes_change]',
        // A partitioned table is counted as itself, with its own policies, whichever partition the rows are in.
        'public.events INSERT [events_tenant]',
        'public.events SELECT [events_tenant]',
      ].sort(),
    );
    expect(statements.every((line) => line.role === 'tk_app')).toBe(true);
    const notAnalysed = statements.filter((line) => !line.analysed).map((line) => line.reason);
    expect(notAnalysed).toEqual([
      expect.stringMatching(/^EXPLAIN refused it: 42P01 /),
      '2 statements in one string (EXPLAIN takes one)',
    ]);
    // A TRUNCATE attempt (refused here: no privilege) names its table as Postgres resolves it.
    expect(statements.flatMap((line) => line.truncates ?? [])).toEqual(['public.notes']);
    const database = lines.find((line): line is CoverageDatabaseLine => line.kind === 'database');
    expect(database).toMatchObject({ appRole: 'tk_app', tenantSetting: 'app.tenant_id' });
    // The seeding and the DELETE as admin, and the count without a tenant context, are counted apart.
    expect(database?.statements).toMatchObject({ admin: 4, owner: 0, appWithContext: 7, appWithoutContext: 1 });
    expect(database?.overheadMicros).toBeGreaterThan(0);
  });

  test('the rows an UPDATE or DELETE changes are part of it; a second reference to the same table is a read', async () => {
    const file = join(dir, 'targets.jsonl');
    process.env[COVERAGE_ENV] = file;
    const touched: string[][] = [];
    try {
      const db = await kit.acquire();
      await seed(db);
      await db.app.withTenant(ACME, async (tx) => {
        await tx.query(`INSERT INTO events (tenant_id, kind) VALUES ($1, 'login'), ($1, 'logout')`, [ACME]);
        await tx.query(`UPDATE events SET kind = kind WHERE tenant_id = $1`, [ACME]);
        await tx.query(`UPDATE documents d SET title = other.title FROM documents other WHERE other.id = d.id`);
        await tx.query(`DELETE FROM notes WHERE id IN (SELECT id FROM notes WHERE body = 'none')`);
      });
      await db.release();
    } finally {
      delete process.env[COVERAGE_ENV];
    }
    for (const line of readCoverageRecords(file).lines) {
      if (line.kind === 'statement') touched.push(line.touches.map((touch) => `${touch.table} ${touch.command}`).sort());
    }
    expect(touched).toEqual([
      ['public.events INSERT'],
      // Partitions scanned for the UPDATE of their partitioned table are that UPDATE.
      ['public.events UPDATE'],
      ['public.documents SELECT', 'public.documents UPDATE'],
      ['public.notes DELETE', 'public.notes SELECT'],
    ]);
  });

  test('a transaction the tested code opens itself, with its own SET LOCAL, is a tenant context too', async () => {
    const file = join(dir, 'own-transaction.jsonl');
    process.env[COVERAGE_ENV] = file;
    try {
      const db = await kit.acquire();
      await seed(db);
      await db.app.query('BEGIN');
      await db.app.query(`SELECT set_config('app.tenant_id', $1, true)`, [GLOBEX]);
      const { rows } = await db.app.query<{ body: string }>('DELETE FROM notes RETURNING body');
      await db.app.query('COMMIT');
      expect(rows).toEqual([{ body: 'g' }]);
      await db.release();
    } finally {
      delete process.env[COVERAGE_ENV];
    }
    const statements = readCoverageRecords(file).lines.filter((line): line is CoverageStatementLine => line.kind === 'statement');
    expect(statements.flatMap((line) => line.touches)).toEqual([{ table: 'public.notes', command: 'DELETE', rls: true, policies: ['notes_remove'] }]);
  });
});
