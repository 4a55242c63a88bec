import { expect, test } from 'vitest';
import { BACKENDS } from '../src/backends/registry.js';
import { BACKEND_KINDS } from '../src/config.js';
import { SHARED_SERVER_ENV, sharedServer, startKit } from '../src/kit.js';

test('a tenant setting Postgres would refuse is a named option error before anything starts', async () => {
  for (const setting of ['bad name;', 'tenant_id', 'app.tenant-id', "app.x'; DROP TABLE t; --", '']) {
    const started = performance.now();
    await expect(startKit({ backend: 'pglite', schema: 'SELECT 1;', tenant: { setting } }), setting).rejects.toMatchObject({
      code: 'TENANTKIT_INVALID_OPTION',
      object: 'tenant.setting',
      message: expect.stringContaining('e.g. app.tenant_id'),
    });
    // Refused from the options alone: no backend was started.
    expect(performance.now() - started).toBeLessThan(1000);
  }
});

test('a pool size or wait bound out of range is a named option error before any server starts', async () => {
  const cases = [
    { poolSize: -1 },
    { poolSize: 1.5 },
    { poolSize: 1000 },
    { lockTimeoutMs: 0 },
    { lockTimeoutMs: Number.NaN },
    { templateLockTimeoutMs: 1e12 },
  ] as const;
  for (const bad of cases) {
    const [name] = Object.keys(bad);
    const started = performance.now();
    await expect(startKit({ backend: 'native', schema: 'SELECT 1;', ...bad }), name).rejects.toMatchObject({
      code: 'TENANTKIT_INVALID_OPTION',
      object: name,
      message: expect.stringMatching(/is not a whole number from \d+ to \d+.*the default/),
    });
    // Refused from the options alone: no native server was started (that takes seconds).
    expect(performance.now() - started).toBeLessThan(1000);
  }
});

test('each backend says what it is where behaviour differs: embedded, reachable by URL, a server of its own to share', () => {
  const facts = Object.values(BACKENDS).map((definition) => ({
    kind: definition.kind,
    embedded: definition.embedded,
    reachableByUrl: definition.reachableByUrl,
    startsServer: definition.startServer !== undefined,
  }));
  expect(facts).toEqual([
    { kind: 'pglite', embedded: true, reachableByUrl: false, startsServer: false },
    { kind: 'native', embedded: false, reachableByUrl: true, startsServer: true },
    { kind: 'url', embedded: false, reachableByUrl: true, startsServer: false },
    { kind: 'container', embedded: false, reachableByUrl: true, startsServer: true },
  ]);
  expect(Object.keys(BACKENDS)).toEqual([...BACKEND_KINDS]);
});

test('a shared-server variable the global setup did not write is a named option error, its value not echoed', () => {
  const before = process.env[SHARED_SERVER_ENV];
  try {
    for (const value of ['postgres://admin:secret@127.0.0.1/postgres', '{"kind":"native"}', 'null']) {
      process.env[SHARED_SERVER_ENV] = value;
      let caught: unknown;
      try {
        sharedServer('native');
      } catch (error) {
        caught = error;
      }
      expect(caught, value).toMatchObject({ code: 'TENANTKIT_INVALID_OPTION', object: SHARED_SERVER_ENV });
      expect(String((caught as Error).message)).not.toContain('secret');
    }
    process.env[SHARED_SERVER_ENV] = JSON.stringify({ kind: 'native', adminUrl: 'postgres://a@127.0.0.1:1/postgres' });
    expect(sharedServer('native')?.adminUrl).toBe('postgres://a@127.0.0.1:1/postgres');
    expect(sharedServer('container')).toBeUndefined();
  } finally {
    if (before === undefined) delete process.env[SHARED_SERVER_ENV];
    else process.env[SHARED_SERVER_ENV] = before;
  }
});
