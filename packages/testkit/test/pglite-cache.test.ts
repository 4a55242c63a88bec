import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { startKit } from '../src/kit.js';
import { KIT_MIGRATIONS } from './helpers.js';

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
