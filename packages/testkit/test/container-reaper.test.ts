import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { getContainerRuntimeClient } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CONTAINER_HOST_LABEL,
  CONTAINER_OWNER,
  CONTAINER_OWNER_LABEL,
  CONTAINER_PID_LABEL,
  containerImage,
  probeContainerRuntime,
} from '../src/backends/container/container-endpoint.js';
import { type Kit, startKit } from '../src/kit.js';
import { KIT_MIGRATIONS } from './helpers.js';

// Gated as test/container-backend.test.ts is: required in CI, run wherever DOCKER_HOST is set.
const required = process.env.TENANTKIT_REQUIRE_CONTAINER === '1';
const enabled = required || Boolean(process.env.DOCKER_HOST);

const CHILD = fileURLToPath(new URL('./fixtures/container/start-kit.mjs', import.meta.url));

/**
 * The machine this file's kits say they run on. Kits of other test files running meanwhile reap the
 * orphans of the real host name as soon as they start, which is the behaviour under test but would
 * take the orphan before this test has looked at it; under a name of its own, only this file's
 * kits reap it.
 */
const HOST = `${os.hostname()}-reaper-test-${randomUUID().slice(0, 8)}`;

/** A kit in its own Node process; resolves with its pid once the kit is ready. */
function launchKitProcess(): { child: ChildProcess; ready: Promise<number> } {
  // kit.ts has constructor parameter properties, which need transforming, not just type stripping.
  const child = spawn(
    process.execPath,
    ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', CHILD, JSON.stringify({ kit: { migrations: KIT_MIGRATIONS }, hostname: HOST })],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TENANTKIT_QUIET: '1' } },
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve((JSON.parse(stdout.split('\n')[0]!) as { pid: number }).pid);
    });
    child.on('exit', (code, signal) => reject(new Error(`the kit process ended (${code ?? signal}) before it was ready: ${stderr}`)));
  });
  return { child, ready };
}

describe.skipIf(!enabled)('container reaper (runs with TENANTKIT_REQUIRE_CONTAINER=1 or DOCKER_HOST set)', () => {
  const bystanders: string[] = [];
  let kit: Kit | undefined;
  let child: ChildProcess | undefined;
  const realHostname = os.hostname;

  beforeAll(() => {
    os.hostname = () => HOST;
  });
  afterAll(async () => {
    child?.kill('SIGKILL');
    await kit?.stop();
    os.hostname = realHostname;
    const client = await getContainerRuntimeClient().catch(() => undefined);
    for (const id of bystanders) await client?.container.dockerode.getContainer(id).remove({ force: true, v: true }).catch(() => {});
  });

  test('a killed test process leaves its container; the next kit removes it and nothing else', async () => {
    await probeContainerRuntime();
    const docker = (await getContainerRuntimeClient()).container.dockerode;
    const image = containerImage({});
    /** A long sleep in the same image, with the given labels: no server, nothing for the kit. */
    const sleeper = async (labels: Record<string, string>): Promise<string> => {
      const created = await docker.createContainer({ Image: image, Entrypoint: ['sleep'], Cmd: ['600'], Labels: labels });
      bystanders.push(created.id);
      await created.start();
      return created.id;
    };
    const state = async (id: string): Promise<string | undefined> => {
      const [found] = await docker.listContainers({ all: true, filters: { id: [id] } });
      return found?.State;
    };

    const launched = launchKitProcess();
    child = launched.child;
    const pid = await launched.ready;
    const ofChild = { label: [`${CONTAINER_OWNER_LABEL}=${CONTAINER_OWNER}`, `${CONTAINER_PID_LABEL}=${pid}`] };
    const [orphan] = await docker.listContainers({ all: true, filters: ofChild });
    expect(orphan).toMatchObject({ State: 'running', Labels: { [CONTAINER_HOST_LABEL]: HOST } });

    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    // No Ryuk here, and nothing ran in the killed process: the container stays behind.
    expect(await state(orphan!.Id)).toBe('running');

    // Not the kit's: no labels at all.
    const unlabelled = await sleeper({});
    // The kit's labels, the same dead process id, but another machine's: that pid means nothing here.
    const otherHost = await sleeper({ [CONTAINER_OWNER_LABEL]: CONTAINER_OWNER, [CONTAINER_PID_LABEL]: String(pid), [CONTAINER_HOST_LABEL]: `${HOST}-elsewhere` });

    kit = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS });
    expect(await state(orphan!.Id)).toBeUndefined();
    expect(await state(unlabelled)).toBe('running');
    expect(await state(otherHost)).toBe('running');
    // The live kit's own container is left alone by the next kit's reaper too.
    const own = await docker.listContainers({ all: true, filters: { label: [`${CONTAINER_PID_LABEL}=${process.pid}`] } });
    expect(own.map((each) => each.State)).toEqual(['running']);
    const second = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS });
    try {
      expect((await docker.listContainers({ all: true, filters: { id: [own[0]!.Id] } })).map((each) => each.State)).toEqual(['running']);
    } finally {
      await second.stop();
    }
  });
});
