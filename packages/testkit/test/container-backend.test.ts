import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { getContainerRuntimeClient } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  CONTAINER_HOST_LABEL,
  CONTAINER_OWNER,
  CONTAINER_OWNER_LABEL,
  CONTAINER_PID_LABEL,
  CONTAINER_REUSE_LABEL,
  containerImage,
  probeContainerRuntime,
} from '../src/backends/container/container-endpoint.js';
import { ContainerImageUnavailableError, InvalidOptionError, ServerStartFailedError } from '../src/errors.js';
import { type Kit, startKit } from '../src/kit.js';
import { ACME, GLOBEX, KIT_MIGRATIONS, seed } from './helpers.js';

// CI sets TENANTKIT_REQUIRE_CONTAINER=1 (after scripts/container-engine.sh start): there an engine
// that does not answer fails the file with the reason. A DOCKER_HOST says an engine is meant to be
// there, so it runs the file as well. With neither, the tests are reported as skipped under a title
// that says how to run them; test/errors.test.ts covers the named failure when no runtime answers.
const execFileAsync = promisify(execFile);
const required = process.env.TENANTKIT_REQUIRE_CONTAINER === '1';
const enabled = required || Boolean(process.env.DOCKER_HOST);

/** The containers this process's kits started, as the engine lists them (running or not). */
async function ownContainers(): Promise<{ Id: string; Image: string; State: string; Labels: Record<string, string> }[]> {
  const client = await getContainerRuntimeClient();
  return client.container.dockerode.listContainers({
    all: true,
    filters: { label: [`${CONTAINER_OWNER_LABEL}=${CONTAINER_OWNER}`, `${CONTAINER_PID_LABEL}=${process.pid}`] },
  });
}

