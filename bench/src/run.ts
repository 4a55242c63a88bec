// pnpm bench: measures what a test waits for, side by side in one run, and writes results/latest.json.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { seedTenants } from '@tenantkit/fixtures';
import { checkIsolation } from '@tenantkit/rls-assert';
import { type Kit, type Session, runStairway, snapshotSchema, sqlDirectory, startKit } from '@tenantkit/testkit';
import { type ServerEngine } from '@tenantkit/testkit/internal';
import pg from 'pg';
import { writeBenchMigrations, writeStairwayMigrations } from './schema.ts';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

interface Stat {
  p50: number;
  p95: number;
  n: number;
}

function stat(samples: number[]): Stat {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const median = sorted.length % 2 ? at(0.5) : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return { p50: round(median), p95: round(at(0.95)), n: sorted.length };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const startedAt = performance.now();
  await fn();
  return performance.now() - startedAt;
}

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 30);
const SLOW_ITERATIONS = Number(process.env.BENCH_SLOW_ITERATIONS ?? 5);

const work = await mkdtemp(join(tmpdir(), 'tenantkit-bench-'));
const migrationsDir = join(work, 'migrations');
const migrationCount = await writeBenchMigrations(migrationsDir);
const migrator = sqlDirectory(migrationsDir);
const cacheDir = join(work, 'cache');

const SEED_ITERATIONS = Number(process.env.BENCH_SEED_ITERATIONS ?? 7);

/**
 * Rows per second seeding 2 tenants x 10 rows into every table, each run on a fresh database:
 * as a test suite sees it (the schema model read once per template) and cold (read every time).
 */
async function benchSeeding(kit: Kit): Promise<{ rowsPerSec: Stat; rowsPerSecCold: Stat; rows: number }> {
  const rates: number[] = [];
  const coldRates: number[] = [];
  let rows = 0;
  for (let i = 0; i < SEED_ITERATIONS * 2; i++) {
    const cold = i % 2 === 1;
    const db = await kit.acquire();
    // Connecting is the acquisition's cost, measured above; this times the seeding itself.
    await db.query('SELECT 1');
    const startedAt = performance.now();
    const world = await seedTenants(db, { tenants: 2, rowsPerTable: 10, seed: i, fresh: cold });
    const ms = performance.now() - startedAt;
    rows = world.tables.reduce((sum, table) => sum + table.rows, 0);
    (cold ? coldRates : rates).push((rows / ms) * 1000);
    await db.release();
  }
  return { rowsPerSec: stat(rates), rowsPerSecCold: stat(coldRates), rows };
}

const STAIRWAY_MIGRATIONS = 50;
const stairwayDir = join(work, 'stairway');
await writeStairwayMigrations(stairwayDir, STAIRWAY_MIGRATIONS);

/** Schema snapshots of the migrated bench schema, and one stairway over 50 migrations on an empty database. */
const STAIRWAY_RUNS = Number(process.env.BENCH_STAIRWAY_RUNS ?? 3);

async function benchMigrations(kit: Kit, backend: 'native' | 'pglite'): Promise<{ snapshot: Stat; stairway: Stat; stairwayOk: boolean }> {
  const snapshots: number[] = [];
  {
    const db = await kit.acquire();
    await db.query('SELECT 1');
    for (let i = 0; i < ITERATIONS; i++) snapshots.push(await timed(() => snapshotSchema(db)));
    await db.release();
  }
  const empty = await startKit({ backend, schema: '-- empty\n', isolation: 'database', poolSize: 0, cacheDir });
  try {
    const runs: number[] = [];
    let stairwayOk = true;
    for (let i = 0; i < STAIRWAY_RUNS; i++) {
      const db = await empty.acquire();
      const startedAt = performance.now();
      const report = await runStairway(sqlDirectory(stairwayDir), { inspect: db, target: { session: db.owner, role: db.owner.role } });
      runs.push(performance.now() - startedAt);
      stairwayOk &&= report.ok;
      await db.release();
    }
    return { snapshot: stat(snapshots), stairway: stat(runs), stairwayOk };
  } finally {
    await empty.stop();
  }
}

const AUDIT_ITERATIONS = Number(process.env.BENCH_AUDIT_ITERATIONS ?? 3);

/** A full audit (static, seeding, probes) on a fresh database; creating the database is not timed. */
async function benchAudit(kit: Kit): Promise<{ ms: Stat; tables: number; ok: boolean }> {
  const times: number[] = [];
  let tables = 0;
  let ok = false;
  for (let i = 0; i < AUDIT_ITERATIONS; i++) {
    const db = await kit.acquire();
    await db.query('SELECT 1');
    const startedAt = performance.now();
    const report = await checkIsolation(db, { seed: i });
    times.push(performance.now() - startedAt);
    tables = report.tables.filter((table) => table.kind !== 'global').length;
    ok = report.ok;
    await db.release();
  }
  return { ms: stat(times), tables, ok };
}

