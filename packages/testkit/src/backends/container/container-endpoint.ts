import os from 'node:os';
import { ContainerImageUnavailableError, ContainerRuntimeUnavailableError, InvalidOptionError, ServerStartFailedError, messageOf } from '../../errors.js';
import { importPeer } from '../../peer.js';
import { elapsedMs, formatMs, progress } from '../../progress.js';
import type { ServerEndpoint } from '../server/server-engine.js';
import { isLoopbackHost } from '../url/url-endpoint.js';
import {
  CONTAINER_HOST_LABEL,
  CONTAINER_OWNER,
  CONTAINER_OWNER_LABEL,
  CONTAINER_PID_LABEL,
  CONTAINER_REUSE_LABEL,
  type DockerApi,
  reapOrphanedContainers,
} from './container-reaper.js';

export {
  CONTAINER_HOST_LABEL,
  CONTAINER_OWNER,
  CONTAINER_OWNER_LABEL,
  CONTAINER_PID_LABEL,
  CONTAINER_REUSE_LABEL,
  reapOrphanedContainers,
} from './container-reaper.js';

export interface ContainerBackendOptions {
  /** Default TENANTKIT_CONTAINER_IMAGE, else the official image (DEFAULT_CONTAINER_IMAGE). */
  readonly image?: string;
  /**
   * Keep the container running when the kit stops and attach to it again on the next run
   * (testcontainers' withReuse), templates included: a run after the first skips the container
   * start and the migrations. Stop it yourself when done: `docker rm -f $(docker ps -q --filter
   * label=dev.tenantkit.reuse)`. Refused while TESTCONTAINERS_REUSE_ENABLE=false, which turns
   * reuse off in testcontainers. Default false.
   */
  readonly reuse?: boolean;
}

export const DEFAULT_CONTAINER_IMAGE = 'postgres:17-alpine';
/** Overrides the default image; scripts/container-engine.sh sets it to the image it builds. */
export const CONTAINER_IMAGE_ENV = 'TENANTKIT_CONTAINER_IMAGE';
/** testcontainers' switch for reuse: "false" turns withReuse() into a plain start. */
const REUSE_ENABLE_ENV = 'TESTCONTAINERS_REUSE_ENABLE';
const LOOPBACK = '127.0.0.1';

/**
 * Server settings for a disposable database: durability traded for speed, and room for the
 * connections and locks of a test run (the native backend's defaults).
 */
const POSTGRES_COMMAND = [
  'postgres',
  ...['fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=200', 'max_locks_per_transaction=512'].flatMap((setting) => ['-c', setting]),
];
/**
 * The data directory, in memory: a test server's data is thrown away with it, and the container's
 * layered file system makes every template build and clone slower. Named explicitly (the official
 * image's PGDATA) so images whose default lies elsewhere use the memory too.
 */
const POSTGRES_DATA = '/var/lib/postgresql/data';
/**
 * The same trade for the image's initdb (the official image's variable): not flushing the new data
 * directory to disk saves seconds of every container start.
 */
const POSTGRES_ENVIRONMENT = { POSTGRES_INITDB_ARGS: '--no-sync', PGDATA: POSTGRES_DATA };

interface RuntimeClient {
  readonly info: { readonly containerRuntime: { readonly host: string } };
  readonly image: { exists(name: unknown): Promise<boolean> };
  readonly container: { readonly dockerode: DockerApi };
}
interface TestcontainersModule {
  getContainerRuntimeClient(): Promise<RuntimeClient>;
  ImageName: { fromString(image: string): unknown };
}
interface StartedPostgres {
  getConnectionUri(): string;
  stop(): Promise<unknown>;
}
interface PortBinding {
  HostIp?: string;
  HostPort?: string;
}
interface PostgresContainer {
  /** testcontainers' host configuration, filled in by the with* methods before the container is created. */
  hostConfig: { PortBindings?: Record<string, PortBinding[]> };
  beforeContainerCreated?(): Promise<void>;
  withCommand(command: string[]): PostgresContainer;
  withEnvironment(environment: Record<string, string>): PostgresContainer;
  withLabels(labels: Record<string, string>): PostgresContainer;
  withTmpFs(mounts: Record<string, string>): PostgresContainer;
  withReuse(): PostgresContainer;
  start(): Promise<StartedPostgres>;
}
type PostgresContainerClass = new (image: string) => PostgresContainer;
interface PostgresModule {
  PostgreSqlContainer: PostgresContainerClass;
}

export function containerImage(options: ContainerBackendOptions, env: NodeJS.ProcessEnv = process.env): string {
  return options.image ?? (env[CONTAINER_IMAGE_ENV] || undefined) ?? DEFAULT_CONTAINER_IMAGE;
}

/**
 * The labels of a container the kit starts: owner and host always; the starting process's pid,
 * which lets the reaper remove the container once that process is gone, unless it is kept for reuse.
 * A reusable container's labels are part of testcontainers' reuse hash, so they must not vary by run.
 */
