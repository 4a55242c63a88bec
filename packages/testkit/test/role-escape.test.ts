import { afterAll, afterEach, describe, expect, test } from 'vitest';
import type { IsolationMode } from '../src/config.js';
import { type Kit, startKit } from '../src/kit.js';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';

const SCHEMA = `
CREATE TABLE docs (doc_id serial PRIMARY KEY, tenant_id uuid NOT NULL, title text NOT NULL);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
ALTER TABLE docs FORCE ROW LEVEL SECURITY;
CREATE POLICY own ON docs USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE FUNCTION drop_role_locally() RETURNS void LANGUAGE plpgsql AS $$ BEGIN SET LOCAL ROLE NONE; END $$;
CREATE FUNCTION drop_role_by_config() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM set_config('role', 'none', true); END $$;
`;

/**
 * Ways tested code leaves the app role on PGlite's one superuser session without the literal text
 * the kit refuses up front: each ends in the statement's result being withheld and the test failing,
 * with the other tenant's rows never returned.
 */
const ESCAPES: { name: string; sql: string; read?: boolean }[] = [
  { name: "set_config('role', 'none', false) with a read in the same statement", sql: "SELECT set_config('role', 'none', false) AS r, (SELECT count(*) FROM docs) AS n", read: true },
  { name: 'EXECUTE RESET ROLE in a DO block', sql: "DO $$ BEGIN EXECUTE 'RESET ROLE'; END $$" },
  { name: 'EXECUTE SET ROLE postgres in a DO block', sql: "DO $$ BEGIN EXECUTE 'SET ROLE postgres'; END $$" },
  { name: 'SET LOCAL ROLE NONE inside a function', sql: 'SELECT drop_role_locally()' },
  { name: "set_config('role', 'none', true) inside a function", sql: 'SELECT drop_role_by_config()' },
  { name: "set_config('session_authorization', ...)", sql: "SELECT set_config('session_authorization', 'postgres', false)" },
  { name: 'a lower-case, commented set_config', sql: "select /* harmless */ SET_CONFIG ( 'role' , 'none' , false )" },
];

