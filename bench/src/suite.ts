// The same realistic 200-test suite run end to end by the kit (native database and transaction
// isolation, PGlite), by pgsql-test the way its README shows, and by migrating a fresh database per
// test; side by side in rounds of one run, on one already running server (as a vitest run's global
// setup gives every test file).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import {
  type KitOptions,
  type NativeServer,
  type QueryResult,
  type Session,
  type TestDatabase,
  quoteIdent,
  quoteLiteral,
  sqlDirectory,
  startKit,
  startNativeServer,
} from '@tenantkit/testkit';
import { ServerEngine, dropTemplateDatabase } from '@tenantkit/testkit/internal';
import pg from 'pg';
import { type Stat, type Target, line, ratio, round, samples as sampleCount, stat, target } from './stats.ts';

// pgsql-test reads PG* variables over its options; the bench passes every connection setting itself.
for (const name of ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE']) delete process.env[name];
// Its logger prints a line per client and database at the default level; the table is the output here.
process.env.LOG_LEVEL ??= 'error';
// pgsql-test runs createdb and psql; the server's own binaries have neither, PostgreSQL 15's clients do.
const CLIENT_BIN = process.env.BENCH_PG_CLIENT_BIN ?? '/usr/lib/postgresql/15/bin';
process.env.PATH = `${CLIENT_BIN}${delimiter}${process.env.PATH ?? ''}`;
const { getConnections, seed } = await import('pgsql-test');
type PgTestClient = Awaited<ReturnType<typeof getConnections>>['db'];

const TESTS = sampleCount(200, 20);
const ROUNDS = sampleCount(5, 1);
/** Migrating a database per test is slow: this many tests per sample, scaled to TESTS. */
const NAIVE_TESTS = sampleCount(20, 4);
/** pgsql-test per-file setups timed on their own each round, beside the one inside its suite. */
const SETUP_EXTRA = sampleCount(4, 1);
/** Raw clones timed on the server after each database-isolation suite. */
const RAW_PER_ROUND = sampleCount(5, 2);

export interface SuiteInput {
  /** The bench schema plus the suite's documents table. */
  readonly migrationsDir: string;
  readonly cacheDir: string;
}

// ---- the test body every runner executes --------------------------------------------------------

type Query = <R = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<QueryResult<R>>;

/** How one runner reaches the database of the current test as its admin and as the app. */
interface TestTarget {
  /** As the app role with no tenant context. */
  readonly app: Query;
  /** As an identity that RLS does not filter, for setup. */
  readonly admin: Query;
  /** As the app role inside one tenant's context (what a request of the application does). */
  withTenant<T>(tenant: string, fn: (query: Query) => Promise<T>): Promise<T>;
}

function expectThat(condition: boolean, what: string): void {
  if (!condition) throw new Error(`suite test failed: ${what}`);
}

/**
 * One test: the app sees nothing outside a tenant context (the app role's first statement, which
 * ends the "ready" interval), rows for two tenants written as admin (2 tenants x 3 documents), then
 * as the app in tenant A: list its own documents, read tenant B's document by id, rename its own.
 */
async function runTest(target: TestTarget, index: number, appReady?: () => void): Promise<void> {
  const hidden = await target.app<{ n: number }>('SELECT count(*)::int AS n FROM documents');
  appReady?.();
  expectThat(Number(hidden.rows[0]?.n) === 0, `test ${index}: the app saw ${hidden.rows[0]?.n} document(s) without a tenant context`);

  const tenants = await target.admin<{ tenant_id: string }>('INSERT INTO tenants (name) VALUES ($1), ($2) RETURNING tenant_id', [`acme ${index}`, `globex ${index}`]);
  const [own, other] = tenants.rows.map((row) => row.tenant_id);
  expectThat(own !== undefined && other !== undefined, `test ${index}: two tenants inserted`);
  const documents = await target.admin<{ id: string | number; tenant_id: string }>(
    `INSERT INTO documents (tenant_id, title)
     SELECT t.tenant_id, 'document ' || n FROM (VALUES ($1::uuid), ($2::uuid)) AS t (tenant_id), generate_series(1, 3) AS n
     RETURNING id, tenant_id`,
    [own, other],
  );
  const ownDocument = documents.rows.find((row) => row.tenant_id === own)?.id;
  const otherDocument = documents.rows.find((row) => row.tenant_id === other)?.id;
  expectThat(documents.rows.length === 6 && ownDocument !== undefined && otherDocument !== undefined, `test ${index}: six documents inserted`);

  await target.withTenant(own!, async (query) => {
    const mine = await query('SELECT id, title FROM documents ORDER BY id');
    expectThat(mine.rows.length === 3, `test ${index}: tenant A lists ${mine.rows.length} document(s), not 3`);
    const theirs = await query('SELECT id, title FROM documents WHERE id = $1', [otherDocument]);
    expectThat(theirs.rows.length === 0, `test ${index}: tenant A read tenant B's document`);
    const renamed = await query('UPDATE documents SET title = $2 WHERE id = $1', [ownDocument, `renamed ${index}`]);
    expectThat(renamed.rowCount === 1, `test ${index}: tenant A renamed ${renamed.rowCount} document(s), not 1`);
  });
}

function kitTarget(db: TestDatabase): TestTarget {
  return {
    app: (sql, params) => db.app.query(sql, params),
    admin: (sql, params) => db.admin.query(sql, params),
    withTenant: (tenant, fn) => db.app.withTenant(tenant, (tx) => fn((sql, params) => tx.query(sql, params))),
  };
}

function pgResult<R>(result: pg.QueryResult): QueryResult<R> {
  return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
}

/**
 * pgsql-test's way: one app connection whose role and settings setContext() applies with SET LOCAL
 * before each query, inside the transaction its beforeEach opened. Setup rows are written through it
 * as `administrator` (BYPASSRLS): the superuser client runs its own transaction, whose uncommitted
 * rows the app connection would not see.
 */
function pgsqlTestTarget(db: PgTestClient): TestTarget {
  return {
    app: async (sql, params) => {
      db.setContext({ role: 'authenticated', 'app.tenant_id': '' });
      return pgResult(await db.query(sql, params as unknown[]));
    },
    admin: async (sql, params) => {
      db.setContext({ role: 'administrator' });
      return pgResult(await db.query(sql, params as unknown[]));
    },
    withTenant: (tenant, fn) => {
      db.setContext({ role: 'authenticated', 'app.tenant_id': tenant });
      return fn(async (sql, params) => pgResult(await db.query(sql, params as unknown[])));
    },
  };
}

/** Two plain connections to a freshly migrated database: the admin's and the app role's. */
function naiveTarget(admin: pg.Client, app: pg.Client): TestTarget {
  const on = (client: pg.Client): Query => async (sql, params) => pgResult(await client.query(sql, params as unknown[]));
  return {
    app: on(app),
    admin: on(admin),
    withTenant: async (tenant, fn) => {
      await app.query('BEGIN');
      try {
        await app.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenant]);
        const result = await fn(on(app));
        await app.query('COMMIT');
        return result;
      } catch (error) {
        await app.query('ROLLBACK').catch(() => {});
        throw error;
      }
    },
  };
}

