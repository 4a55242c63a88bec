import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

async function tenantkit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('tenantkit bin', () => {
  test('--help lists the commands and exits 0', async () => {
    const result = await tenantkit('--help');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/audit[\s\S]*seed[\s\S]*migrations check/);
  });

  test('--version prints the package version', async () => {
    const result = await tenantkit('--version');
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('an unknown command is a usage error (exit 2)', async () => {
    const result = await tenantkit('frobnicate');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "frobnicate"');
  });
});
