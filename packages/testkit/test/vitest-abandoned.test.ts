import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);
const project = fileURLToPath(new URL('./fixtures/vitest-abandoned', import.meta.url));
const vitestBin = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

test.each(['pglite', 'native'])('on %s, a test abandoned while its database is set up never runs beside the next one', async (backend) => {
  const result = await run(process.execPath, [vitestBin, 'run', '--root', project], {
    env: { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: backend, NO_COLOR: '1' },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }),
  );
  expect(result.code, result.output).toBe(1);
  expect(result.output).toMatch(/Test timed out in 50ms/);
  expect(result.output).not.toContain('rows of an earlier test');
  expect(result.output).toMatch(/Tests\s+1 failed \| 1 passed/);
});

test('a released database refuses every identity, so nothing reaches a session another test uses', async () => {
  const { startKit } = await import('../src/kit.js');
  process.env.TENANTKIT_QUIET ??= '1';
  await using kit = await startKit({ backend: 'pglite', schema: 'CREATE TABLE marks (test text);' });
  const db = await kit.acquire();
  await db.release();
  for (const attempt of <Array<() => Promise<unknown>>>[
    () => db.query('SELECT 1'),
    () => db.app.query('SELECT 1'),
    () => db.owner.exec('SELECT 1'),
    () => db.admin.transaction(async () => undefined),
    () => db.app.withTenant('t', async () => undefined),
  ]) {
    await expect(Promise.resolve().then(attempt)).rejects.toMatchObject({ code: 'TENANTKIT_DATABASE_RELEASED' });
  }
  await using next = await kit.acquire();
  expect((await next.query('SELECT count(*)::int AS n FROM marks')).rows).toEqual([{ n: 0 }]);
});