describe.skipIf(!enabled)('backend container (runs with TENANTKIT_REQUIRE_CONTAINER=1 or DOCKER_HOST set)', () => {
  let kit: Kit;
  let stopped = false;

  beforeAll(async () => {
    // Not answering is a failure here, with the runtime's reason in the message.
    await probeContainerRuntime();
    kit = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS });
  });
  afterAll(async () => {
    if (kit && !stopped) await kit.stop();
  });

  test('runs the configured image, labelled as the kit\'s, reached on loopback', async () => {
    expect(kit.backend.kind).toBe('container');
    expect(kit.backend.serverVersion).toMatch(/^PostgreSQL \d+\.\d+/);
    // The locally built image carries its major version in its tag.
    const major = /tenantkit-postgres:(\d+)-/.exec(containerImage({}))?.[1];
    if (major) expect(kit.backend.serverVersion).toMatch(new RegExp(`^PostgreSQL ${major}\\.`));
    expect(kit.backend.capabilities).toMatchObject({ keepsFailedDatabases: true, realLoginRoles: true });
    expect(kit.isolation).toBe('database');
    expect(kit.template.migrations).toBe(2);

    const containers = await ownContainers();
    expect(containers).toHaveLength(1);
    expect(containers[0]).toMatchObject({ State: 'running', Image: expect.stringContaining(containerImage({}).replace(/^docker\.io\//, '')) });
    expect(containers[0]!.Labels).toMatchObject({ [CONTAINER_HOST_LABEL]: os.hostname() });
    expect(containers[0]!.Labels[CONTAINER_REUSE_LABEL]).toBeUndefined();

    // The published port listens on loopback only, as the engine reports it.
    const client = await getContainerRuntimeClient();
    const inspected = await client.container.dockerode.getContainer(containers[0]!.Id).inspect();
    const published = inspected.NetworkSettings.Ports['5432/tcp'] ?? [];
    expect(published.length).toBeGreaterThan(0);
    for (const binding of published) expect(binding.HostIp).toBe('127.0.0.1');
    for (const binding of inspected.HostConfig.PortBindings['5432/tcp'] ?? []) expect(binding.HostIp).toBe('127.0.0.1');

    // Data in memory, and the native backend's room for connections and locks.
    expect(Object.keys(inspected.HostConfig.Tmpfs ?? {})).toEqual(['/var/lib/postgresql/data']);

    await using db = await kit.acquire();
    const { rows: settings } = await db.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('data_directory', 'fsync', 'max_connections', 'max_locks_per_transaction') ORDER BY name`,
    );
    expect(settings).toEqual([
      { name: 'data_directory', setting: '/var/lib/postgresql/data' },
      { name: 'fsync', setting: 'off' },
      { name: 'max_connections', setting: '200' },
      { name: 'max_locks_per_transaction', setting: '512' },
    ]);
    if (process.env.TESTCONTAINERS_HOST_OVERRIDE) expect(new URL(db.url!).hostname).toBe(process.env.TESTCONTAINERS_HOST_OVERRIDE);
    expect(new URL(db.url!).port).toBe(published[0]!.HostPort);
  });

  test('three identities: admin, the owner of the tables, and a plain app login', async () => {
    await using db = await kit.acquire();
    const { rows } = await db.app.query<{ current_user: string; session_user: string }>('SELECT current_user, session_user');
    expect(rows[0]).toEqual({ current_user: 'tk_app', session_user: 'tk_app' });
    const { rows: role } = await db.query<{ rolsuper: boolean; rolbypassrls: boolean; owned: number }>(
      `SELECT rolsuper, rolbypassrls, (SELECT count(*)::int FROM pg_class WHERE relowner = r.oid) AS owned
         FROM pg_roles r WHERE rolname = 'tk_app'`,
    );
    expect(role[0]).toEqual({ rolsuper: false, rolbypassrls: false, owned: 0 });
    const { rows: owner } = await db.owner.query<{ tableowner: string }>(`SELECT tableowner FROM pg_tables WHERE tablename = 'documents'`);
    expect(owner[0]?.tableowner).toBe('tk_owner');
    await expect(db.app.query('SET ROLE tk_owner')).rejects.toMatchObject({ code: '42501' });
  });

  test('the app role reads its own tenant\'s rows and never the other tenant\'s', async () => {
    await using db = await kit.acquire();
    await seed(db);
    const acme = await db.app.withTenant(ACME, async (tx) => (await tx.query<{ title: string }>('SELECT title FROM documents ORDER BY title')).rows);
    expect(acme.map((row) => row.title)).toEqual(['a1', 'a2']);
    const globexFromAcme = await db.app.withTenant(ACME, async (tx) => (await tx.query('SELECT title FROM documents WHERE tenant_id = $1', [GLOBEX])).rows);
    expect(globexFromAcme).toEqual([]);
    expect((await db.app.query('SELECT * FROM documents')).rows).toHaveLength(0);
    expect((await db.query('SELECT * FROM documents')).rows).toHaveLength(3);
  });

  test('each test gets its own clone of the template', async () => {
    const first = await kit.acquire();
    await seed(first);
    const { rows: firstName } = await first.query<{ name: string }>('SELECT current_database() AS name');
    await first.release();
    await using second = await kit.acquire();
    const { rows: secondName } = await second.query<{ name: string }>('SELECT current_database() AS name');
    expect(secondName[0]?.name).not.toBe(firstName[0]?.name);
    expect((await second.query('SELECT * FROM tenants')).rows).toHaveLength(0);
    expect((await second.query('SELECT plan_id FROM plans ORDER BY 1')).rows).toEqual([{ plan_id: 'free' }, { plan_id: 'pro' }]);
    const { rows: template } = await second.query<{ datistemplate: boolean }>('SELECT datistemplate FROM pg_database WHERE datname = $1', [kit.template.name]);
    expect(template).toEqual([{ datistemplate: true }]);
  });

  // Last: the kit is gone after it.
  test('stop() removes the container', async () => {
    stopped = true;
    await kit.stop();
    expect(await ownContainers()).toEqual([]);
  });
});

describe.skipIf(!enabled)('backend container: image and reuse (runs with TENANTKIT_REQUIRE_CONTAINER=1 or DOCKER_HOST set)', () => {
  test('an image the engine does not have and cannot pull fails with a named error naming it and the fix', async () => {
    const image = 'localhost/tenantkit-no-such-image:0';
    const startedAt = performance.now();
    const error = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS, container: { image } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ContainerImageUnavailableError);
    expect(error).toMatchObject({ code: 'TENANTKIT_CONTAINER_IMAGE_UNAVAILABLE', object: image });
    const message = (error as Error).message;
    expect(message).toContain(`Container image "${image}" is not on the container engine and could not be pulled: `);
    expect(message).toContain('scripts/container-engine.sh image');
    expect(message).toContain('TENANTKIT_CONTAINER_IMAGE');
    expect(message).toContain('container.image');
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(performance.now() - startedAt).toBeLessThan(30_000);
  });

  test('an image that is there but cannot start a server fails with TENANTKIT_SERVER_START_FAILED naming it', async () => {
    // An image with nothing in it, whose command does not exist: the engine has it, the container cannot start.
    const image = `localhost/tenantkit-cannot-start:${process.pid}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tenantkit-empty-image-'));
    const tarball = path.join(dir, 'empty.tar');
    try {
      await execFileAsync('tar', ['-cf', tarball, '-T', '/dev/null']);
      await execFileAsync('podman', ['import', '--change', 'CMD ["/no-such-program"]', tarball, image]);
      const error = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS, container: { image } }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ServerStartFailedError);
      expect(error).toMatchObject({ code: 'TENANTKIT_SERVER_START_FAILED', object: `the PostgreSQL container ${image}` });
      expect((error as Error).message).toContain(`${CONTAINER_OWNER_LABEL}=${CONTAINER_OWNER}`);
      expect((error as Error).cause).toBeInstanceOf(Error);
    } finally {
      const client = await getContainerRuntimeClient();
      const left = await client.container.dockerode.listContainers({ all: true, filters: { ancestor: [image] } });
      for (const container of left) await client.container.dockerode.getContainer(container.Id).remove({ force: true });
      await execFileAsync('podman', ['rmi', '--force', image]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('container options are checked before anything starts', async () => {
    const start = (container: object) => startKit({ backend: 'container', migrations: KIT_MIGRATIONS, container }).catch((caught: unknown) => caught);
    expect(await start({ image: ' ' })).toMatchObject({ code: 'TENANTKIT_INVALID_OPTION', object: 'container.image' });
    expect(await start({ reuse: 'yes' })).toMatchObject({ code: 'TENANTKIT_INVALID_OPTION', object: 'container.reuse' });
  });

  test('reuse is refused, with the reason, while testcontainers has it turned off', async () => {
    const before = process.env.TESTCONTAINERS_REUSE_ENABLE;
    process.env.TESTCONTAINERS_REUSE_ENABLE = 'false';
    try {
      const error = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS, container: { reuse: true } }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toContain('TESTCONTAINERS_REUSE_ENABLE=false');
    } finally {
      if (before === undefined) delete process.env.TESTCONTAINERS_REUSE_ENABLE;
      else process.env.TESTCONTAINERS_REUSE_ENABLE = before;
    }
  });

  test('reuse: the container outlives the kit, the next kit attaches to it and its template', async () => {
    if (process.env.TESTCONTAINERS_REUSE_ENABLE === 'false') throw new Error('TESTCONTAINERS_REUSE_ENABLE=false turns reuse off: unset it to run this test');
    const client = await getContainerRuntimeClient();
    const reusable = () =>
      client.container.dockerode.listContainers({
        all: true,
        filters: { label: [`${CONTAINER_OWNER_LABEL}=${CONTAINER_OWNER}`, `${CONTAINER_HOST_LABEL}=${os.hostname()}`, `${CONTAINER_REUSE_LABEL}=true`] },
      });
    const seen = new Set<string>();
    try {
      const first = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS, container: { reuse: true } });
      const running = await reusable();
      for (const each of running) seen.add(each.Id);
      expect(running.filter((each) => each.State === 'running')).toHaveLength(1);
      // Kept for reuse: no process id, so the reaper never takes it for an orphan.
      expect(running[0]!.Labels[CONTAINER_PID_LABEL]).toBeUndefined();
      await first.stop();
      expect((await reusable()).map((each) => [each.Id, each.State])).toEqual([[running[0]!.Id, 'running']]);

      const second = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS, container: { reuse: true } });
      try {
        expect(second.template).toMatchObject({ name: first.template.name, built: false });
        expect((await reusable()).map((each) => each.Id)).toEqual([running[0]!.Id]);
        await using db = await second.acquire();
        expect((await db.query('SELECT plan_id FROM plans ORDER BY 1')).rows).toEqual([{ plan_id: 'free' }, { plan_id: 'pro' }]);
      } finally {
        await second.stop();
      }
    } finally {
      for (const each of await reusable()) seen.add(each.Id);
      for (const id of seen) await client.container.dockerode.getContainer(id).remove({ force: true, v: true }).catch(() => {});
    }
  });
});
