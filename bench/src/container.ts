// The container backend beside native on the bench schema: server start, template build and
// per-test acquisition, each backend in turn on fresh servers. Part of `pnpm bench` (section
// "container"); `pnpm --filter @tenantkit/bench bench:container` runs it alone and writes
// results/container.json. Needs a container engine: DOCKER_HOST (or a local Docker) and
// TENANTKIT_CONTAINER_IMAGE, e.g.
//   exports="$(scripts/container-engine.sh start)"; eval "$exports"; pnpm --filter @tenantkit/bench bench:container
import { type Kit, type KitOptions, startKit } from '@tenantkit/testkit';
import { findNativeBinaries, probeContainerRuntime } from '@tenantkit/testkit/internal';
import { type Stat, stat } from './stats.ts';

interface Candidate {
  readonly label: string;
  readonly options: KitOptions;
}

export interface ContainerFigure {
  readonly serverVersion: string;
  readonly startMs: Stat;
  readonly templateBuildMs: Stat;
  readonly acquireFirstQueryMs: Stat;
}

export interface ContainerFigures {
  readonly image: string | null;
  readonly samples: { start: number; template: number; acquire: number };
  readonly backends: Record<string, ContainerFigure>;
}

/**
 * Fresh kits on fresh servers: the time up to the template (server or container start, the admin
 * connection, the run's lock) and the template build itself (every migration, once per server).
 */
async function benchStart(candidate: Candidate, migrations: string, samples: number): Promise<{ start: Stat; template: Stat; serverVersion: string }> {
  const starts: number[] = [];
  const templates: number[] = [];
  let serverVersion = '';
  for (let i = 0; i < samples; i++) {
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
async function benchAcquire(candidate: Candidate, migrations: string, samples: number): Promise<Stat> {
  const kit: Kit = await startKit({ ...candidate.options, migrations, poolSize: 2 });
  try {
    const measured: number[] = [];
    for (let i = 0; i < samples; i++) {
      await kit.backend.warm(kit.template);
      const startedAt = performance.now();
      const db = await kit.acquire();
      await db.app.query('SELECT 1');
      measured.push(performance.now() - startedAt);
      await db.release();
    }
    return stat(measured);
  } finally {
    await kit.stop();
  }
}

/** Measures native (embedded, and the system's PostgreSQL when there is one) and container in turn. */
export async function measureContainer(migrations: string, samples: { start: number; acquire: number }): Promise<ContainerFigures> {
  // No engine is a failure with the reason, not a row of blanks.
  await probeContainerRuntime();
  const candidates: Candidate[] = [
    { label: 'native', options: { backend: 'native' } },
    // The system's PostgreSQL, when there is one: the same major version as the local container image.
    ...(await findNativeBinaries('system').then(
      () => [{ label: 'native (system)', options: { backend: 'native' as const, native: { binaries: 'system' as const } } }],
      () => [],
    )),
    { label: 'container', options: { backend: 'container' } },
  ];
  const backends: Record<string, ContainerFigure> = {};
  for (const candidate of candidates) {
    const started = await benchStart(candidate, migrations, samples.start);
    const acquire = await benchAcquire(candidate, migrations, samples.acquire);
    backends[candidate.label] = { serverVersion: started.serverVersion, startMs: started.start, templateBuildMs: started.template, acquireFirstQueryMs: acquire };
  }
  return { image: process.env.TENANTKIT_CONTAINER_IMAGE ?? null, samples: { start: samples.start, template: samples.start, acquire: samples.acquire }, backends };
}