// ---- runners --------------------------------------------------------------------------------------

interface KitSuite {
  totalMs: number;
  startMs: number;
  testsMs: number;
  stopMs: number;
  /** Per test: kit.acquire() returning. */
  acquireCall: number[];
  /** Per test: kit.acquire() to the app role's first result. */
  acquireReady: number[];
  /** Per test: db.release() (checks, connections closed, the drop handed to the background). */
  release: number[];
  /** Per test: acquire to release resolved. */
  perTest: number[];
  rawCreateDb: number[];
  /** A new connection's login and first result, on the same server. */
  rawLogin: number[];
  serverVersion: string;
}

async function kitSuite(input: SuiteInput, options: KitOptions, rawClones: number, sharedAdminUrl?: string): Promise<KitSuite> {
  const startedAt = performance.now();
  const kit = await startKit({ ...options, migrations: input.migrationsDir, ...(options.backend === 'pglite' ? { cacheDir: input.cacheDir } : {}) });
  const startMs = performance.now() - startedAt;
  const acquireCall: number[] = [];
  const acquireReady: number[] = [];
  const release: number[] = [];
  const perTest: number[] = [];
  const rawCreateDb: number[] = [];
  const rawLogin: number[] = [];
  let testsMs = 0;
  let stopMs = 0;
  try {
    const testsStart = performance.now();
    for (let i = 0; i < TESTS; i++) {
      const asked = performance.now();
      const db = await kit.acquire();
      const acquired = performance.now();
      let ready = Number.NaN;
      let failed = true;
      let releasing = Number.NaN;
      try {
        await runTest(kitTarget(db), i, () => (ready = performance.now()));
        failed = false;
      } finally {
        releasing = performance.now();
        await db.release({ failed });
      }
      const released = performance.now();
      acquireCall.push(acquired - asked);
      acquireReady.push(ready - asked);
      release.push(released - releasing);
      perTest.push(released - asked);
    }
    const backend = kit.backend;
    // Drops and refills still running belong to the suite (stop() would wait for them).
    if (backend instanceof ServerEngine) await backend.idle();
    testsMs = performance.now() - testsStart;
    if (rawClones > 0) {
      if (!(backend instanceof ServerEngine)) throw new Error('raw clones need a server backend');
      rawCreateDb.push(...(await timeRawClones(backend.adminUrl, kit.template.name, rawClones)));
      rawLogin.push(...(await timeLogins(backend.adminUrl, rawClones)));
    }
  } finally {
    const stopping = performance.now();
    await kit.stop();
    stopMs = performance.now() - stopping;
  }
  // On the shared server the template outlives the kit; dropped, so the next suite builds its own.
  if (sharedAdminUrl) await dropTemplateDatabase(sharedAdminUrl, kit.template.key, 'tenantkit bench');
  return { totalMs: startMs + testsMs + stopMs, startMs, testsMs, stopMs, acquireCall, acquireReady, release, perTest, rawCreateDb, rawLogin, serverVersion: kit.backend.serverVersion };
}

/** CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY on the kit's own server, each dropped after. */
async function timeRawClones(adminUrl: string, template: string, count: number): Promise<number[]> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const samples: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const name = `bench_raw_${i}`;
      const startedAt = performance.now();
      await admin.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template)} STRATEGY FILE_COPY`);
      samples.push(performance.now() - startedAt);
      await admin.query(`DROP DATABASE ${quoteIdent(name)}`);
    }
  } finally {
    await admin.end();
  }
  return samples;
}

/** pg.Client connect (TCP, scram-sha-256) and SELECT 1, as the admin, to the postgres database. */
async function timeLogins(adminUrl: string, count: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const startedAt = performance.now();
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query('SELECT 1');
    samples.push(performance.now() - startedAt);
    await client.end();
  }
  return samples;
}

/** The peer's server: started like the kit's native one (same binaries, same settings). */
interface PeerServer {
  readonly server: NativeServer;
  readonly naiveApp: { readonly role: string; readonly password: string };
}

const GRANTS = (roles: string) => `GRANT USAGE ON SCHEMA public TO ${roles};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${roles};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${roles};`;

async function startPeerServer(): Promise<PeerServer> {
  const server = await startNativeServer();
  const naiveApp = { role: 'naive_app', password: randomBytes(18).toString('base64url') };
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    // What `pgpm admin-users bootstrap` makes once per server: the roles pgsql-test's clients switch to.
    await admin.query(`CREATE ROLE anonymous NOLOGIN NOBYPASSRLS;
