import { ContainerRuntimeUnavailableError } from '../../errors.js';
import { importPeer } from '../../peer.js';
import { elapsedMs, formatMs, progress } from '../../progress.js';
import type { ServerEndpoint } from '../../server/server-backend.js';

export interface ContainerBackendOptions {
  /** Default TENANTKIT_CONTAINER_IMAGE, else the official image (DEFAULT_CONTAINER_IMAGE). */
  readonly image?: string;
}

export const DEFAULT_CONTAINER_IMAGE = 'postgres:17-alpine';
/** Overrides the default image; scripts/container-engine.sh sets it to the image it builds. */
export const CONTAINER_IMAGE_ENV = 'TENANTKIT_CONTAINER_IMAGE';

/**
 * Every container the kit starts carries these labels, so what a killed test process left behind
 * can be found (and removed) without touching anyone else's containers.
 */
export const CONTAINER_OWNER_LABEL = 'dev.tenantkit.owner';
export const CONTAINER_OWNER = 'tenantkit';
export const CONTAINER_PID_LABEL = 'dev.tenantkit.pid';

/** Server settings for a disposable database: durability traded for speed. */
const POSTGRES_COMMAND = ['postgres', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
/**
 * The same trade for the image's initdb (the official image's variable): not flushing the new data
 * directory to disk saves seconds of every container start.
 */
const POSTGRES_ENVIRONMENT = { POSTGRES_INITDB_ARGS: '--no-sync' };

interface TestcontainersModule {
  getContainerRuntimeClient(): Promise<unknown>;
}
interface StartedPostgres {
  getConnectionUri(): string;
  stop(): Promise<unknown>;
}
interface PostgresContainer {
  withCommand(command: string[]): PostgresContainer;
  withEnvironment(environment: Record<string, string>): PostgresContainer;
  withLabels(labels: Record<string, string>): PostgresContainer;
  start(): Promise<StartedPostgres>;
}
interface PostgresModule {
  PostgreSqlContainer: new (image: string) => PostgresContainer;
}

export function containerImage(options: ContainerBackendOptions, env: NodeJS.ProcessEnv = process.env): string {
  return options.image ?? (env[CONTAINER_IMAGE_ENV] || undefined) ?? DEFAULT_CONTAINER_IMAGE;
}

/** The labels of a container started by this process. */
export function containerLabels(pid = process.pid): Record<string, string> {
  return { [CONTAINER_OWNER_LABEL]: CONTAINER_OWNER, [CONTAINER_PID_LABEL]: String(pid) };
}

/**
 * Asks the container runtime first: with none, testcontainers answers in milliseconds, and the
 * kit fails with a named error instead of hanging or skipping.
 */
export async function probeContainerRuntime(): Promise<void> {
  const testcontainers = await importPeer<TestcontainersModule>('testcontainers', 'Backend "container"');
  try {
    await testcontainers.getContainerRuntimeClient();
  } catch (cause) {
    throw new ContainerRuntimeUnavailableError(cause);
  }
}

export async function containerEndpoint(options: ContainerBackendOptions): Promise<ServerEndpoint> {
  await probeContainerRuntime();
  const startedAt = performance.now();
  const { PostgreSqlContainer } = await importPeer<PostgresModule>('@testcontainers/postgresql', 'Backend "container"');
  const image = containerImage(options);
  const container = await new PostgreSqlContainer(image)
    .withCommand(POSTGRES_COMMAND)
    .withEnvironment(POSTGRES_ENVIRONMENT)
    .withLabels(containerLabels())
    .start();
  progress(`container ${image} ready in ${formatMs(elapsedMs(startedAt))}`);
  return {
    kind: 'container',
    adminUrl: container.getConnectionUri(),
    stop: async () => {
      await container.stop();
    },
  };
}
