import os from 'node:os';
import { processRunning } from '../../process-state.js';

/**
 * Every container the kit starts carries these labels, so what a killed test process left behind
 * can be found (and removed) without touching anyone else's containers.
 */
export const CONTAINER_OWNER_LABEL = 'dev.tenantkit.owner';
export const CONTAINER_OWNER = 'tenantkit';
/** The process that started the container; absent on a container kept for reuse. */
export const CONTAINER_PID_LABEL = 'dev.tenantkit.pid';
/** The machine of that process: a pid means nothing on another host sharing the engine. */
export const CONTAINER_HOST_LABEL = 'dev.tenantkit.host';
/** On a container kept running between runs (option container.reuse); the reaper leaves it alone. */
export const CONTAINER_REUSE_LABEL = 'dev.tenantkit.reuse';

export interface ContainerSummary {
  readonly Id: string;
  readonly Labels?: Record<string, string>;
}

/** The part of the Docker API (dockerode, as testcontainers exposes it) the reaper uses. */
export interface DockerApi {
  listContainers(options: { all: boolean; filters: { label: string[] } }): Promise<ContainerSummary[]>;
  getContainer(id: string): { remove(options: { force: boolean; v: boolean }): Promise<unknown> };
}

/**
 * Removes the containers that processes of this host started and did not stop because they died
 * (SIGKILL, a crash, a cancelled CI job) without Ryuk to clean up after them: only containers
 * labelled as the kit's, of this host, whose starting process is gone. Unlabelled containers,
 * other hosts' and reusable ones are never touched. Returns how many it removed; never throws.
 */
export async function reapOrphanedContainers(docker: DockerApi, host = os.hostname()): Promise<number> {
  let candidates: ContainerSummary[];
  try {
    candidates = await docker.listContainers({
      all: true,
      filters: { label: [`${CONTAINER_OWNER_LABEL}=${CONTAINER_OWNER}`, `${CONTAINER_HOST_LABEL}=${host}`] },
    });
  } catch {
    return 0;
  }
  let reaped = 0;
  for (const container of candidates) {
    const labels = container.Labels ?? {};
    // The filter is the engine's; the decision is checked here again, label by label.
    if (labels[CONTAINER_OWNER_LABEL] !== CONTAINER_OWNER || labels[CONTAINER_HOST_LABEL] !== host) continue;
    if (labels[CONTAINER_REUSE_LABEL] !== undefined) continue;
    const pid = Number(labels[CONTAINER_PID_LABEL]);
    if (!Number.isInteger(pid) || pid <= 0 || processRunning(pid)) continue;
    try {
      await docker.getContainer(container.Id).remove({ force: true, v: true });
      reaped += 1;
    } catch {
      // Gone already (another process reaped it first) or refused: the others still get their turn.
    }
  }
  return reaped;
}
