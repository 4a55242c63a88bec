import { ContainerRuntimeUnavailableError } from '../../errors.js';
import { importPeer } from '../../peer.js';
import { elapsedMs, formatMs, progress } from '../../progress.js';
import type { ServerEndpoint } from '../../server/server-backend.js';

export interface ContainerBackendOptions {
  readonly image?: string;
}

interface TestcontainersModule {
  getContainerRuntimeClient(): Promise<unknown>;
}
interface StartedPostgres {
  getConnectionUri(): string;
  stop(): Promise<unknown>;
}
interface PostgresModule {
  PostgreSqlContainer: new (image: string) => {
    withCommand(command: string[]): { start(): Promise<StartedPostgres> };
  };
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
  const image = options.image ?? 'postgres:17-alpine';
  const container = await new PostgreSqlContainer(image)
    .withCommand(['postgres', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'])
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
