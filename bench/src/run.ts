// pnpm bench [--quick] [--only core,suite,large,cli,mutation,container]: every figure side by side in one run, medians
// and p95, stamped with the commit; a full run writes results/latest.json, a quick or partial one
// results/quick.json (not committed), except `--only container`, which writes results/container.json.
// --quick takes a few samples of each figure and judges no targets. The container section needs a
// container engine: without one it is reported as not measured, with the reason, unless it was asked
// for by --only or TENANTKIT_REQUIRE_CONTAINER=1 (CI), where that is a failure.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CliInput, measureCli } from './cli.ts';
import { type ContainerFigures, measureContainer } from './container.ts';
import { measureNative, measurePglite } from './core.ts';
import { type LargeCase, type LargeFigure, measureLarge } from './large.ts';
import { writeBenchMigrations, writeStairwayMigrations, writeSuiteMigrations } from './schema.ts';
import { QUICK, type Stat, type Target, commit, line, ratio, target, worktreeClean } from './stats.ts';
import { type MutationFigure, measureMutation } from './mutation.ts';
import { measureSuite, suiteLines } from './suite.ts';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

const SECTIONS = ['core', 'suite', 'large', 'cli', 'mutation', 'container'] as const;
type Section = (typeof SECTIONS)[number];
const onlyArg = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length) ?? (process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined);
const only = onlyArg?.split(',') as Section[] | undefined;
const unknown = only?.filter((name) => !(SECTIONS as readonly string[]).includes(name)) ?? [];
if (unknown.length > 0) {
  console.error(`bench: unknown section(s) ${unknown.join(', ')}: the sections are ${SECTIONS.join(', ')}`);
  process.exit(2);
}
const runs = (section: Section) => only === undefined || only.includes(section);

const work = await mkdtemp(join(tmpdir(), 'tenantkit-bench-'));
const migrationsDir = join(work, 'migrations');
const migrationCount = await writeBenchMigrations(migrationsDir);
const stairwayDir = join(work, 'stairway');
await writeStairwayMigrations(stairwayDir, 50);
const suiteDir = join(work, 'suite-migrations');
await writeSuiteMigrations(suiteDir);
const cacheDir = join(work, 'cache');
const startedAt = performance.now();

/** 500 tables: 5 processes on native (one PGlite, a minute each); 5,000: one process per layout (minutes each). */
const LARGE_CASES: LargeCase[] = QUICK
  ? [{ backend: 'native', tables: 50, layout: 'file', samples: 1 }]
  : [
      { backend: 'native', tables: 500, layout: 'file', samples: 5 },
      { backend: 'pglite', tables: 500, layout: 'file', samples: 1 },
      { backend: 'native', tables: 5000, layout: 'file', samples: 1 },
      { backend: 'native', tables: 5000, layout: '10 migrations', samples: 1 },
    ];

