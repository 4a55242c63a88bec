import { existsSync } from 'node:fs';
import { afterEach, expect, test } from 'vitest';
import { registeredKits, tenantkit } from '../src/vitest/config.js';
import setup from '../src/vitest/global-setup.js';

afterEach(() => registeredKits().clear());

test('tenantkit() adds the global setup and timeouts that fit a first test', () => {
  const kit = { schema: 'CREATE TABLE t (id int)' };
  const { test: config } = tenantkit(kit).config({});
  expect(config.testTimeout).toBe(60_000);
  expect(config.hookTimeout).toBe(120_000);
  expect(config.globalSetup).toHaveLength(1);
  expect(existsSync([config.globalSetup].flat()[0]!)).toBe(true);
  expect(registeredKits().has(kit)).toBe(true);
});

test('timeouts the config sets itself are kept', () => {
  const { test: config } = tenantkit({}).config({ test: { testTimeout: 5_000, hookTimeout: 7_000 } });
  expect(config).toMatchObject({ testTimeout: 5_000, hookTimeout: 7_000 });
});

test('the global setup without a registered kit says how to register one', async () => {
  await expect(setup()).rejects.toMatchObject({ code: 'TENANTKIT_INVALID_OPTION', message: expect.stringContaining('plugins: [tenantkit(kit)]') });
});

test('the global setup builds the snapshot of every registered kit before workers start', async () => {
  const { mkdtemp, readdir, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const cacheDir = await mkdtemp(join(tmpdir(), 'tk-plugin-'));
  try {
    tenantkit({ backend: 'pglite', schema: 'CREATE TABLE plugin_probe (id int)', cacheDir });
    const teardown = await setup();
    await teardown();
    expect((await readdir(cacheDir)).some((name) => /^pglite-.*-[0-9a-f]{16}\.tar$/.test(name))).toBe(true);
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
});