CREATE ROLE authenticated NOLOGIN NOBYPASSRLS;
CREATE ROLE administrator NOLOGIN BYPASSRLS;
CREATE ROLE ${quoteIdent(naiveApp.role)} LOGIN NOBYPASSRLS PASSWORD ${quoteLiteral(naiveApp.password)};`);
  } finally {
    await admin.end();
  }
  return { server, naiveApp };
}

interface PeerSuite {
  totalMs: number;
  setupMs: number;
  testsMs: number;
  teardownMs: number;
  perTest: number[];
}

/** One test file of pgsql-test: getConnections with the migrations as SQL seed files, a savepoint per test, teardown. */
async function pgsqlTestSuite(peer: PeerServer, upFiles: readonly string[], tests: number): Promise<PeerSuite> {
  const { server } = peer;
  const startedAt = performance.now();
  const { db, teardown } = await getConnections(
    { pg: { host: server.host, port: server.port, user: server.adminUser, password: server.adminPassword } },
    [
      seed.sqlfile([...upFiles]),
      seed.fn(async ({ pg: superuser }) => {
        await superuser.query(GRANTS('authenticated, administrator'));
      }),
    ],
  );
  const setupMs = performance.now() - startedAt;
  const perTest: number[] = [];
  let testsMs = 0;
  let teardownMs = 0;
  try {
    const testsStart = performance.now();
    for (let i = 0; i < tests; i++) {
      const testStart = performance.now();
      await db.beforeEach();
      try {
        await runTest(pgsqlTestTarget(db), i);
      } finally {
        await db.afterEach();
      }
      perTest.push(performance.now() - testStart);
    }
    testsMs = performance.now() - testsStart;
  } finally {
    const tearingDown = performance.now();
    await teardown();
    teardownMs = performance.now() - tearingDown;
  }
  return { totalMs: setupMs + testsMs + teardownMs, setupMs, testsMs, teardownMs, perTest };
}

function databaseUrl(adminUrl: string, database: string, credentials?: { role: string; password: string }): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  if (credentials) {
    url.username = encodeURIComponent(credentials.role);
    url.password = encodeURIComponent(credentials.password);
  }
  return url.toString();
}

function pgSession(client: pg.Client): Session {
  return {
    query: async <R,>(sql: string, params?: readonly unknown[]) => pgResult<R>(await client.query(sql, params as unknown[])),
    exec: async (sql: string) => void (await client.query(sql)),
  };
}

/** Per test: CREATE DATABASE, every migration, grants, the test, DROP DATABASE. */
async function naiveSuite(peer: PeerServer, migrationsDir: string, tests: number, sample: number): Promise<number> {
  const { server, naiveApp } = peer;
  const migrator = sqlDirectory(migrationsDir);
  const control = new pg.Client({ connectionString: server.adminUrl });
  await control.connect();
  try {
    const startedAt = performance.now();
    for (let i = 0; i < tests; i++) {
      const name = `naive_${sample}_${i}`;
      await control.query(`CREATE DATABASE ${quoteIdent(name)}`);
      const admin = new pg.Client({ connectionString: databaseUrl(server.adminUrl, name) });
      const app = new pg.Client({ connectionString: databaseUrl(server.adminUrl, name, naiveApp) });
      try {
        await admin.connect();
        await migrator.up({ session: pgSession(admin), role: server.adminUser });
        await admin.query(GRANTS(quoteIdent(naiveApp.role)));
        await app.connect();
        await runTest(naiveTarget(admin, app), i);
      } finally {
        await admin.end().catch(() => {});
        await app.end().catch(() => {});
        await control.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
      }
    }
    return performance.now() - startedAt;
  } finally {
    await control.end();
  }
}

// ---- the run ----------------------------------------------------------------------------------

/** Runs kit.acquire() ... with the vitest global setup's shared native server in the environment. */
async function onSharedServer<T>(adminUrl: string, fn: () => Promise<T>): Promise<T> {
  const previous = process.env.TENANTKIT_SHARED_SERVER;
  process.env.TENANTKIT_SHARED_SERVER = JSON.stringify({ kind: 'native', adminUrl });
  try {
    return await fn();
  } finally {
    if (previous === undefined) delete process.env.TENANTKIT_SHARED_SERVER;
    else process.env.TENANTKIT_SHARED_SERVER = previous;
  }
}

export async function measureSuite(input: SuiteInput) {
  const upFiles = (await readdir(input.migrationsDir))
    .filter((name) => name.endsWith('.up.sql'))
    .sort()
    .map((name) => join(input.migrationsDir, name));
  const samples = {
    kitNativeDatabase: [] as KitSuite[],
    kitNativeTransaction: [] as KitSuite[],
    kitPglite: [] as KitSuite[],
    pgsqlTest: [] as PeerSuite[],
    naiveScaledMs: [] as number[],
    pgsqlTestSetupMs: [] as number[],
  };
  let kitPgliteColdMs = Number.NaN;
  const peer = await startPeerServer();
  const peerVersion = `PostgreSQL ${peer.server.version}`;
  const adminUrl = peer.server.adminUrl;
  try {
    // The first PGlite start builds its snapshot; a suite is run again and again on a warm cache.
    kitPgliteColdMs = (await kitSuite(input, { backend: 'pglite' }, 0)).totalMs;
    const runners: (() => Promise<void>)[] = [
      async () => void samples.kitNativeDatabase.push(await onSharedServer(adminUrl, () => kitSuite(input, { backend: 'native', isolation: 'database' }, RAW_PER_ROUND, adminUrl))),
      async () => void samples.kitNativeTransaction.push(await onSharedServer(adminUrl, () => kitSuite(input, { backend: 'native', isolation: 'transaction' }, 0, adminUrl))),
      async () => void samples.kitPglite.push(await kitSuite(input, { backend: 'pglite' }, 0)),
      async () => {
        const suite = await pgsqlTestSuite(peer, upFiles, TESTS);
        samples.pgsqlTest.push(suite);
        samples.pgsqlTestSetupMs.push(suite.setupMs);
      },
      async () => void samples.naiveScaledMs.push(((await naiveSuite(peer, input.migrationsDir, NAIVE_TESTS, samples.naiveScaledMs.length)) * TESTS) / NAIVE_TESTS),
    ];
    for (let r = 0; r < ROUNDS; r++) {
      // Rotated each round, so no runner always follows the same one on a shared machine.
      for (let k = 0; k < runners.length; k++) await runners[(r + k) % runners.length]!();
      for (let k = 0; k < SETUP_EXTRA; k++) samples.pgsqlTestSetupMs.push((await pgsqlTestSuite(peer, upFiles, 0)).setupMs);
      process.stderr.write(`suite: round ${r + 1}/${ROUNDS} done\n`);
    }
  } finally {
    await peer.server.stop();
  }

  const suiteStat = (suites: readonly { totalMs: number }[]) => stat(suites.map((suite) => suite.totalMs));
  const all = <T,>(suites: readonly T[], pick: (suite: T) => readonly number[]) => suites.flatMap((suite) => [...pick(suite)]);
  const suite = {
    kitNativeDatabaseMs: suiteStat(samples.kitNativeDatabase),
    kitNativeTransactionMs: suiteStat(samples.kitNativeTransaction),
    kitPgliteMs: suiteStat(samples.kitPglite),
    pgsqlTestMs: suiteStat(samples.pgsqlTest),
    naiveMigratePerTestMs: stat(samples.naiveScaledMs),
  };
  const acquireCall = all(samples.kitNativeDatabase, (s) => s.acquireCall);
  const acquireReady = stat(all(samples.kitNativeDatabase, (s) => s.acquireReady));
  const acquireCallStat = stat(acquireCall);
  // The app role's first statement alone: on a database fresh from the pool, its login.
  const appFirstQuery = stat(all(samples.kitNativeDatabase, (s) => s.acquireReady.map((ms, i) => ms - s.acquireCall[i]!)));
  const rawCreateDb = stat(all(samples.kitNativeDatabase, (s) => s.rawCreateDb));
  const rawLogin = stat(all(samples.kitNativeDatabase, (s) => s.rawLogin));
  // A test waited for the pool when acquire() took longer than half a raw clone: a pop from the ready
  // list is well under a millisecond, an empty pool makes acquire() wait for a clone.
  const poolEmptyWaits = acquireCall.filter((ms) => ms > rawCreateDb.p50 / 2).length;
  const pgsqlTestSetup = stat(samples.pgsqlTestSetupMs);
  const pgsqlTestPerTest = stat(all(samples.pgsqlTest, (s) => s.perTest));
  const targets: Target[] = [
    target('suite.kitNativeTransaction / suite.pgsqlTest', ratio(suite.kitNativeTransactionMs.p50, suite.pgsqlTestMs.p50), '<=', 1),
    target('suite.kitNativeDatabase / suite.pgsqlTest', ratio(suite.kitNativeDatabaseMs.p50, suite.pgsqlTestMs.p50), '<=', 1.5),
    target('suite.kitPglite / suite.pgsqlTest', ratio(suite.kitPgliteMs.p50, suite.pgsqlTestMs.p50), '<=', 2),
    target('suite.naiveMigratePerTest / suite.kitNativeDatabase', ratio(suite.naiveMigratePerTestMs.p50, suite.kitNativeDatabaseMs.p50), '>=', 10),
    target('peer.pgsqlTestSetup / server.acquireReady', ratio(pgsqlTestSetup.p50, acquireReady.p50), '>=', 50),
    target('server.acquireReady / server.rawCreateDb', ratio(acquireReady.p50, rawCreateDb.p50), '<=', 0.25),
  ];
  const breakdown = (suites: readonly KitSuite[]) => ({
    startMs: stat(suites.map((s) => s.startMs)),
    testsMs: stat(suites.map((s) => s.testsMs)),
    stopMs: stat(suites.map((s) => s.stopMs)),
    perTestMs: stat(all(suites, (s) => s.perTest)),
    releaseMs: stat(all(suites, (s) => s.release)),
  });
  return {
    versions: {
      kitNative: samples.kitNativeDatabase[0]?.serverVersion,
      peerServer: peerVersion,
      pglite: samples.kitPglite[0]?.serverVersion,
      pgsqlTestClients: execFileSync(join(CLIENT_BIN, 'psql'), ['--version'], { encoding: 'utf8' }).trim(),
    },
    schema: { migrations: upFiles.length },
    samples: { rounds: ROUNDS, testsPerSuite: TESTS, naiveTestsPerSample: NAIVE_TESTS, acquireReady: acquireReady.n, rawCreateDb: rawCreateDb.n, pgsqlTestSetup: pgsqlTestSetup.n, pgsqlTestPerTest: pgsqlTestPerTest.n },
    definitions: {
      suite: `${TESTS} tests run one after another in one process, every runner on one already running native server (the kit's as a vitest global setup shares it); kit: startKit (roles, template build, pool warm-up) + tests + stop, its template dropped after each suite so every suite builds one; pgsql-test: getConnections (role, createdb, migrations as seed SQL files, grants) + beforeEach/test/afterEach + teardown; naive: CREATE DATABASE + migrations + grants + test + DROP DATABASE, ${NAIVE_TESTS} tests per sample scaled x${TESTS / NAIVE_TESTS}`,
      test: "app role without tenant context sees 0 documents; admin inserts 2 tenants and 3 documents each; app role in tenant A: list own (3), read B's document by id (0), rename own (1 row)",
      acquireReady: 'kit native, isolation database, per test of the suite: kit.acquire() called to the result of the app role\'s first statement',
      poolEmptyWaits: 'tests whose kit.acquire() took longer than half of rawCreateDb p50 (the pool had no clone ready)',
      rawCreateDb: `CREATE DATABASE ... TEMPLATE <kit template> STRATEGY FILE_COPY on the same server after each database-isolation suite, ${RAW_PER_ROUND} per suite`,
      rawLogin: 'a new pg connection (TCP 127.0.0.1, scram-sha-256) to the same server and its SELECT 1, as the admin',
      pgsqlTestPerTest: 'beforeEach + test + afterEach',
    },
    suite,
    server: {
      acquireReadyP50Ms: acquireReady.p50,
      acquireReadyP95Ms: acquireReady.p95,
      acquireCallP50Ms: acquireCallStat.p50,
      acquireCallP95Ms: acquireCallStat.p95,
      appFirstQueryP50Ms: appFirstQuery.p50,
      appFirstQueryP95Ms: appFirstQuery.p95,
      poolEmptyWaits,
      poolEmptyWaitsOf: acquireCall.length,
      rawCreateDbP50Ms: rawCreateDb.p50,
      rawCreateDbP95Ms: rawCreateDb.p95,
      rawLoginP50Ms: rawLogin.p50,
      rawLoginP95Ms: rawLogin.p95,
    },
    peer: {
      pgsqlTestSetupP50Ms: pgsqlTestSetup.p50,
      pgsqlTestSetupP95Ms: pgsqlTestSetup.p95,
      pgsqlTestPerTestP50Ms: pgsqlTestPerTest.p50,
      pgsqlTestPerTestP95Ms: pgsqlTestPerTest.p95,
      pgsqlTestTeardownMs: stat(samples.pgsqlTest.map((s) => s.teardownMs)),
    },
    breakdown: {
      kitNativeDatabase: breakdown(samples.kitNativeDatabase),
      kitNativeTransaction: breakdown(samples.kitNativeTransaction),
      kitPglite: { ...breakdown(samples.kitPglite), coldCacheSuiteMs: round(kitPgliteColdMs) },
    },
    targets,
    raw: {
      suiteMs: {
        kitNativeDatabase: samples.kitNativeDatabase.map((s) => round(s.totalMs)),
        kitNativeTransaction: samples.kitNativeTransaction.map((s) => round(s.totalMs)),
        kitPglite: samples.kitPglite.map((s) => round(s.totalMs)),
        pgsqlTest: samples.pgsqlTest.map((s) => round(s.totalMs)),
        naiveMigratePerTestScaled: samples.naiveScaledMs.map(round),
      },
    },
  };
}