/**
 * What the identity check after every app statement costs on PGlite: the same one-row SELECT as the
 * app (checked) and as admin (not checked), in alternating blocks so both see the same machine; the
 * first statement of each block (a role switch) is left out.
 */
async function benchEscapeCheck(kit: Kit): Promise<{ app: Stat; admin: Stat; perStatement: number }> {
  const app: number[] = [];
  const admin: number[] = [];
  const db = await kit.acquire();
  try {
    for (let block = 0; block < 20; block++) {
      for (const [identity, samples] of [
        [db.app, app],
        [db.admin, admin],
      ] as const) {
        await identity.query('SELECT 1');
        for (let i = 0; i < 25; i++) samples.push(await timed(() => identity.query('SELECT 1 AS one')));
      }
    }
  } finally {
    await db.release();
  }
  const appStat = stat(app);
  const adminStat = stat(admin);
  return { app: appStat, admin: adminStat, perStatement: round(appStat.p50 - adminStat.p50) };
}

async function benchServer() {
  const kit = await startKit({ backend: 'native', migrations: migrationsDir, poolSize: 2 });
  const backend = kit.backend as ServerEngine;
  const admin = new pg.Client({ connectionString: backend.adminUrl });
  await admin.connect();
  try {
    const acquire: number[] = [];
    const firstQuery: number[] = [];
    const clone: number[] = [];
    const raw: number[] = [];
    const naive: number[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      // A test's own run time lets the pool refill in the background; model it by waiting for it.
      await backend.warm(kit.template, { quiet: true });
      let db: Awaited<ReturnType<typeof kit.acquire>> | undefined;
      acquire.push(await timed(async () => (db = await kit.acquire())));
      firstQuery.push(await timed(() => db!.query('SELECT 1')));
      await db!.release();

      await backend.idle();
      let physical: Awaited<ReturnType<typeof backend.createDatabase>> | undefined;
      clone.push(await timed(async () => (physical = await backend.createDatabase(kit.template, { pool: false }))));
      await physical!.dispose({ keep: false });

      await backend.idle();
      const name = `bench_raw_${i}`;
      raw.push(await timed(() => admin.query(`CREATE DATABASE ${name} TEMPLATE ${kit.template.name} STRATEGY FILE_COPY`)));
      await admin.query(`DROP DATABASE ${name}`);
    }
    for (let i = 0; i < Math.max(SLOW_ITERATIONS, 10); i++) {
      const name = `bench_naive_${i}`;
      naive.push(
        await timed(async () => {
          await admin.query(`CREATE DATABASE ${name}`);
          const url = new URL(backend.adminUrl);
          url.pathname = `/${name}`;
          const client = new pg.Client({ connectionString: url.toString() });
          await client.connect();
          const session: Session = { query: <R,>(sql: string, params?: readonly unknown[]) => client.query(sql, params as unknown[]).then((r) => ({ rows: r.rows as R[], rowCount: r.rowCount ?? 0 })), exec: async (sql: string) => void (await client.query(sql)) };
          await migrator.up({ session, role: 'tk_admin' });
          await client.end();
        }),
      );
      await admin.query(`DROP DATABASE ${name}`);
    }
    const seeding = await benchSeeding(kit);
    const audit = await benchAudit(kit);
    const migrations = await benchMigrations(kit, 'native');
    return {
      migrations,
      version: backend.serverVersion,
      seeding,
      audit,
      acquire: stat(acquire),
      firstQuery: stat(firstQuery),
      clone: stat(clone),
      raw: stat(raw),
      naive: stat(naive),
    };
  } finally {
    await admin.end();
    await kit.stop();
  }
}

