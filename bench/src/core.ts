// The kit's own figures on the 31-table bench schema, per backend: seeding, the audit (schema model
// cold and cached), schema snapshots and the stairway; on PGlite also the per-test reset, a worker's
// start from the migrated snapshot, its peak RSS and the identity check's cost per statement.
import { spawnSync } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { seedTenants } from '@tenantkit/fixtures';
import { checkIsolation } from '@tenantkit/rls-assert';
import { type Kit, type Session, type TestDatabase, runStairway, snapshotSchema, sqlDirectory, startKit } from '@tenantkit/testkit';
import { DumpBlob } from '@tenantkit/testkit/internal';
import { type Stat, round, samples, stat, timed } from './stats.ts';

export interface CoreInput {
  /** The 31-table, 20-migration bench schema. */
  readonly migrationsDir: string;
  /** 50 small migrations with downs. */
  readonly stairwayDir: string;
  /** The PGlite snapshot cache of this run. */
  readonly cacheDir: string;
}

const SEED_SAMPLES = samples(20, 1);
const AUDIT_SAMPLES = samples(20, 1);
const SNAPSHOT_SAMPLES = samples(30, 3);
const STAIRWAY_SAMPLES = samples(5, 1);

/**
 * Rows per second seeding 2 tenants x 10 rows into every table, each run on a fresh database:
 * as a test suite sees it (the schema model read once per template) and cold (read every time).
 */
async function seeding(kit: Kit): Promise<{ rowsPerSec: Stat; rowsPerSecCold: Stat; rows: number }> {
  const rates: number[] = [];
  const coldRates: number[] = [];
  let rows = 0;
  for (let i = 0; i < SEED_SAMPLES * 2; i++) {
    const cold = i % 2 === 1;
    await using db = await kit.acquire();
    // Connecting is the acquisition's cost, measured in the suite; this times the seeding itself.
    await db.query('SELECT 1');
    const startedAt = performance.now();
    const world = await seedTenants(db, { tenants: 2, rowsPerTable: 10, seed: i, fresh: cold });
    const ms = performance.now() - startedAt;
    rows = world.tables.reduce((sum, table) => sum + table.rows, 0);
    (cold ? coldRates : rates).push((rows / ms) * 1000);
  }
  return { rowsPerSec: stat(rates), rowsPerSecCold: stat(coldRates), rows };
}

/**
 * The database as a new template would present it: the schema model is cached by template key, so a
 * key of its own makes the audit's first call read the catalog, as the first test of a run does.
 */
