import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultDataParent } from '../src/backends/native/native-os-user.js';
import { type NativeServer, startNativeServer } from '../src/backends/native/native-server.js';

async function login(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ user: string }>('SELECT current_user AS user');
    return rows[0]!.user;
  } catch (error) {
    return `refused: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The cluster cache folder of this user and what it holds. */
async function cachedClusters(): Promise<{ root: string; keys: string[] }> {
  const root = path.join(await defaultDataParent(), `tenantkit-clusters-${process.getuid?.() ?? 'user'}`);
  const keys = (await readdir(root).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));
  return { root, keys };
}

describe('native servers start from a cached cluster', () => {
  const servers: NativeServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop();
  });

  it('a second server copies the cluster initdb made, in a private folder, and has its own admin password', async () => {
    const first = await startNativeServer();
    servers.push(first);
    const { root, keys } = await cachedClusters();
    expect(keys.length).toBeGreaterThan(0);
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    const said: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      said.push(String(chunk));
      return true;
    });
    const quiet = process.env.TENANTKIT_QUIET;
    process.env.TENANTKIT_QUIET = '0';
    let second: NativeServer;
    try {
      second = await startNativeServer();
    } finally {
      write.mockRestore();
      if (quiet === undefined) delete process.env.TENANTKIT_QUIET;
      else process.env.TENANTKIT_QUIET = quiet;
    }
    servers.push(second);
    expect(said.join('')).toMatch(/cached cluster copied\+start in/);
    expect(second.adminPassword).not.toBe(first.adminPassword);
    expect(await login(second.adminUrl)).toBe('tk_admin');
    // The password a cached cluster was made with no longer opens the copy.
    for (const key of (await cachedClusters()).keys) {
      const cachedPassword = (await readFile(path.join(root, key, 'admin-password'), 'utf8')).trim();
      const withCached = new URL(second.adminUrl);
      withCached.password = encodeURIComponent(cachedPassword);
      expect(await login(withCached.toString())).toMatch(/^refused: password authentication failed/);
    }
    // The password was set as a verifier: no plaintext in the server log.
    expect(await readFile(second.logFile, 'utf8')).not.toContain(second.adminPassword);
  }, 120_000);

  it('a cached cluster that cannot start is forgotten and initdb makes a new one', async () => {
    const first = await startNativeServer();
    servers.push(first);
    const { root, keys } = await cachedClusters();
    // Break every cached cluster: a server started from one fails.
    for (const key of keys) await writeFile(path.join(root, key, 'pgdata', 'PG_VERSION'), '1\n');
    const second = await startNativeServer();
    servers.push(second);
    expect(await login(second.adminUrl)).toBe('tk_admin');
    // The one it tried is gone (the others, of other binaries, are left for this test to remove).
    const broken = async () => {
      const found: string[] = [];
      for (const key of (await cachedClusters()).keys) {
        if ((await readFile(path.join(root, key, 'pgdata', 'PG_VERSION'), 'utf8').catch(() => '')) === '1\n') found.push(key);
      }
      return found;
    };
    const left = await broken();
    expect(left.length).toBe(keys.length - 1);
    for (const key of left) await rm(path.join(root, key), { recursive: true, force: true });
  }, 120_000);
});