async function benchPglite() {
  const kit = await startKit({ backend: 'pglite', migrations: migrationsDir, cacheDir });
  const version = kit.backend.serverVersion;
  const reset: number[] = [];
  let seeding: Awaited<ReturnType<typeof benchSeeding>>;
  let audit: Awaited<ReturnType<typeof benchAudit>>;
  let migrations: Awaited<ReturnType<typeof benchMigrations>>;
  let escape: Awaited<ReturnType<typeof benchEscapeCheck>>;
  try {
    for (let i = 0; i < ITERATIONS * 3; i++) {
      let spent = 0;
      const startedAt = performance.now();
      const db = await kit.acquire();
      spent += performance.now() - startedAt;
      await db.query(`INSERT INTO tenants (name) VALUES ('bench')`);
      spent += await timed(() => db.release());
      reset.push(spent);
    }
    escape = await benchEscapeCheck(kit);
    seeding = await benchSeeding(kit);
    audit = await benchAudit(kit);
    migrations = await benchMigrations(kit, 'pglite');
  } finally {
    await kit.stop();
  }
  const file = join(cacheDir, (await readdir(cacheDir)).find((name) => name.endsWith('.tar'))!);
  const workerStart: number[] = [];
  const naive: number[] = [];
  for (let i = 0; i < SLOW_ITERATIONS; i++) {
    let instance: PGlite | undefined;
    workerStart.push(
      await timed(async () => {
        instance = new PGlite({ loadDataDir: new Blob([await readFile(file)]) });
        await instance.query('SELECT 1');
      }),
    );
    await instance!.close();
    naive.push(
      await timed(async () => {
        instance = new PGlite();
        const session: Session = { query: <R,>(sql: string, params?: readonly unknown[]) => instance!.query(sql, params as unknown[]).then((r) => ({ rows: r.rows as R[], rowCount: r.affectedRows ?? 0 })), exec: async (sql: string) => void (await instance!.exec(sql)) };
        await migrator.up({ session, role: 'postgres' });
      }),
    );
    await instance!.close();
  }
  const row = await (async () => {
    const probe = new PGlite();
    const { rows } = await probe.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    await probe.close();
    return rows[0]!.v;
  })();
  return { version, postgres: row, seeding, audit, migrations, escape, reset: stat(reset), workerStart: stat(workerStart), naive: stat(naive) };
}

const server = await benchServer();
const pglite = await benchPglite();
await rm(work, { recursive: true, force: true });

const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
const results = {
  generatedAt: new Date().toISOString(),
  schema: { tables: 31, migrations: migrationCount },
  versions: { node: process.versions.node, postgres: server.version, pglite: pglite.version, pglitePostgres: pglite.postgres },
  server: {
    acquireP50Ms: server.acquire.p50,
    acquireP95Ms: server.acquire.p95,
    firstQueryP50Ms: server.firstQuery.p50,
    firstQueryP95Ms: server.firstQuery.p95,
    cloneP50Ms: server.clone.p50,
    cloneP95Ms: server.clone.p95,
    rawCreateDbP50Ms: server.raw.p50,
    rawCreateDbP95Ms: server.raw.p95,
    naiveMigrateP50Ms: server.naive.p50,
    naiveMigrateP95Ms: server.naive.p95,
  },
  pglite: {
    workerStartP50Ms: pglite.workerStart.p50,
    workerStartP95Ms: pglite.workerStart.p95,
    naiveBootMigrateP50Ms: pglite.naive.p50,
    naiveBootMigrateP95Ms: pglite.naive.p95,
    perTestResetP50Ms: pglite.reset.p50,
    perTestResetP95Ms: pglite.reset.p95,
    appStatementP50Ms: pglite.escape.app.p50,
    adminStatementP50Ms: pglite.escape.admin.p50,
    escapeCheckPerStatementMs: pglite.escape.perStatement,
  },
  fixtures: {
    rowsSeeded: server.seeding.rows,
    rowsPerSecNative: Math.round(server.seeding.rowsPerSec.p50),
    rowsPerSecNativeP95: Math.round(server.seeding.rowsPerSec.p95),
    rowsPerSecNativeColdCatalog: Math.round(server.seeding.rowsPerSecCold.p50),
    rowsPerSecPglite: Math.round(pglite.seeding.rowsPerSec.p50),
    rowsPerSecPgliteP95: Math.round(pglite.seeding.rowsPerSec.p95),
    rowsPerSecPgliteColdCatalog: Math.round(pglite.seeding.rowsPerSecCold.p50),
  },
  audit: {
    tenantTables: server.audit.tables,
    tables30MsNative: server.audit.ms.p50,
    tables30MsNativeP95: server.audit.ms.p95,
    tables30MsPglite: pglite.audit.ms.p50,
    tables30MsPgliteP95: pglite.audit.ms.p95,
    isolationProven: server.audit.ok && pglite.audit.ok,
  },
  migrations: {
    snapshotP50Ms: server.migrations.snapshot.p50,
    snapshotP95Ms: server.migrations.snapshot.p95,
    snapshotPgliteP50Ms: pglite.migrations.snapshot.p50,
    stairway50MsNative: server.migrations.stairway.p50,
    stairway50MsPglite: pglite.migrations.stairway.p50,
    stairwayPassed: server.migrations.stairwayOk && pglite.migrations.stairwayOk,
  },
  samples: { server: server.acquire.n, serverNaive: server.naive.n, pgliteReset: pglite.reset.n, pgliteSlow: pglite.workerStart.n },
  ratios: {
    acquireToRawClone: ratio(server.acquire.p50, server.raw.p50),
    cloneToRawClone: ratio(server.clone.p50, server.raw.p50),
    naiveToAcquire: ratio(server.naive.p50, server.acquire.p50),
    pgliteWorkerStartToBootMigrate: ratio(pglite.workerStart.p50, pglite.naive.p50),
  },
};
const targets = {
  'acquisition <= 0.25x raw clone': results.ratios.acquireToRawClone <= 0.25,
  'clone <= 1.3x raw clone': results.ratios.cloneToRawClone <= 1.3,
  'naive >= 5x acquisition': results.ratios.naiveToAcquire >= 5,
  'PGlite per-test reset <= 2 ms': results.pglite.perTestResetP50Ms <= 2,
  'PGlite worker start <= 0.5x boot+migrate': results.ratios.pgliteWorkerStartToBootMigrate <= 0.5,
  'seeding >= 5,000 rows/s native': results.fixtures.rowsPerSecNative >= 5000,
  'seeding >= 2,000 rows/s PGlite': results.fixtures.rowsPerSecPglite >= 2000,
  'full audit of 30 tenant tables <= 1.5 s native': results.audit.tables30MsNative <= 1500,
  'full audit of 30 tenant tables <= 3 s PGlite': results.audit.tables30MsPglite <= 3000,
  'schema snapshot <= 50 ms': results.migrations.snapshotP50Ms <= 50,
  'stairway of 50 <= 10 s native': results.migrations.stairway50MsNative <= 10_000,
  'stairway of 50 <= 20 s PGlite': results.migrations.stairway50MsPglite <= 20_000,
};
const output = { ...results, targets };
const target = new URL('../results/latest.json', import.meta.url);
await writeFile(target, `${JSON.stringify(output, null, 2)}\n`);