try {
  const native = runs('core') ? await measureNative({ migrationsDir, stairwayDir, cacheDir }) : undefined;
  const pglite = runs('core') ? await measurePglite({ migrationsDir, stairwayDir, cacheDir }) : undefined;
  const suite = runs('suite') ? await measureSuite({ migrationsDir: suiteDir, cacheDir }) : undefined;
  const large = runs('large') ? await measureLarge(work, LARGE_CASES) : undefined;
  const cliInput: CliInput = { migrationsDir, cacheDir };
  const cli = runs('cli') ? measureCli(cliInput) : undefined;
  // 10 tables x 3 policies with a 50-test suite; a quick run takes one table on native.
  const mutation = runs('mutation') ? await measureMutation(QUICK ? 1 : 10, QUICK ? ['native'] : ['native', 'pglite']) : undefined;
  const container = runs('container') ? await containerSection() : undefined;
  const totalMs = performance.now() - startedAt;

  const largeFigure = (backend: string, tables: number, layout = 'file') => large?.find((figure) => figure.backend === backend && figure.tables === tables && figure.layout === layout);
  const figure = (s: Stat | undefined) => s && { p50: s.p50, p95: s.p95, n: s.n };
  const results = {
    commit,
    worktreeClean,
    generatedAt: new Date().toISOString(),
    mode: QUICK ? 'quick' : only ? `only ${only.join(',')}` : 'full',
    benchWallMs: Math.round(totalMs),
    schema: { tables: 31, migrations: migrationCount, suiteMigrations: suite?.schema.migrations },
    versions: { node: process.versions.node, postgres: native?.version ?? suite?.versions.kitNative, pglite: pglite?.version, pglitePostgres: pglite?.postgres, peer: suite?.versions.peerServer, pgsqlTestClients: suite?.versions.pgsqlTestClients },
    definitions: {
      ...suite?.definitions,
      pgliteReset: 'PGlite, per test: acquire, a tenant, a user (its identity sequence moves) and a row of entity_01 written as admin, release; the next test is checked to get the same user id',
      pgliteWorkerStart: 'a new PGlite instance loading the migrated snapshot of the bench schema (the file named in pglite.workerStartSnapshot, checked to hold its last migrated table) as a kit does (its bytes in a DumpBlob), to its first result',
      pgliteWorkerPeakRss: 'peak RSS of a Node process that starts the kit from the cached snapshot and runs 50 tests',
      auditCold: "checkIsolation on a fresh database whose template the schema model cache has not seen (the first test's audit); auditCached: the same with the model cached",
      identityCheck: "PGlite: median of a one-row SELECT as the app (its identity checked after the statement) minus the same as admin, alternating blocks",
      cli: 'a fresh tenantkit process from spawn to exit, after one untimed run that warms the cache; native includes starting its server',
      large: 'a process per sample: startKit on the schema, checkIsolation, seedTenants 2 tenants x 2 rows; RSS is that Node process (PGlite runs inside it, a native server does not)',
      mutation: 'tenantkit mutate --sql schema.sql --backend <b> --jobs 2 -- vitest run, from spawn to exit, one sample: a schema of tables with a read, an insert and an update policy each (FORCE on), a vitest suite of 5 tests per table through the kit\'s vitest integration; includes generating the mutants and the unmutated run',
    },
    server: { ...suite?.server },
    suite: suite?.suite,
    peer: suite?.peer,
    breakdown: suite?.breakdown,
    pglite: pglite && {
      perTestResetP50Ms: pglite.reset.p50,
      perTestResetP95Ms: pglite.reset.p95,
      workerStartP50Ms: pglite.workerStart.p50,
      workerStartP95Ms: pglite.workerStart.p95,
      workerStartSnapshot: pglite.snapshot,
      naiveBootMigrateP50Ms: pglite.naive.p50,
      naiveBootMigrateP95Ms: pglite.naive.p95,
      workerPeakRssMb: pglite.worker.maxRssMb,
      appStatementP50Ms: pglite.escape.app.p50,
      adminStatementP50Ms: pglite.escape.admin.p50,
      identityCheckMs: pglite.escape.perStatement,
    },
    fixtures: native &&
      pglite && {
        rowsSeeded: native.seeding.rows,
        rowsPerSecNative: Math.round(native.seeding.rowsPerSec.p50),
        rowsPerSecNativeColdCatalog: Math.round(native.seeding.rowsPerSecCold.p50),
        rowsPerSecPglite: Math.round(pglite.seeding.rowsPerSec.p50),
        rowsPerSecPgliteColdCatalog: Math.round(pglite.seeding.rowsPerSecCold.p50),
      },
    audit: {
      ...(native && pglite
        ? {
            tenantTables: native.audit.tables,
            tables30MsNative: figure(native.audit.cold),
            tables30MsNativeCached: figure(native.audit.cached),
            tables30MsPglite: figure(pglite.audit.cold),
            tables30MsPgliteCached: figure(pglite.audit.cached),
            isolationProven: native.audit.ok && pglite.audit.ok,
          }
        : {}),
      ...(large ? { tables500MsNative: figure(largeFigure('native', 500)?.auditMs), large } : {}),
    },
    migrations: native &&
      pglite && {
        snapshotP50Ms: native.migrations.snapshot.p50,
        snapshotPgliteP50Ms: pglite.migrations.snapshot.p50,
        stairway50MsNative: figure(native.migrations.stairway),
        stairway50MsPglite: figure(pglite.migrations.stairway),
        stairwayPassed: native.migrations.stairwayOk && pglite.migrations.stairwayOk,
      },
    mutation: mutation && Object.fromEntries(mutation.map((entry) => [entry.backend, entry])),
    container,
    cli: cli && {
      auditWallMsPglite: figure(cli.auditPglite.ms),
      auditWallMsNative: figure(cli.auditNative.ms),
      migrationsCheckWallMsNative: figure(cli.migrationsCheckNative.ms),
      progressLines: { audit: cli.auditNative.progress, migrationsCheck: cli.migrationsCheckNative.progress },
    },
  };

  const targets: Target[] = [
    ...(suite?.targets ?? []),
    ...(pglite
      ? [target('pglite.perTestReset (ms)', pglite.reset.p50, '<=', 2), target('pglite.workerStart / pglite.naiveBootMigrate', ratio(pglite.workerStart.p50, pglite.naive.p50), '<=', 0.25)]
      : []),
    ...(cli
      ? [
          target('cli.auditWallMs PGlite (s)', ratio(cli.auditPglite.ms.p50, 1000), '<=', 3),
          target('cli.auditWallMs native (s)', ratio(cli.auditNative.ms.p50, 1000), '<=', 3),
          target('cli.migrationsCheckWallMs native, 20 migrations (s)', ratio(cli.migrationsCheckNative.ms.p50, 1000), '<=', 5),
        ]
      : []),
    ...(mutation?.filter((entry) => entry.backend === 'native' && entry.policies === 30).map((entry) => target('mutation: 30 policies x 50 tests, native, 2 jobs (s)', ratio(entry.wallMs, 1000), '<=', 60)) ?? []),
  ];
  const output = { ...results, targets: QUICK ? 'not judged: a quick run takes too few samples' : targets };
  const name = !QUICK && only?.length === 1 && only[0] === 'container' ? 'container.json' : QUICK || only ? 'quick.json' : 'latest.json';
  const file = new URL(`../results/${name}`, import.meta.url);
  await writeFile(file, `${JSON.stringify(output, null, 2)}\n`);

  console.log(`tenantkit bench @ ${commit.slice(0, 12)}${worktreeClean ? '' : ' (uncommitted changes)'} (${results.mode}, ${Math.round(totalMs / 1000)} s); ${[`node ${process.versions.node}`, results.versions.postgres, results.versions.pglite].filter(Boolean).join(', ')}`);
  console.log(`${'figure'.padEnd(40)}${'p50 ms'.padStart(11)}${'p95 ms'.padStart(11)}${'n'.padStart(6)}`);
  if (suite) for (const text of suiteLines(suite)) console.log(text);
  if (pglite) {
    console.log(line('pglite.perTestReset', pglite.reset));
    console.log(line('pglite.workerStart', pglite.workerStart));
    console.log(line('pglite.naiveBootMigrate', pglite.naive));
    console.log(`pglite.workerPeakRss: ${pglite.worker.maxRssMb} MB; identity check ${pglite.escape.perStatement} ms per app statement`);
  }
  if (native && pglite) {
    console.log(line('audit.tables30Native (cold model)', native.audit.cold));
    console.log(line('audit.tables30Native (cached model)', native.audit.cached));
    console.log(line('audit.tables30Pglite (cold model)', pglite.audit.cold));
    console.log(line('audit.tables30Pglite (cached model)', pglite.audit.cached));
    console.log(line('migrations.stairway50Native', native.migrations.stairway));
    console.log(line('migrations.stairway50Pglite', pglite.migrations.stairway));
    console.log(`fixtures: ${results.fixtures?.rowsPerSecNative} rows/s native, ${results.fixtures?.rowsPerSecPglite} rows/s PGlite`);
  }
  for (const entry of large ?? []) printLarge(entry);
  if (cli) {
    console.log(line('cli.auditWall PGlite', cli.auditPglite.ms));
    console.log(line('cli.auditWall native', cli.auditNative.ms));
    console.log(line('cli.migrationsCheckWall native', cli.migrationsCheckNative.ms));
  }
  for (const entry of mutation ?? []) printMutation(entry);
  if (container) printContainer(container);
  if (!QUICK) for (const row of targets) console.log(`${row.met ? 'met    ' : 'NOT MET'} ${row.name.padEnd(52)}${String(row.value).padStart(9)}  target ${row.target}`);
  console.log(`written to ${fileURLToPath(file)}`);
} finally {
  await rm(work, { recursive: true, force: true });
}

