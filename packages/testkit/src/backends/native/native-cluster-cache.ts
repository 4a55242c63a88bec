import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, cp, lstat, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { NativeBinaries } from './native-binaries.js';
import type { OsUser } from './native-os-user.js';

/**
 * Clusters fresh from initdb, one per binaries, OS user and initdb arguments, kept beside the servers'
 * data directories so the next server copies one (a few hundred ms) instead of running initdb again
 * (one to two seconds). The folder is the running user's alone (0700). A copy starts with the admin
 * password its cluster was made with; the server sets its own before its URL is handed to anyone.
 */
const CACHE_PREFIX = 'tenantkit-clusters-';
const PASSWORD_FILE = 'admin-password';
const CLUSTER_DIR = 'pgdata';

export interface CachedCluster {
  readonly dir: string;
  readonly pgData: string;
  readonly password: string;
}

export function clusterKey(binaries: NativeBinaries, user: OsUser | undefined, initdbArgs: readonly string[]): string {
  return createHash('sha256')
    .update(JSON.stringify({ binDir: binaries.binDir, version: binaries.version, uid: user?.uid ?? process.getuid?.() ?? null, initdbArgs }))
    .digest('hex')
    .slice(0, 16);
}

async function cacheRoot(parent: string): Promise<string> {
  const root = path.join(parent, `${CACHE_PREFIX}${process.getuid?.() ?? 'user'}`);
  await mkdir(root, { recursive: true, mode: 0o700 });
  // Someone else's folder of that name, or one others can enter, is not used.
  const info = await lstat(root);
  if (!info.isDirectory() || info.isSymbolicLink() || (process.getuid && info.uid !== process.getuid()) || (info.mode & 0o077) !== 0) {
    throw new Error(`${root} is not a private folder of this user`);
  }
  return root;
}

/** The cached cluster for `key`, or undefined (none yet, or unusable: it is then made again). */
export async function readCachedCluster(parent: string, key: string): Promise<CachedCluster | undefined> {
  try {
    const dir = path.join(await cacheRoot(parent), key);
    const password = (await readFile(path.join(dir, PASSWORD_FILE), 'utf8')).trim();
    const pgData = path.join(dir, CLUSTER_DIR);
    if (!password || !(await readdir(pgData)).includes('PG_VERSION')) return undefined;
    return { dir, pgData, password };
  } catch {
    return undefined;
  }
}

/** Keeps a copy of a cluster initdb just made (before any server ran on it), with its admin password. */
export async function storeCluster(parent: string, key: string, pgData: string, password: string): Promise<void> {
  const root = await cacheRoot(parent);
  const staging = path.join(root, `.${key}-${randomBytes(4).toString('hex')}`);
  try {
    await cp(pgData, path.join(staging, CLUSTER_DIR), { recursive: true });
    await writeFile(path.join(staging, PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
    // Another process may have stored the same cluster first: theirs stays.
    await rename(staging, path.join(root, key)).catch(() => {});
  } finally {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
  }
}

/** Forgets a cached cluster a server could not start from. */
export async function dropCachedCluster(cluster: CachedCluster): Promise<void> {
  await rm(cluster.dir, { recursive: true, force: true }).catch(() => {});
}

/** Copies a cached cluster into a server's data directory, as the server's OS user wants it (0700, its own). */
export async function copyCluster(cluster: CachedCluster, pgData: string, user: OsUser | undefined): Promise<void> {
  await cp(cluster.pgData, pgData, { recursive: true });
  await chmod(pgData, 0o700);
  if (user) await chownTree(pgData, user);
}

async function chownTree(dir: string, user: OsUser): Promise<void> {
  await chown(dir, user.uid, user.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, user);
    else await chown(full, user.uid, user.gid);
  }
}
