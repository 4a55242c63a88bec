import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, describe, expect, test, vi } from 'vitest';
import { defaultCacheDir } from '../src/backends/pglite/pglite-config.js';
import { cacheMaxBytes } from '../src/backends/pglite/snapshot-cache.js';
import { startKit } from '../src/kit.js';
import { KIT_MIGRATIONS } from './helpers.js';

const KIT_PROJECT = fileURLToPath(new URL('..', import.meta.url));

describe('the PGlite snapshot cache', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('is built once, keyed by migration hash and PGlite version, and reused', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'tenantkit-cache-'));
    dirs.push(cacheDir);
    const first = await startKit({ backend: 'pglite', migrations: KIT_MIGRATIONS, cacheDir });
    await first.stop();
    expect(first.template.built).toBe(true);
    const files = await readdir(cacheDir);
    // The migrated snapshot with the extensions its instances load, and the empty cluster with the
    // kit's roles that every build starts from.
    expect(files).toHaveLength(3);
    expect(files).toEqual(
      expect.arrayContaining([expect.stringMatching(/^pglite-\d+\.\d+\.\d+-[0-9a-f]{16}\.tar$/), expect.stringMatching(/^pglite-\d+\.\d+\.\d+-base-[0-9a-f]{12}\.tar$/), expect.stringMatching(/^pglite-\d+\.\d+\.\d+-[0-9a-f]{16}\.tar\.json$/)]),
    );
    await using second = await startKit({ backend: 'pglite', migrations: KIT_MIGRATIONS, cacheDir });
    expect(second.template.built).toBe(false);
    await using db = await second.acquire();
    expect((await db.query('SELECT count(*)::int AS n FROM plans')).rows).toEqual([{ n: 2 }]);
  });

  test('a corrupt snapshot is rebuilt, not fatal', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'tenantkit-cache-'));
    dirs.push(cacheDir);
    const first = await startKit({ backend: 'pglite', migrations: KIT_MIGRATIONS, cacheDir });
    await first.stop();
    const file = (await readdir(cacheDir)).find((name) => !name.includes('-base-') && name.endsWith('.tar'));
    await writeFile(join(cacheDir, file!), 'not a tarball');
    await using kit = await startKit({ backend: 'pglite', migrations: KIT_MIGRATIONS, cacheDir });
    expect(kit.template.built).toBe(true);
    await using db = await kit.acquire();
    expect((await db.query('SELECT count(*)::int AS n FROM plans')).rows).toEqual([{ n: 2 }]);
  });

  test('a snapshot that cannot be read (not just missing) is reported with the reason, then rebuilt', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'tenantkit-cache-'));
    dirs.push(cacheDir);
    const first = await startKit({ backend: 'pglite', migrations: KIT_MIGRATIONS, cacheDir });
    await first.stop();
    const file = join(cacheDir, (await readdir(cacheDir)).find((name) => !name.includes('-base-') && name.endsWith('.tar'))!);
    await rm(file);
    await mkdir(file);
    const printed: string[] = [];
    const quiet = process.env.TENANTKIT_QUIET;
    delete process.env.TENANTKIT_QUIET;
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (printed.push(String(chunk)), true));
    try {
      const error = await startKit({ backend: 'pglite', migrations: KIT_MIGRATIONS, cacheDir }).then((kit) => kit.stop(), (caught: unknown) => caught);
      // The directory in the way also stops the rebuilt snapshot from being written: that is an error, not a pass.
      if (error !== undefined) expect(error).toBeInstanceOf(Error);
    } finally {
      spy.mockRestore();
      if (quiet !== undefined) process.env.TENANTKIT_QUIET = quiet;
    }
    expect(printed.join('')).toMatch(/could not be loaded \(EISDIR[^)]*\); it will be rebuilt/);
  });

  test('TENANTKIT_BACKEND overrides the configured backend', async () => {
    process.env.TENANTKIT_BACKEND = 'pglite';
    try {
      await using kit = await startKit({ backend: 'url', url: 'postgres://nobody@db.example.com/x', migrations: KIT_MIGRATIONS });
      expect(kit.backend.kind).toBe('pglite');
    } finally {
      delete process.env.TENANTKIT_BACKEND;
    }
  });
});