/** The container section, or why it was not measured when nothing asked for it and no engine answers. */
async function containerSection(): Promise<ContainerFigures | { notMeasured: string }> {
  const samples = QUICK ? { start: 1, acquire: 3 } : { start: 5, acquire: 20 };
  const required = only?.includes('container') || process.env.TENANTKIT_REQUIRE_CONTAINER === '1';
  try {
    return await measureContainer(migrationsDir, samples);
  } catch (error) {
    if (required || (error as { code?: string }).code !== 'TENANTKIT_CONTAINER_RUNTIME_UNAVAILABLE') throw error;
    return { notMeasured: error instanceof Error ? error.message : String(error) };
  }
}

function printContainer(figures: ContainerFigures | { notMeasured: string }): void {
  if ('notMeasured' in figures) return void console.log(`container: not measured: ${figures.notMeasured}`);
  for (const [label, entry] of Object.entries(figures.backends)) {
    console.log(line(`container.${label}.start (${/^PostgreSQL [\d.]+/.exec(entry.serverVersion)?.[0] ?? entry.serverVersion})`, entry.startMs));
    console.log(line(`container.${label}.templateBuild`, entry.templateBuildMs));
    console.log(line(`container.${label}.acquireFirstQuery`, entry.acquireFirstQueryMs));
  }
}

function printMutation(entry: MutationFigure): void {
  console.log(
    `mutation.${entry.backend}: ${entry.policies} policies x ${entry.tests} tests, ${entry.jobs} jobs: ${Math.round(entry.wallMs / 100) / 10} s for ${entry.mutants} mutants (${entry.killed} killed, ${entry.survived} survived, ${entry.notRun} not run; unmutated suite ${Math.round(entry.baselineMs)} ms)`,
  );
}

function printLarge(entry: LargeFigure): void {
  const what = `large.${entry.backend}.${entry.tables} (${entry.layout})`;
  if (!entry.ok) return void console.log(`${what}: FAILED ${entry.code}: ${entry.message}`);
  console.log(line(`${what} audit`, entry.auditMs!));
  console.log(line(`${what} seed`, entry.seedMs!));
  console.log(`${what}: peak RSS ${entry.maxRssMb} MB`);
}


