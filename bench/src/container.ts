// pnpm bench:container: the container backend beside native, in one run, on the bench schema:
// server start, template build and per-test acquisition; writes results/container.json.
// Needs a container engine: DOCKER_HOST (or a local Docker) and TENANTKIT_CONTAINER_IMAGE, e.g.
//   exports="$(scripts/container-engine.sh start)"; eval "$exports"; pnpm --filter @tenantkit/bench bench:container
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kit, type KitOptions, startKit } from '@tenantkit/testkit';
import { findNativeBinaries, probeContainerRuntime } from '@tenantkit/testkit/internal';
import { writeBenchMigrations } from './schema.ts';
import { type Stat, commit, stat, worktreeClean } from './stats.ts';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

const START_SAMPLES = Number(process.env.BENCH_START_SAMPLES ?? 5);
const ACQUIRE_SAMPLES = Number(process.env.BENCH_ACQUIRE_SAMPLES ?? 20);



interface Candidate {
  readonly label: string;
  readonly options: KitOptions;
}

const candidates: Candidate[] = [
  { label: 'native', options: { backend: 'native' } },
  // The system's PostgreSQL, when there is one: the same major version as the local container image.
  ...(await findNativeBinaries('system').then(
    () => [{ label: 'native (system)', options: { backend: 'native' as const, native: { binaries: 'system' as const } } }],
    () => [],
  )),
  { label: 'container', options: { backend: 'container' } },
];

// No engine is a failure with the reason, not a row of blanks.
await probeContainerRuntime();

const work = await mkdtemp(join(tmpdir(), 'tenantkit-bench-container-'));
const migrations = join(work, 'migrations');
const migrationCount = await writeBenchMigrations(migrations);

/**
 * Fresh kits on fresh servers: the time up to the template (server or container start, the admin
 * connection, the run's lock) and the template build itself (every migration, once per server).
 */
async function benchStart(candidate: Candidate): Promise<{ start: Stat; template: Stat; serverVersion: string }> {
  const starts: number[] = [];
  const templates: number[] = [];
  let serverVersion = '';
  for (let i = 0; i < START_SAMPLES; i++) {
    const startedAt = performance.now();
    const kit = await startKit({ ...candidate.options, migrations, poolSize: 0 });
    const total = performance.now() - startedAt;
    try {
      if (!kit.template.built) throw new Error(`${candidate.label}: the template was found, not built: the server was not fresh`);
      templates.push(kit.template.ms);
      starts.push(total - kit.template.ms);
      serverVersion = kit.backend.serverVersion;
    } finally {
      await kit.stop();
    }
  }
  return { start: stat(starts), template: stat(templates), serverVersion };
}

/**
 * What a test waits for at its start: acquire (a clone from the pool) and the first statement as
 * the app role, which opens its connection. The pool is refilled between samples, as a test's own
 * run time lets it refill in the background.
 */
async function benchAcquire(candidate: Candidate): Promise<Stat> {
  const kit: Kit = await startKit({ ...candidate.options, migrations, poolSize: 2 });
  try {
    const samples: number[] = [];
    for (let i = 0; i < ACQUIRE_SAMPLES; i++) {
      await kit.backend.warm(kit.template);
      const startedAt = performance.now();
      const db = await kit.acquire();
      await db.app.query('SELECT 1');
      samples.push(performance.now() - startedAt);
      await db.release();
    }
    return stat(samples);
  } finally {
    await kit.stop();
  }
}



const results: Record<string, { serverVersion: string; startMs: Stat; templateBuildMs: Stat; acquireFirstQueryMs: Stat }> = {};
try {
  for (const candidate of candidates) {
    const started = await benchStart(candidate);
    const acquire = await benchAcquire(candidate);
    results[candidate.label] = { serverVersion: started.serverVersion, startMs: started.start, templateBuildMs: started.template, acquireFirstQueryMs: acquire };
    console.log(
      `${candidate.label.padEnd(16)} ${started.serverVersion.padEnd(18)} start p50 ${started.start.p50} ms (p95 ${started.start.p95}), ` +
        `template p50 ${started.template.p50} ms (p95 ${started.template.p95}), acquire + first query p50 ${acquire.p50} ms (p95 ${acquire.p95})`,
    );
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

const output = {
  commit,
  worktreeClean,
  measuredAt: new Date().toISOString(),
  node: process.version,
  image: process.env.TENANTKIT_CONTAINER_IMAGE ?? null,
  schema: { tables: 31, migrations: migrationCount },
  samples: { start: START_SAMPLES, template: START_SAMPLES, acquire: ACQUIRE_SAMPLES },
  backends: results,
};
await writeFile(new URL('../results/container.json', import.meta.url), `${JSON.stringify(output, null, 2)}\n`);
console.log('wrote results/container.json');
