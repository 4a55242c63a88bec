import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { expect } from 'vitest';
import { DumpBlob } from '../src/backends/pglite/dump-blob.js';
import { type NativeServer, type NativeServerOptions, startNativeServer } from '../src/backends/native/native-server.js';
import type { TestDatabase } from '../src/database.js';
import { SHARED_SERVER_ENV } from '../src/kit.js';
import { runFullCycle, runStairway, type StairwayOptions } from '../src/migrations/check/stairway.js';
import type { Migrator } from '../src/migrations/migrator.js';
import type { QueryResult, Session } from '../src/queryable.js';

export const KIT_MIGRATIONS = fileURLToPath(new URL('./fixtures/kit-migrations', import.meta.url));
export const ACME = '00000000-0000-4000-8000-00000000000a';
export const GLOBEX = '00000000-0000-4000-8000-00000000000b';

// The tests choose their backend explicitly.
delete process.env.TENANTKIT_BACKEND;
process.env.TENANTKIT_QUIET ??= '1';

/** Starts one native server for a test file and lets every kit of the file attach to it. */
export async function shareNativeServer(options: NativeServerOptions = {}): Promise<NativeServer> {
  const server = await startNativeServer(options);
  process.env[SHARED_SERVER_ENV] = JSON.stringify({ kind: 'native', adminUrl: server.adminUrl });
  return server;
}

export async function stopSharedServer(server: NativeServer | undefined): Promise<void> {
  delete process.env[SHARED_SERVER_ENV];
  await server?.stop();
}

export async function seed(db: { query: (sql: string, params?: readonly unknown[]) => Promise<unknown> }): Promise<void> {
  await db.query(`INSERT INTO tenants (tenant_id, name) VALUES ($1, 'Acme'), ($2, 'Globex')`, [ACME, GLOBEX]);
  await db.query(`INSERT INTO documents (tenant_id, title) VALUES ($1, 'a1'), ($1, 'a2'), ($2, 'g1')`, [ACME, GLOBEX]);
}

/** The empty cluster the first `freshPglite()` of a test file made, dumped before anything ran in it. */
let emptyCluster: Blob | undefined;

/**
 * A new PGlite with an empty cluster. initdb runs once per test file; every later instance restores
 * its dump instead, which takes about a third of the time.
 */
export async function freshPglite(): Promise<PGlite> {
  const pg = new PGlite(emptyCluster ? { loadDataDir: emptyCluster } : {});
  await pg.waitReady;
  emptyCluster ??= new DumpBlob(await (await pg.dumpDataDir('none')).bytes());
  return pg;
}

/** A PGlite instance as the kit's migration sources see a connection. */
export function pgliteSession(pg: PGlite): Session {
  return {
    async query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const result = await pg.query<R>(sql, params === undefined ? undefined : [...params]);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await pg.exec(sql);
    },
  };
}

/** Where a tool source's migrations run in its tests: the database's owner, as the kit migrates. */
export function ownerTarget(db: TestDatabase): StairwayOptions['target'] {
  return { session: db.owner, role: db.owner.role, url: db.owner.url! };
}

/**
 * A set of three reversible migrations, each correct: every step passes the stairway, `current` follows
 * `down` to the first version and then to none, and the full cycle finds no difference.
 */
export async function expectCorrectSetCycles(migrator: Migrator, options: StairwayOptions, versions: { first: string; last: string }): Promise<void> {
  const report = await runStairway(migrator, options);
  expect(report.migrations.map((step) => [step.status, step.problems])).toEqual([
    ['pass', []],
    ['pass', []],
    ['pass', []],
  ]);
  expect(report.ok).toBe(true);
  expect(await migrator.current(options.target)).toBe(versions.last);
  await migrator.down(options.target, versions.first);
  expect(await migrator.current(options.target)).toBe(versions.first);
  await migrator.down(options.target);
  expect(await migrator.current(options.target)).toBeNull();
  expect(await runFullCycle(migrator, options)).toEqual([]);
}