function asNewTemplate(db: TestDatabase, key: string): TestDatabase {
  return new Proxy(db, {
    get(target, property) {
      if (property === 'templateKey') return key;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** A full audit (static rules, seeding, probes) on a fresh database, cold and with the model cached; the database is not timed. */
async function audit(kit: Kit, backend: string): Promise<{ cold: Stat; cached: Stat; tables: number; ok: boolean }> {
  const cold: number[] = [];
  const cached: number[] = [];
  let tables = 0;
  let ok = true;
  for (let i = 0; i < AUDIT_SAMPLES * 2; i++) {
    const first = i % 2 === 0;
    await using db = await kit.acquire();
    await db.query('SELECT 1');
    const target = first ? asNewTemplate(db, `bench-cold-${backend}-${i}`) : db;
    const startedAt = performance.now();
    const report = await checkIsolation(target, { seed: i });
    (first ? cold : cached).push(performance.now() - startedAt);
    tables = report.tables.filter((table) => table.kind !== 'global').length;
    ok &&= report.ok;
  }
  return { cold: stat(cold), cached: stat(cached), tables, ok };
}

/** Schema snapshots of the migrated bench schema, and the stairway over 50 migrations on an empty database. */
async function migrations(kit: Kit, input: CoreInput, backend: 'native' | 'pglite'): Promise<{ snapshot: Stat; stairway: Stat; stairwayOk: boolean }> {
  const snapshots: number[] = [];
  {
    await using db = await kit.acquire();
    await db.query('SELECT 1');
    for (let i = 0; i < SNAPSHOT_SAMPLES; i++) snapshots.push(await timed(() => snapshotSchema(db)));
  }
  const empty = await startKit({ backend, schema: '-- empty\n', isolation: 'database', poolSize: 0, cacheDir: input.cacheDir });
  try {
    const runs: number[] = [];
    let stairwayOk = true;
    for (let i = 0; i < STAIRWAY_SAMPLES; i++) {
      await using db = await empty.acquire();
      const startedAt = performance.now();
      const report = await runStairway(sqlDirectory(input.stairwayDir), { inspect: db, target: { session: db.owner, role: db.owner.role } });
      runs.push(performance.now() - startedAt);
      stairwayOk &&= report.ok;
    }
    return { snapshot: stat(snapshots), stairway: stat(runs), stairwayOk };
  } finally {
    await empty.stop();
  }
}

export async function measureNative(input: CoreInput) {
  const kit = await startKit({ backend: 'native', migrations: input.migrationsDir, isolation: 'database', poolSize: 2 });
  try {
    return { version: kit.backend.serverVersion, seeding: await seeding(kit), audit: await audit(kit, 'native'), migrations: await migrations(kit, input, 'native') };
  } finally {
    await kit.stop();
  }
}

const RESET_SAMPLES = samples(90, 5);
const ESCAPE_BLOCKS = samples(20, 2);
const WORKER_SAMPLES = samples(5, 1);

/**
 * One test's worth of writes and the reset after it: a tenant, a user (its identity sequence moves)
 * and a row in a third table, then release (rollback, sequences restored).
 */
async function reset(kit: Kit): Promise<Stat> {
  const spent: number[] = [];
  for (let i = 0; i < RESET_SAMPLES; i++) {
    let ms = 0;
    let startedAt = performance.now();
    const db = await kit.acquire();
    ms += performance.now() - startedAt;
    const [tenant] = (await db.admin.query<{ tenant_id: string }>(`INSERT INTO tenants (name) VALUES ('bench') RETURNING tenant_id`)).rows;
    const [user] = (await db.admin.query<{ user_id: string }>(`INSERT INTO users (tenant_id, email, role) VALUES ($1, 'a@bench.test', 'owner') RETURNING user_id`, [tenant!.tenant_id])).rows;
    await db.admin.query(`INSERT INTO entity_01 (tenant_id, owner_id, title) VALUES ($1, $2, 'first')`, [tenant!.tenant_id, user!.user_id]);
    startedAt = performance.now();
    await db.release();
    ms += performance.now() - startedAt;
    spent.push(ms);
  }
  // The reset really restored the sequence: the next test's first user gets the same id.
  const ids = new Set<string>();
  for (let i = 0; i < 2; i++) {
    await using db = await kit.acquire();
    const [tenant] = (await db.admin.query<{ tenant_id: string }>(`INSERT INTO tenants (name) VALUES ('check') RETURNING tenant_id`)).rows;
    const { rows } = await db.admin.query<{ user_id: string }>(`INSERT INTO users (tenant_id, email, role) VALUES ($1, 'b@bench.test', 'owner') RETURNING user_id`, [tenant!.tenant_id]);
    ids.add(String(rows[0]!.user_id));
  }
  if (ids.size !== 1) throw new Error(`the per-test reset did not restore the users sequence: ids ${[...ids].join(', ')}`);
  return stat(spent);
}

/**
 * What the identity check after every app statement costs on PGlite: the same one-row SELECT as the
 * app (checked) and as admin (not checked), in alternating blocks so both see the same machine; the
 * first statement of each block (a role switch) is left out.
 */
async function identityCheck(kit: Kit): Promise<{ app: Stat; admin: Stat; perStatement: number }> {
  const app: number[] = [];
  const admin: number[] = [];
  await using db = await kit.acquire();
  for (let block = 0; block < ESCAPE_BLOCKS; block++) {
    for (const [identity, into] of [
      [db.app, app],
      [db.admin, admin],
    ] as const) {
      await identity.query('SELECT 1');
      for (let i = 0; i < 25; i++) into.push(await timed(() => identity.query('SELECT 1 AS one')));
    }
  }
  const appStat = stat(app);
  const adminStat = stat(admin);
  return { app: appStat, admin: adminStat, perStatement: round(appStat.p50 - adminStat.p50) };
}

const workerChild = fileURLToPath(new URL('./worker-child.ts', import.meta.url));

/** Peak RSS of a process that does what a vitest worker does: start the kit from the cached snapshot and run tests. */
function workerRss(input: CoreInput): { maxRssMb: number; tests: number } {
  const run = spawnSync(process.execPath, [workerChild, input.migrationsDir, input.cacheDir], { encoding: 'utf8', env: { ...process.env, TENANTKIT_QUIET: '1' } });
  const last = run.stdout.trim().split('\n').pop() ?? '';
  if (run.status !== 0) throw new Error(`the PGlite worker process failed (${run.status ?? run.signal}): ${(run.stderr || run.stdout).trim().split('\n').slice(-5).join(' | ')}`);
  return JSON.parse(last) as { maxRssMb: number; tests: number };
}

export async function measurePglite(input: CoreInput) {
  const migrator = sqlDirectory(input.migrationsDir);
  const kit = await startKit({ backend: 'pglite', migrations: input.migrationsDir, cacheDir: input.cacheDir });
  const version = kit.backend.serverVersion;
  const key = kit.template.key;
  let figures;
  try {
    figures = {
      reset: await reset(kit),
      escape: await identityCheck(kit),
      seeding: await seeding(kit),
      audit: await audit(kit, 'pglite'),
      migrations: await migrations(kit, input, 'pglite'),
    };
  } finally {
    await kit.stop();
  }
  // The migrated snapshot of this template, not the base cluster or another template's.
  const snapshot = (await readdir(input.cacheDir)).find((name) => name.endsWith(`-${key}.tar`) && !name.includes('-base-'));
  if (!snapshot) throw new Error(`no PGlite snapshot of template ${key} in ${input.cacheDir}`);
  const file = join(input.cacheDir, snapshot);
  const workerStart: number[] = [];
  const naive: number[] = [];
  for (let i = 0; i < WORKER_SAMPLES; i++) {
    let instance: PGlite | undefined;
    workerStart.push(
      await timed(async () => {
        // As a kit's worker loads it: the file's bytes, handed to PGlite without Node's Blob copies.
        instance = new PGlite({ loadDataDir: new DumpBlob(await readFile(file)) });
        const { rows } = await instance.query<{ last: string | null }>(`SELECT to_regclass('public.entity_28')::text AS last`);
        if (rows[0]!.last === null) throw new Error(`${snapshot} does not hold the migrated bench schema (no entity_28)`);
      }),
    );
    await instance!.close();
    naive.push(
      await timed(async () => {
        instance = new PGlite();
        const session: Session = {
          query: <R,>(sql: string, params?: readonly unknown[]) => instance!.query(sql, params as unknown[]).then((r) => ({ rows: r.rows as R[], rowCount: r.affectedRows ?? 0 })),
          exec: async (sql: string) => void (await instance!.exec(sql)),
        };
        await migrator.up({ session, role: 'postgres' });
      }),
    );
    await instance!.close();
  }
  const postgres = await (async () => {
    const probe = new PGlite();
    const { rows } = await probe.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    await probe.close();
    return rows[0]!.v;
  })();
  return { version, postgres, snapshot, ...figures, workerStart: stat(workerStart), naive: stat(naive), worker: workerRss(input) };
}
