import { execFile } from 'node:child_process';
import { type Socket, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { probeContainerRuntime } from '../src/backends/container/container-endpoint.js';
import type { NativeServer } from '../src/backends/native/native-server.js';
import { startNativeServer } from '../src/backends/native/native-server.js';
import { ContainerRuntimeUnavailableError, MigrationFailedError, TenantkitError } from '../src/errors.js';
import { resolveMigrator, resolveRoles, startKit, templateKey } from '../src/kit.js';
import { connectPg } from '../src/session/pg-session.js';
import { KIT_MIGRATIONS } from './helpers.js';

const BROKEN = fileURLToPath(new URL('./fixtures/broken-migrations', import.meta.url));
const START_FAILURE = fileURLToPath(new URL('./fixtures/container/start-failure.mjs', import.meta.url));
const execFileAsync = promisify(execFile);

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return (error as TenantkitError).code;
  }
}

describe('configuration errors', () => {
  test('an unknown backend names where it came from and the choices', async () => {
    process.env.TENANTKIT_BACKEND = 'sqlite';
    try {
      await expect(startKit({ migrations: KIT_MIGRATIONS })).rejects.toMatchObject({
        code: 'TENANTKIT_UNKNOWN_BACKEND',
        message: expect.stringMatching(/"sqlite" \(from TENANTKIT_BACKEND\).*pglite, native, url, container/),
      });
    } finally {
      delete process.env.TENANTKIT_BACKEND;
    }
  });

  test('missing migrations are named', async () => {
    expect(await codeOf(startKit({ migrations: '/nonexistent/migrations' }))).toBe('TENANTKIT_MIGRATIONS_NOT_FOUND');
    expect(await codeOf(startKit({}))).toBe('TENANTKIT_INVALID_OPTION');
  });

  test('a remote host is refused before any connection', async () => {
    const error = await startKit({ backend: 'url', url: 'postgres://u:p@db.example.com:5432/postgres', migrations: KIT_MIGRATIONS }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TENANTKIT_REMOTE_HOST_REFUSED', object: 'db.example.com' });
    expect((error as Error).message).toContain('allowRemote: true');
  });

  test('an unreachable server says how to start one', async () => {
    const error = await startKit({ backend: 'url', url: 'postgres://u:p@127.0.0.1:1/postgres', migrations: KIT_MIGRATIONS }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TENANTKIT_SERVER_UNREACHABLE' });
    expect((error as Error).message).toMatch(/native.*pglite/);
  });

  test('a connection the server does not take comes out of connectPg as the named error, said once', async () => {
    const refused = await connectPg('postgres://u:p@127.0.0.1:1/postgres').catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'TENANTKIT_SERVER_UNREACHABLE', object: '127.0.0.1:1/postgres' });
    expect((refused as Error).message.match(/Cannot connect/g)).toHaveLength(1);
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket.on('error', () => {})));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const timedOut = await connectPg(`postgres://u:p@127.0.0.1:${port}/postgres?connect_timeout=1`).catch((e: unknown) => e);
      expect(timedOut).toMatchObject({ code: 'TENANTKIT_SERVER_UNREACHABLE' });
      expect((timedOut as Error).message).toContain('no answer within 1000 ms (connect_timeout');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('the container backend fails fast and names the alternatives when no runtime answers', async () => {
    const runtime = await probeContainerRuntime().then(
      () => 'present',
      (error: unknown) => error,
    );
    if (runtime === 'present') {
      await using kit = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS });
      await using db = await kit.acquire();
      expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      return;
    }
    expect(runtime).toBeInstanceOf(ContainerRuntimeUnavailableError);
    const startedAt = performance.now();
    const error = await startKit({ backend: 'container', migrations: KIT_MIGRATIONS }).catch((e: unknown) => e);
    const ms = performance.now() - startedAt;
    expect(error).toMatchObject({ code: 'TENANTKIT_CONTAINER_RUNTIME_UNAVAILABLE' });
    expect((error as Error).message).toMatch(/"native".*"url".*"pglite"/);
    expect(ms).toBeLessThan(1000);
  });

  // The test above sees an engine wherever one answers (CI starts one), so the fast failure is also
  // shown in a process of its own whose DOCKER_HOST names a socket nobody listens on.
  test('with DOCKER_HOST naming a socket nobody listens on, the container backend fails fast with the named error', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${path.join(os.tmpdir(), `tenantkit-no-engine-${process.pid}.sock`)}` };
    for (const name of Object.keys(env)) if (name.startsWith('TESTCONTAINERS_') && name !== 'TESTCONTAINERS_RYUK_DISABLED') delete env[name];
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', START_FAILURE, JSON.stringify({ migrations: KIT_MIGRATIONS })],
      { env, timeout: 60_000 },
    );
    const outcome = JSON.parse(stdout.trim().split('\n').pop()!) as { ok: boolean; code: string | null; message: string; ms: number };
    expect(outcome).toMatchObject({ ok: false, code: 'TENANTKIT_CONTAINER_RUNTIME_UNAVAILABLE' });
    expect(outcome.message).toMatch(/"native".*"url".*"pglite"/);
    expect(outcome.ms).toBeLessThan(5_000);
  });
});

describe.each(['pglite', 'native'] as const)('a failing migration on %s', (backend) => {
  test('reports file, line and column and the offending line', async () => {
    const error = await startKit({ backend, migrations: BROKEN }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationFailedError);
    const failed = error as MigrationFailedError;
    expect(failed.location?.file).toMatch(/0002_broken\.up\.sql$/);
    expect(failed.location?.line).toBe(5);
    expect(failed.location?.column).toBe(8);
    expect(failed.location?.sourceLine).toContain('name txet NOT NULL');
    expect(failed.message).toMatch(/0002_broken\.up\.sql:5:8.*type "txet" does not exist/);
  });
});

describe('a server the kit does not own', () => {
  let server: NativeServer;
  beforeAll(async () => {
    server = await startNativeServer({});
    const admin = await connectPg(server.adminUrl);
    await admin.exec(`CREATE ROLE limited LOGIN PASSWORD 'limited'`);
    await admin.close();
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('a role without CREATEDB and CREATEROLE is told what to grant', async () => {
    const url = new URL(server.adminUrl);
    url.username = 'limited';
    url.password = 'limited';
    const error = await startKit({ backend: 'url', url: url.toString(), migrations: KIT_MIGRATIONS }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TENANTKIT_INSUFFICIENT_PRIVILEGES', object: 'limited' });
    expect((error as Error).message).toContain('ALTER ROLE limited CREATEDB CREATEROLE');
  });

  test('roles without the kit prefix are not created on a shared server', async () => {
    expect(await codeOf(startKit({ backend: 'url', url: server.adminUrl, migrations: KIT_MIGRATIONS, roles: { app: 'webapp' } }))).toBe(
      'TENANTKIT_ROLE_CONFLICT',
    );
  });

  test('a template another process holds the build lock on times out with a named error', async () => {
    const options = { migrations: KIT_MIGRATIONS };
    const key = await templateKey(resolveMigrator(options), resolveRoles(options));
    const holder = await connectPg(server.adminUrl);
    try {
      await holder.query('SELECT pg_advisory_lock($1, hashtext($2))', [0x746b, `template:tk_tpl_${key}`]);
      const error = await startKit({ backend: 'url', url: server.adminUrl, ...options, templateLockTimeoutMs: 300 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'TENANTKIT_TEMPLATE_LOCK_TIMEOUT', object: `tk_tpl_${key}` });
    } finally {
      await holder.close();
    }
  });

  test('a failed test keeps its database when asked, and prints where it is', async () => {
    await using kit = await startKit({ backend: 'url', url: server.adminUrl, migrations: KIT_MIGRATIONS, keepFailed: true });
    const db = await kit.acquire();
    await db.query(`INSERT INTO tenants (tenant_id, name) VALUES (gen_random_uuid(), 'evidence')`);
    await db.release({ failed: true });
    const kept = await connectPg(db.url!);
    try {
      expect((await kept.query('SELECT name FROM tenants')).rows).toEqual([{ name: 'evidence' }]);
    } finally {
      await kept.close();
    }
    const admin = await connectPg(server.adminUrl);
    await admin.exec(`DROP DATABASE ${db.name} WITH (FORCE)`);
    await admin.close();
  });
});
