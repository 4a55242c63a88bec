// State files, one per running server, so a later run can stop and remove the servers of a process
// that was killed (SIGKILL leaves no chance to clean up).
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { processExists, processRunning } from '../../process-state.js';
import { DATA_DIR_PREFIX, POLL_INTERVAL_MS, STOP_GRACE_MS, delay, trySignal } from './native-process.js';

// ---------------------------------------------------------------------------------------------
// State files, so a later run can clean up after a process that was killed
// ---------------------------------------------------------------------------------------------

export interface StateRecord {
  readonly ownerPid: number;
  readonly postmasterPid: number | null;
  readonly dataDir: string;
}

export function stateDir(): string {
  return path.join(os.tmpdir(), 'tenantkit-native');
}

/** The shared directory is world-writable and sticky like /tmp, so every user can leave records. */
export async function ensureStateDir(): Promise<string> {
  const dir = stateDir();
  const created = await mkdir(dir, { recursive: true, mode: 0o1777 });
  // mkdir applies the umask; the mode must be exact.
  if (created !== undefined) await chmod(dir, 0o1777);
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new Error(`${dir} is not a directory`);
  return dir;
}

/** Writes the record atomically; rename replaces a planted symlink instead of following it. */
export async function writeState(name: string, record: StateRecord): Promise<string> {
  const dir = await ensureStateDir();
  const target = path.join(dir, name);
  const temporary = path.join(dir, `.${name}.${randomBytes(6).toString('hex')}`);
  await writeFile(temporary, JSON.stringify(record), { flag: 'wx', mode: 0o644 });
  await rename(temporary, target);
  return target;
}

export function parseState(text: string): StateRecord | undefined {
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
export async function isPostmasterOf(pid: number, dataDir: string): Promise<boolean> {
  try {
    const text = await readFile(path.join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8');
    return text.split('\n')[0]?.trim() === String(pid);
  } catch {
    return false;
  }
}

export async function waitUntilGone(pid: number, ms: number): Promise<boolean> {
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
