import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { createRequire } from 'node:module';

/** The session user of every PGlite instance: always a superuser. */
export const PGLITE_SESSION_USER = 'postgres';

/**
 * node_modules/.cache/tenantkit nearest to the working directory; outside any project (the CLI run
 * from anywhere) the user's cache directory: $XDG_CACHE_HOME/tenantkit, else ~/.cache/tenantkit.
 */
export function defaultCacheDir(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): string {
  let dir = resolve(cwd);
  for (;;) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'tenantkit');
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'tenantkit');
  const home = homedir();
  return home ? join(home, '.cache', 'tenantkit') : join(tmpdir(), 'tenantkit-cache');
}

/** The installed PGlite's version: a snapshot made by one version is not loaded by another. */
export async function pgliteVersion(): Promise<string> {
  try {
    // createRequire resolves the same way under every test runner's module loader.
    const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
    let dir = dirname(entry);
    for (let i = 0; i < 5; i++) {
      const manifest = join(dir, 'package.json');
      if (existsSync(manifest)) {
        const parsed = JSON.parse(await readFile(manifest, 'utf8')) as { name?: string; version?: string };
        if (parsed.name === '@electric-sql/pglite' && parsed.version) return parsed.version;
      }
      dir = dirname(dir);
    }
  } catch {
    // Fall through: an unknown version still works, it only shares the cache less precisely.
  }
  return 'unknown';
}