describe.each(['transaction', 'none'] as IsolationMode[])('PGlite (%s isolation): leaving the app role is caught after the statement', (isolation) => {
  const kits: Kit[] = [];
  // Each test's kit stops when the test ends: a PGlite instance holds ~190 MB, a native kit a server.
  afterEach(async () => {
    for (const kit of kits.splice(0)) await kit.stop();
  });

  test.each(ESCAPES)('$name', async ({ sql }) => {
    const kit = await startKit({ backend: 'pglite', schema: SCHEMA, isolation, poolSize: 0 });
    kits.push(kit);
    const db = await kit.acquire();
    await db.query(`INSERT INTO docs (tenant_id, title) VALUES ($1, 'mine'), ($2, 'theirs')`, [A, B]);
    const escaped = await db.app
      .withTenant(A, async (tx) => {
        await tx.query(sql).catch((error: unknown) => {
          // Tested code that swallows the error still fails the test at release.
          expect(error).toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE' });
        });
        return (await tx.query<{ title: string }>('SELECT title FROM docs ORDER BY title')).rows.map((row) => row.title);
      })
      .catch((error: unknown) => error);
    // Either the whole unit of work failed, or the kit put the role back before the next statement.
    if (Array.isArray(escaped)) expect(escaped).toEqual(['mine']);
    // As the app outside any tenant: nothing, whatever happened before.
    expect((await db.app.query('SELECT count(*)::int AS n FROM docs')).rows).toEqual([{ n: 0 }]);
    await expect(db.release()).rejects.toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE' });
  });

  test('the escaping statement is named in the error, and its rows are withheld', async () => {
    const kit = await startKit({ backend: 'pglite', schema: SCHEMA, isolation, poolSize: 0 });
    kits.push(kit);
    const db = await kit.acquire();
    await db.query(`INSERT INTO docs (tenant_id, title) VALUES ($1, 'mine'), ($2, 'theirs')`, [A, B]);
    const error = await db.app.query("SELECT set_config('role', 'none', false), (SELECT count(*) FROM docs) AS n").catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE' });
    expect((error as Error).message).toContain("set_config('role', 'none', false)");
    expect((error as Error).message).toContain('"postgres"');
    await expect(db.release()).rejects.toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE' });
  });

  test('a database never released whose code escaped fails kit.stop(), after everything is stopped', async () => {
    const kit = await startKit({ backend: 'pglite', schema: SCHEMA, isolation, poolSize: 0 });
    const db = await kit.acquire();
    await db.app.query("SELECT set_config('role', 'none', false)").catch(() => undefined);
    // The test forgot release(): stopping the kit is where the escape surfaces.
    await expect(kit.stop()).rejects.toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE' });
    await expect(async () => db.app.query('SELECT 1')).rejects.toMatchObject({ code: 'TENANTKIT_DATABASE_RELEASED' });
  });

  test('when stopping the backend fails as well, kit.stop() still throws the escape, naming the stop failure', async () => {
    const kit = await startKit({ backend: 'pglite', schema: SCHEMA, isolation, poolSize: 0 });
    const stopBackend = kit.backend.stop.bind(kit.backend);
    const stopFailure = new Error('the data directory vanished');
    kit.backend.stop = async () => {
      await stopBackend();
      throw stopFailure;
    };
    const db = await kit.acquire();
    await db.app.query("SELECT set_config('role', 'none', false)").catch(() => undefined);
    const error = await kit.stop().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE', suppressed: stopFailure });
    expect((error as Error).message).toMatch(/Stopping the pglite backend afterwards failed as well: the data directory vanished$/);
  });

  test('the owner identity is watched the same way; admin is not', async () => {
    const kit = await startKit({ backend: 'pglite', schema: SCHEMA, isolation, poolSize: 0 });
    kits.push(kit);
    const db = await kit.acquire();
    await expect(db.owner.query("DO $$ BEGIN EXECUTE 'RESET ROLE'; END $$")).rejects.toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE' });
    await expect(db.release()).rejects.toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE' });
    const next = await kit.acquire();
    await next.admin.query("DO $$ BEGIN EXECUTE 'SET ROLE postgres'; END $$");
    expect((await next.app.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u).toBe(next.app.role);
    await next.release();
  });
});

describe('native: the app role is a genuine login, and the same statements cannot leave it', () => {
  let kit: Kit | undefined;
  afterAll(async () => {
    await kit?.stop();
  });

  test.each(ESCAPES)('$name', async ({ sql }) => {
    kit ??= await startKit({ backend: 'native', schema: SCHEMA, poolSize: 0 });
    await using db = await kit.acquire();
    await db.query(`INSERT INTO docs (tenant_id, title) VALUES ($1, 'mine'), ($2, 'theirs')`, [A, B]);
    const titles = await db.app.withTenant(A, async (tx) => {
      await tx.query('SAVEPOINT s');
      // Refused by Postgres itself (permission denied), or a no-op for a login role (role none = itself).
      await tx.query(sql).catch(() => tx.query('ROLLBACK TO SAVEPOINT s'));
      const { rows } = await tx.query<{ u: string; title: string }>('SELECT current_user AS u, title FROM docs ORDER BY title');
      return rows.map((row) => `${row.u}:${row.title}`);
    });
    expect(titles).toEqual([`${db.app.role}:mine`]);
  });
});

describe('PGlite: a lone SET LOCAL ROLE to a role the app is a member of (a JWT context) is not an escape', () => {
  const kits: Kit[] = [];
  // Each test's kit stops when the test ends: a PGlite instance holds ~190 MB, a native kit a server.
  afterEach(async () => {
    for (const kit of kits.splice(0)) await kit.stop();
  });
  const MEMBER = `${SCHEMA}
CREATE ROLE authenticated NOLOGIN;
CREATE ROLE stranger NOLOGIN;
CREATE ROLE bypasser NOLOGIN BYPASSRLS;
GRANT authenticated, bypasser TO tk_app;
GRANT SELECT ON docs TO authenticated, stranger, bypasser;`;

  test('to a member role that obeys RLS: allowed, and the policies still apply', async () => {
    const kit = await startKit({ backend: 'pglite', schema: MEMBER, poolSize: 0, roles: { migrateAs: 'admin' } });
    kits.push(kit);
    const db = await kit.acquire();
    await db.query(`INSERT INTO docs (tenant_id, title) VALUES ($1, 'mine'), ($2, 'theirs')`, [A, B]);
    const seen = await db.app.withTenant(A, async (tx) => {
      await tx.query('SET LOCAL ROLE authenticated');
      const who = (await tx.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
      return [who, ...(await tx.query<{ title: string }>('SELECT title FROM docs')).rows.map((row) => row.title)];
    });
    expect(seen).toEqual(['authenticated', 'mine']);
    await db.release();
  });

  test.each([
    ['a role the app is not a member of', 'stranger'],
    ['a BYPASSRLS role the app is a member of', 'bypasser'],
    ['the superuser', 'postgres'],
  ])('to %s: an escape', async (_name, role) => {
    const kit = await startKit({ backend: 'pglite', schema: MEMBER, poolSize: 0, roles: { migrateAs: 'admin' } });
    kits.push(kit);
    const db = await kit.acquire();
    await db.query(`INSERT INTO docs (tenant_id, title) VALUES ($1, 'mine'), ($2, 'theirs')`, [A, B]);
    const result = await db.app.withTenant(A, (tx) => tx.query(`SET LOCAL ROLE ${role}`)).catch((error: unknown) => error);
    expect(result).toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE' });
    await expect(db.release()).rejects.toMatchObject({ code: 'TENANTKIT_ROLE_ESCAPE' });
  });
});
