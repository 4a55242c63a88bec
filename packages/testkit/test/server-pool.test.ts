import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { type NativeServer, startNativeServer } from '../src/backends/native/native-server.js';
import { ServerEngine } from '../src/backends/server/server-engine.js';
import { SHARED_SERVER_ENV, startKit } from '../src/kit.js';
import { globalSetup } from '../src/vitest/config.js';
import { connectPg } from '../src/session/pg-session.js';
import { KIT_MIGRATIONS } from './helpers.js';

/**
 * The pool of database isolation: a test that finds no clone ready waits for the one furthest along
 * instead of making its own, drops never delay it, nothing is left on the server, and when tests
 * outrun the pool the kit says so at stop.
 */
describe('the clone pool on a server', () => {
  let server: NativeServer;
  beforeAll(async () => {
    server = await startNativeServer();
    process.env[SHARED_SERVER_ENV] = JSON.stringify({ kind: 'native', adminUrl: server.adminUrl });
  }, 120_000);
  afterAll(async () => {
    delete process.env[SHARED_SERVER_ENV];
    await server?.stop();
  });

  test('a burst of tests faster than clones takes the clones in the order they were started, and the kit tells', async () => {
    const said: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      said.push(String(chunk));
      return true;
    });
    const quiet = process.env.TENANTKIT_QUIET;
    process.env.TENANTKIT_QUIET = '0';
    try {
      const kit = await startKit({ backend: 'native', migrations: KIT_MIGRATIONS, isolation: 'database', poolSize: 2 });
      const engine = kit.backend as ServerEngine;
      try {
        // A burst of eight tests that start together, as concurrent tests do: the pool holds two, so
        // at least six wait for a clone whatever the machine's speed.
        const databases = await Promise.all(Array.from({ length: 8 }, () => kit.acquire()));
        const names = databases.map((db) => db.name);
        for (const [i, db] of databases.entries()) {
          // Each database is a fresh clone: what another test wrote is not there.
          const { rows } = await db.admin.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants');
          expect(rows[0]!.n).toBe(0);
          await db.admin.query(`INSERT INTO tenants (tenant_id, name) VALUES (gen_random_uuid(), 't${i}')`);
          await db.release();
        }
        const sequence = names.map((name) => Number(/_(\d+)$/.exec(name)![1]));
        // Clone n of the run went to test n: no test made a clone of its own beside the pool's.
        expect(sequence).toEqual(sequence.map((_, i) => sequence[0]! + i));
        const stats = [...engine.poolStats().values()][0]!;
        expect(stats.acquired).toBe(8);
        expect(stats.waited).toBeGreaterThanOrEqual(6);
      } finally {
        await kit.stop();
      }
      expect(await clonesOf(engine.runId)).toEqual([]);
      expect(said.join('')).toMatch(/tenantkit: \d+ of 8 tests waited for a clone of tk_tpl_\w+ \(median \d+ ms\): they ran faster than clones are made with poolSize 2\./);
    } finally {
      write.mockRestore();
      if (quiet === undefined) delete process.env.TENANTKIT_QUIET;
      else process.env.TENANTKIT_QUIET = quiet;
    }
  }, 120_000);

  test('a suite whose tests take longer than a clone never waits for one', async () => {
    const kit = await startKit({ backend: 'native', migrations: KIT_MIGRATIONS, isolation: 'database', poolSize: 2 });
    const engine = kit.backend as ServerEngine;
    try {
      for (let i = 0; i < 4; i++) {
        await engine.warm(kit.template, { quiet: true });
        const db = await kit.acquire();
        await db.query('SELECT 1');
        await db.release();
      }
      const stats = [...engine.poolStats().values()][0]!;
      expect(stats).toMatchObject({ acquired: 4, waited: 0 });
    } finally {
      await kit.stop();
    }
    expect(await clonesOf(engine.runId)).toEqual([]);
  }, 120_000);

  test("a vitest run handed a server (as tenantkit mutate hands one) builds its template there, starts none and leaves it running", async () => {
    const handed = process.env[SHARED_SERVER_ENV];
    const teardown = await globalSetup({ backend: 'native', migrations: KIT_MIGRATIONS, tenant: { setting: 'app.handed' } })();
    expect(process.env[SHARED_SERVER_ENV]).toBe(handed);
    await teardown();
    expect(process.env[SHARED_SERVER_ENV]).toBe(handed);
    const admin = await connectPg(server.adminUrl, 'pool test');
    try {
      const { rows } = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'tk\\_tpl\\_%'`);
      expect(rows[0]!.n).toBeGreaterThan(0);
    } finally {
      await admin.close();
    }
  }, 120_000);

  /** The databases of a kit's run still on the server, read after the kit stopped. */
  async function clonesOf(runId: string): Promise<string[]> {
    const admin = await connectPg(server.adminUrl, 'pool test');
    try {
      const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1`, [`tk\\_${runId}\\_%`]);
      return rows.map((row) => row.datname);
    } finally {
      await admin.close();
    }
  }
});