export type SuiteFigures = Awaited<ReturnType<typeof measureSuite>>;

/** The suite's lines of the printed table. */
export function suiteLines(figures: SuiteFigures): string[] {
  const rows: [string, Stat][] = [
    ...Object.entries(figures.suite).map(([name, s]) => [`suite.${name}`, s] as [string, Stat]),
    ...Object.entries(figures.breakdown).flatMap(([name, b]) => [
      [`  ${name}.start`, b.startMs],
      [`  ${name}.tests`, b.testsMs],
      [`  ${name}.perTest`, b.perTestMs],
    ] as [string, Stat][]),
    ['peer.pgsqlTestPerTest', { p50: figures.peer.pgsqlTestPerTestP50Ms, p95: figures.peer.pgsqlTestPerTestP95Ms, n: figures.samples.pgsqlTestPerTest }],
    ['peer.pgsqlTestSetup', { p50: figures.peer.pgsqlTestSetupP50Ms, p95: figures.peer.pgsqlTestSetupP95Ms, n: figures.samples.pgsqlTestSetup }],
    ['server.acquireReady', { p50: figures.server.acquireReadyP50Ms, p95: figures.server.acquireReadyP95Ms, n: figures.samples.acquireReady }],
    ['server.appFirstQuery', { p50: figures.server.appFirstQueryP50Ms, p95: figures.server.appFirstQueryP95Ms, n: figures.samples.acquireReady }],
    ['server.rawCreateDb', { p50: figures.server.rawCreateDbP50Ms, p95: figures.server.rawCreateDbP95Ms, n: figures.samples.rawCreateDb }],
    ['server.rawLogin', { p50: figures.server.rawLoginP50Ms, p95: figures.server.rawLoginP95Ms, n: figures.samples.rawCreateDb }],
  ];
  return [
    ...rows.map(([name, s]) => line(name, s)),
    `server.poolEmptyWaits: ${figures.server.poolEmptyWaits} of ${figures.server.poolEmptyWaitsOf} acquisitions`,
    `suite.kitPglite with a cold snapshot cache (one run): ${figures.breakdown.kitPglite.coldCacheSuiteMs} ms`,
  ];
}
