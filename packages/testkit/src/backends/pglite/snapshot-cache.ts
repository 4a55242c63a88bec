import { readdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidOptionError } from '../../errors.js';
import { progress } from '../../progress.js';

/** Default size cap of the PGlite snapshot cache (a migrated snapshot is typically 30-40 MB). */
export const DEFAULT_CACHE_MAX_MB = 256;

/** A snapshot used this recently may belong to a run going on beside this one: never evicted. */
const RECENT_MS = 10 * 60_000;

const SNAPSHOT = /^pglite-.+\.tar$/;

/** The cap in bytes: the option, else TENANTKIT_CACHE_MAX_MB, else the default. */
export function cacheMaxBytes(option: number | undefined): number {
  const fromEnv = process.env.TENANTKIT_CACHE_MAX_MB;
  const megabytes = option ?? (fromEnv === undefined || fromEnv === '' ? DEFAULT_CACHE_MAX_MB : Number(fromEnv));
  if (!Number.isFinite(megabytes) || megabytes < 0) {
    throw new InvalidOptionError(
      option === undefined ? 'TENANTKIT_CACHE_MAX_MB' : 'pglite.cacheMaxMb',
      `${JSON.stringify(option ?? fromEnv)} is not a size in megabytes; give a number >= 0 (0 keeps only the snapshots in use)`,
    );
  }
  return megabytes * 1024 * 1024;
}

/** Marks a snapshot as used now, so eviction (least recently used first) keeps it longest. */
export async function touchSnapshot(file: string): Promise<void> {
  const now = new Date();
  await utimes(file, now, now).catch(() => undefined);
}

/**
 * Keeps the cache under `maxBytes`: removes snapshots (with their .json sidecars) least recently
 * used first. Never removes the ones this process uses (`inUse`, file names) or any used in the last
 * ten minutes, which a concurrent run may be reading. Returns the names removed.
 */
export async function evictSnapshots(dir: string, inUse: ReadonlySet<string>, maxBytes: number): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const entries: Array<{ name: string; bytes: number; used: number }> = [];
  for (const name of names.filter((candidate) => SNAPSHOT.test(candidate))) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info) entries.push({ name, bytes: info.size, used: info.mtimeMs });
  }
  let total = entries.reduce((sum, entry) => sum + entry.bytes, 0);
  const removed: string[] = [];
  let freed = 0;
  const now = Date.now();
  for (const entry of entries.sort((a, b) => a.used - b.used)) {
    if (total <= maxBytes) break;
    if (inUse.has(entry.name) || now - entry.used < RECENT_MS) continue;
    await rm(join(dir, entry.name), { force: true });
    await rm(join(dir, `${entry.name}.json`), { force: true });
    total -= entry.bytes;
    freed += entry.bytes;
    removed.push(entry.name);
  }
  if (removed.length > 0) {
    progress(`evicted ${removed.length} PGlite snapshot(s) not used recently (${Math.round(freed / 1024 / 1024)} MB) from ${dir}; the cap is ${Math.round(maxBytes / 1024 / 1024)} MB (TENANTKIT_CACHE_MAX_MB)`);
  }
  return removed;
}