const rows: [string, number, number][] = [
  ['server.acquire', server.acquire.p50, server.acquire.p95],
  ['server.firstQuery', server.firstQuery.p50, server.firstQuery.p95],
  ['server.clone', server.clone.p50, server.clone.p95],
  ['server.rawCreateDb', server.raw.p50, server.raw.p95],
  ['server.naiveMigrate', server.naive.p50, server.naive.p95],
  ['pglite.workerStart', pglite.workerStart.p50, pglite.workerStart.p95],
  ['pglite.naiveBootMigrate', pglite.naive.p50, pglite.naive.p95],
  ['pglite.perTestReset', pglite.reset.p50, pglite.reset.p95],
  ['pglite.appStatement', pglite.escape.app.p50, pglite.escape.app.p95],
  ['pglite.adminStatement', pglite.escape.admin.p50, pglite.escape.admin.p95],
];
console.log(`tenantkit bench: ${results.schema.tables} tables, ${migrationCount} migrations; node ${process.versions.node}, ${server.version}, ${pglite.version} (PG ${pglite.postgres})`);
console.log(`${'metric'.padEnd(26)}${'p50 ms'.padStart(10)}${'p95 ms'.padStart(10)}`);
for (const [name, p50, p95] of rows) console.log(`${name.padEnd(26)}${p50.toFixed(3).padStart(10)}${p95.toFixed(3).padStart(10)}`);
console.log(
  `fixtures: seeding ${results.fixtures.rowsSeeded} rows: ${results.fixtures.rowsPerSecNative} rows/s native, ${results.fixtures.rowsPerSecPglite} rows/s PGlite (medians; catalog read every time: ${results.fixtures.rowsPerSecNativeColdCatalog} and ${results.fixtures.rowsPerSecPgliteColdCatalog})`,
);
console.log(`audit: ${results.audit.tenantTables} tenant tables: ${results.audit.tables30MsNative} ms native, ${results.audit.tables30MsPglite} ms PGlite (medians), isolation proven: ${results.audit.isolationProven}`);
console.log(`migrations: snapshot ${results.migrations.snapshotP50Ms} ms (median, native), stairway of ${STAIRWAY_MIGRATIONS}: ${results.migrations.stairway50MsNative} ms native, ${results.migrations.stairway50MsPglite} ms PGlite (medians of ${STAIRWAY_RUNS}; passed: ${results.migrations.stairwayPassed})`);
for (const [name, value] of Object.entries(results.ratios)) console.log(`${name.padEnd(34)}${String(value).padStart(8)}`);
for (const [name, met] of Object.entries(targets)) console.log(`${met ? 'met    ' : 'MISSED '} ${name}`);
console.log(`written to ${target.pathname}`);
