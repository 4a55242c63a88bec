import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { Steps } from '../src/progress.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('progress of long commands', () => {
  test('a step over a second says how far it came and how long it took; a short one says nothing', async () => {
    const lines: string[] = [];
    const quiet = process.env.TENANTKIT_QUIET;
    delete process.env.TENANTKIT_QUIET;
    const steps = new Steps((line) => lines.push(line));
    if (quiet !== undefined) process.env.TENANTKIT_QUIET = quiet;
    steps.start('a short step');
    steps.tick(1, 2);
    steps.start('probing tables');
    steps.tick(1, 3);
    await sleep(1100);
    steps.tick(2, 3);
    steps.tick(3, 3);
    steps.end();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^tenantkit: probing tables: 2\/3 \(1\d{3} ms\)\n$/);
    expect(lines[1]).toMatch(/^tenantkit: probing tables: done in 1\d{3} ms\n$/);
  });

  test('TENANTKIT_QUIET=1 keeps a command silent', async () => {
    const lines: string[] = [];
    const quiet = process.env.TENANTKIT_QUIET;
    process.env.TENANTKIT_QUIET = '1';
    const steps = new Steps((line) => lines.push(line));
    if (quiet === undefined) delete process.env.TENANTKIT_QUIET;
    else process.env.TENANTKIT_QUIET = quiet;
    steps.start('starting');
    await sleep(1050);
    steps.end();
    expect(lines).toEqual([]);
  });

  test('migrations check on native says what it checked and how long it took', async () => {
    const bin = fileURLToPath(new URL('../bin/tenantkit.js', import.meta.url));
    const folder = fileURLToPath(new URL('../../testkit/test/fixtures/migration-corpus/ok-02-enum-refactor', import.meta.url));
    const { stderr } = await promisify(execFile)(process.execPath, [bin, 'migrations', 'check', folder, '--backend', 'native'], {
      env: { ...process.env, TENANTKIT_QUIET: '0', TENANTKIT_BACKEND: '' },
    });
    // Starting a server and checking each migration on a fresh database takes over a second.
    expect(stderr).toMatch(/^tenantkit: checking \d+ migration\(s\) up, down and up again: done in (\d+ ms|\d+\.\d s)$/m);
  }, 120_000);
});