describe('cache hygiene', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  const DAY = 24 * 60 * 60 * 1000;

  async function plant(dir: string, name: string, ageMs: number): Promise<void> {
    await writeFile(join(dir, name), Buffer.alloc(1024 * 1024));
    await writeFile(join(dir, `${name}.json`), '{"extensions":[]}');
    const when = new Date(Date.now() - ageMs);
    await utimes(join(dir, name), when, when);
  }

  test('a new snapshot evicts the least recently used ones over the cap, never the current or a recent one', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'tenantkit-cache-'));
    dirs.push(cacheDir);
    await plant(cacheDir, 'pglite-0.0.1-aaaaaaaaaaaaaaaa.tar', 3 * DAY);
    await plant(cacheDir, 'pglite-0.0.1-bbbbbbbbbbbbbbbb.tar', 2 * DAY);
    // Used a minute ago: perhaps by a run going on beside this one.
    await plant(cacheDir, 'pglite-0.0.1-cccccccccccccccc.tar', 60_000);
    await writeFile(join(cacheDir, 'notes.txt'), 'not the kit');
    const kit = await startKit({ backend: 'pglite', migrations: KIT_MIGRATIONS, cacheDir, pglite: { cacheMaxMb: 1 } });
    await kit.stop();
    const left = await readdir(cacheDir);
    expect(left).not.toContain('pglite-0.0.1-aaaaaaaaaaaaaaaa.tar');
    expect(left).not.toContain('pglite-0.0.1-aaaaaaaaaaaaaaaa.tar.json');
    expect(left).not.toContain('pglite-0.0.1-bbbbbbbbbbbbbbbb.tar');
    expect(left).toEqual(expect.arrayContaining(['pglite-0.0.1-cccccccccccccccc.tar', 'notes.txt']));
    // The snapshot just built (over the cap on its own) and the base it was built from stay.
    expect(left.filter((name) => /^pglite-\d+\.\d+\.\d+-(base-)?[0-9a-f]{12,16}\.tar$/.test(name) && !name.startsWith('pglite-0.0.1'))).toHaveLength(2);
  });

  test('a cache hit marks the snapshot as used now', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'tenantkit-cache-'));
    dirs.push(cacheDir);
    await (await startKit({ backend: 'pglite', migrations: KIT_MIGRATIONS, cacheDir })).stop();
    const snapshot = (await readdir(cacheDir)).find((name) => /-[0-9a-f]{16}\.tar$/.test(name))!;
    const old = new Date(Date.now() - DAY);
    await utimes(join(cacheDir, snapshot), old, old);
    const kit = await startKit({ backend: 'pglite', migrations: KIT_MIGRATIONS, cacheDir });
    await kit.stop();
    expect(kit.template.built).toBe(false);
    expect(Date.now() - (await stat(join(cacheDir, snapshot))).mtimeMs).toBeLessThan(60_000);
  });

  test('outside any project the cache is the user cache directory', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'tenantkit-no-project-'));
    dirs.push(outside);
    expect(defaultCacheDir(outside, { XDG_CACHE_HOME: '/var/cache/someone' })).toBe('/var/cache/someone/tenantkit');
    expect(defaultCacheDir(outside, {})).toBe(join(homedir(), '.cache', 'tenantkit'));
    // A relative XDG_CACHE_HOME is invalid by the specification and ignored.
    expect(defaultCacheDir(outside, { XDG_CACHE_HOME: 'relative' })).toBe(join(homedir(), '.cache', 'tenantkit'));
    expect(defaultCacheDir(KIT_PROJECT)).toMatch(/node_modules\/\.cache\/tenantkit$/);
  });

  test('a cap that is not a size is a named error', () => {
    process.env.TENANTKIT_CACHE_MAX_MB = 'lots';
    try {
      expect(() => cacheMaxBytes(undefined)).toThrow(expect.objectContaining({ code: 'TENANTKIT_INVALID_OPTION', message: expect.stringContaining('TENANTKIT_CACHE_MAX_MB') }));
    } finally {
      delete process.env.TENANTKIT_CACHE_MAX_MB;
    }
    expect(cacheMaxBytes(0)).toBe(0);
    expect(() => cacheMaxBytes(-1)).toThrow(/pglite\.cacheMaxMb/);
  });
});
