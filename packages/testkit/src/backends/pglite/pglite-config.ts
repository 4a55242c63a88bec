import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';

/** The session user of every PGlite instance: always a superuser. */
export const PGLITE_SESSION_USER = 'postgres';

/** node_modules/.cache/tenantkit nearest to the working directory, else the OS temp dir. */
export function defaultCacheDir(cwd = process.cwd()): string {
  let dir = resolve(cwd);
  for (;;) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'tenantkit');
    const parent = dirname(dir);
    if (parent === dir) return join(tmpdir(), 'tenantkit-cache');
    dir = parent;
  }
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