export function containerLabels(pid = process.pid, reuse = false): Record<string, string> {
  return {
    [CONTAINER_OWNER_LABEL]: CONTAINER_OWNER,
    [CONTAINER_HOST_LABEL]: os.hostname(),
    ...(reuse ? { [CONTAINER_REUSE_LABEL]: 'true' } : { [CONTAINER_PID_LABEL]: String(pid) }),
  };
}

async function runtimeClient(): Promise<{ testcontainers: TestcontainersModule; client: RuntimeClient }> {
  const testcontainers = await importPeer<TestcontainersModule>('testcontainers', 'Backend "container"');
  try {
    return { testcontainers, client: await testcontainers.getContainerRuntimeClient() };
  } catch (cause) {
    throw new ContainerRuntimeUnavailableError(cause);
  }
}

/**
 * Asks the container runtime first: with none, testcontainers answers in milliseconds, and the
 * kit fails with a named error instead of hanging or skipping.
 */
export async function probeContainerRuntime(): Promise<void> {
  await runtimeClient();
}

/**
 * PostgreSqlContainer whose published port listens on 127.0.0.1 only. testcontainers' port options
 * take no host address, so the binding is narrowed in its hook that runs just before the
 * container is created, once every option has filled in the bindings.
 */
function loopbackContainerClass(Base: PostgresContainerClass): PostgresContainerClass {
  return class LoopbackPostgreSqlContainer extends Base {
    override async beforeContainerCreated(): Promise<void> {
      await super.beforeContainerCreated?.();
      const bindings = this.hostConfig.PortBindings ?? {};
      for (const [port, list] of Object.entries(bindings)) bindings[port] = list.map((binding) => ({ ...binding, HostIp: LOOPBACK }));
      this.hostConfig.PortBindings = bindings;
    }
  };
}

export async function containerEndpoint(options: ContainerBackendOptions): Promise<ServerEndpoint> {
  if (options.image !== undefined && (typeof options.image !== 'string' || options.image.trim() === '')) {
    throw new InvalidOptionError('container.image', `${JSON.stringify(options.image)} is not an image name. Pass one such as "postgres:17-alpine", or leave it out for TENANTKIT_CONTAINER_IMAGE or the default.`);
  }
  if (options.reuse !== undefined && typeof options.reuse !== 'boolean') {
    throw new InvalidOptionError('container.reuse', `${JSON.stringify(options.reuse)} is not true or false.`);
  }
  const reuse = options.reuse ?? false;
  if (reuse && process.env[REUSE_ENABLE_ENV] === 'false') {
    throw new InvalidOptionError(
      'container.reuse',
      `${REUSE_ENABLE_ENV}=false turns container reuse off in testcontainers, so the container would be started anew and then left running. Unset ${REUSE_ENABLE_ENV}, or leave reuse out.`,
    );
  }
  const { testcontainers, client } = await runtimeClient();
  const reaped = await reapOrphanedContainers(client.container.dockerode);
  if (reaped > 0) progress(`removed ${reaped} container(s) left behind by test processes that no longer run`);

  const startedAt = performance.now();
  const { PostgreSqlContainer } = await importPeer<PostgresModule>('@testcontainers/postgresql', 'Backend "container"');
  const image = containerImage(options);
  // testcontainers reaches published ports on the engine's host: on a loopback address the engine is
  // on this machine. An engine elsewhere (DOCKER_HOST=tcp://..., docker-in-docker) publishes on its
  // own machine, where its loopback would be out of this process's reach.
  const Container = isLoopbackHost(client.info.containerRuntime.host) ? loopbackContainerClass(PostgreSqlContainer) : PostgreSqlContainer;
  let builder = new Container(image)
    .withCommand(POSTGRES_COMMAND)
    .withEnvironment(POSTGRES_ENVIRONMENT)
    .withTmpFs({ [POSTGRES_DATA]: 'rw' })
    .withLabels(containerLabels(process.pid, reuse));
  if (reuse) builder = builder.withReuse();
  let container: StartedPostgres;
  try {
    container = await builder.start();
  } catch (cause) {
    const present = await client.image.exists(testcontainers.ImageName.fromString(image)).catch(() => true);
    if (!present) throw new ContainerImageUnavailableError(image, cause);
    throw new ServerStartFailedError(
      `the PostgreSQL container ${image}`,
      `${messageOf(cause).trim()} (the engine's log of the container has the server's own output: docker logs, or podman logs, of the container labelled ${CONTAINER_OWNER_LABEL}=${CONTAINER_OWNER})`,
      '',
      cause,
    );
  }
  progress(`container ${image} ${reuse ? 'ready (reusable)' : 'ready'} in ${formatMs(elapsedMs(startedAt))}`);
  return {
    kind: 'container',
    adminUrl: container.getConnectionUri(),
    stop: async () => {
      // A reusable container outlives the kit by design; the next run attaches to it.
      if (!reuse) await container.stop();
    },
  };
}
