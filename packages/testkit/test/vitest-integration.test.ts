import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';

const run = promisify(execFile);
const project = fileURLToPath(new URL('./fixtures/vitest-project', import.meta.url));
const vitestBin = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

test('a test whose code escaped the app role fails; the others pass', async () => {
  const result = await run(process.execPath, [vitestBin, 'run', '--root', project], {
    env: { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: '', NO_COLOR: '1' },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }),
  );
  expect(result.code).toBe(1);
  expect(result.output).toContain('RoleEscapeError: Code acting as role "tk_app" left');
  expect(result.output).toMatch(/Tests\s+1 failed \| 2 passed/);
});
