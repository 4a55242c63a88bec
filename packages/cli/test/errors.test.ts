import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Kit, type TestDatabase, startKit } from '@tenantkit/testkit';
import { connectPg } from '@tenantkit/testkit/internal';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run, tempDir } from './tenantkit-bin.js';

const bin = fileURLToPath(new URL('../bin/tenantkit.js', import.meta.url));
const schemaFile = fileURLToPath(new URL('../../../examples/saas-documents/schema.sql', import.meta.url));

/** The keys each command's --json output always has; a failure keeps them, empty. */
const EMPTY_KEYS: Record<string, string[]> = {
  audit: ['error', 'findings', 'ok', 'setup', 'tables'],
  seed: ['error', 'ok', 'seed', 'tables', 'tenants'],
  migrations: ['error', 'migrations', 'ok'],
  init: ['error', 'migrations', 'ok', 'tenantSetting', 'tool', 'written'],
};

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs the built CLI, quiet, on the default backend; measures how long it took to exit. */
async function timed(args: readonly string[], cwd?: string): Promise<Ran> {
  const started = performance.now();
  const env = { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: '' };
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env, timeout: 60_000, ...(cwd ? { cwd } : {}) });
    return { code: 0, stdout, stderr, ms: performance.now() - started };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr, ms: performance.now() - started };
  }
}

/**
 * A failure as the contract says: the exit code, the code once on stderr, and with --json exactly
 * one JSON object on stdout with the command's keys and `error: { code, object, message }`.
 */
function expectNamedFailure(result: Ran, exit: 1 | 2, code: string, options: { command?: string; withinMs?: number } = {}): { code: string; object: string | null; message: string } {
  const context = `${result.stdout}\n${result.stderr}`;
  expect(result.code, context).toBe(exit);
  expect(result.ms, context).toBeLessThan(options.withinMs ?? 5_000);
  expect(result.stderr.split(`: ${code}: `).length - 1, context).toBe(1);
  const lines = result.stdout.split('\n').filter((line) => line !== '');
  if (options.command === undefined) {
    expect(lines, context).toHaveLength(0);
    return { code, object: null, message: result.stderr };
  }
  expect(lines, context).toHaveLength(1);
  const body = JSON.parse(lines[0]!) as { ok: boolean; error: { code: string; object: string | null; message: string } };
  expect(Object.keys(body).sort()).toEqual(EMPTY_KEYS[options.command] ?? ['error', 'ok']);
  expect(body.ok).toBe(false);
  expect(body.error.code).toBe(code);
  expect(body.error).toHaveProperty('object');
  expect(body.error.message.length).toBeGreaterThan(0);
  // The message is printed once: not repeated inside itself.
  expect(result.stderr.split(body.error.message).length - 1, context).toBe(1);
  return body.error;
}

describe('usage errors with --json still print one JSON object', () => {
  test('an unknown flag', async () => {
    const error = expectNamedFailure(await timed(['audit', '--sql', schemaFile, '--bogus', '--json']), 2, 'TENANTKIT_USAGE', { command: 'audit' });
    expect(error.object).toBe('--bogus');
    expect(error.message).toContain('--help');
  });

  test('a missing --sql file', async () => {
    const error = expectNamedFailure(await timed(['seed', '--sql', '/nonexistent.sql', '--json']), 2, 'TENANTKIT_FILE_NOT_FOUND', { command: 'seed' });
    expect(error.object).toBe('/nonexistent.sql');
  });

  test('a missing migrations folder', async () => {
    const error = expectNamedFailure(await timed(['migrations', 'check', '/nonexistent-migrations', '--json']), 2, 'TENANTKIT_FILE_NOT_FOUND', { command: 'migrations' });
    expect(error).toMatchObject({ object: '/nonexistent-migrations', file: '/nonexistent-migrations', line: 0 });
  });

  test('--backend bogus as a flag gives the code the environment variable gives', async () => {
    const error = expectNamedFailure(await timed(['audit', '--sql', schemaFile, '--backend', 'bogus', '--json']), 2, 'TENANTKIT_UNKNOWN_BACKEND', { command: 'audit' });
    expect(error.object).toBe('bogus');
    expect(error.message).toMatch(/pglite, native/);
  });

  test('a missing subcommand', async () => {
    expectNamedFailure(await timed(['migrations', '--json']), 2, 'TENANTKIT_USAGE', { command: 'migrations' });
  });

  test('a missing or unknown command', async () => {
    expectNamedFailure(await timed(['--json']), 2, 'TENANTKIT_USAGE', { command: '' });
    const unknown = expectNamedFailure(await timed(['frobnicate', '--json']), 2, 'TENANTKIT_USAGE', { command: '' });
    expect(unknown.object).toBe('frobnicate');
  });

  test('init takes --json too', async () => {
    expectNamedFailure(await timed(['init', '--bogus', '--json']), 2, 'TENANTKIT_USAGE', { command: 'init' });
  });

  test('without --json, stdout stays empty and stderr has the code', async () => {
    expectNamedFailure(await timed(['seed', '--sql', '/nonexistent.sql']), 2, 'TENANTKIT_FILE_NOT_FOUND');
  });
});

/** A project folder with one golang-migrate migration, as init finds one. */
async function migrationsProject(): Promise<string> {
  const project = await tempDir('tenantkit-init-');
  await mkdir(join(project, 'migrations'));
  await writeFile(join(project, 'migrations', '0001_init.up.sql'), 'CREATE TABLE t (id int);\n');
  await writeFile(join(project, 'migrations', '0001_init.down.sql'), 'DROP TABLE t;\n');
  return project;
}

describe('outputs that cannot be written exit 2 before any work is done', () => {
  test('--html into a missing directory', async () => {
    const error = expectNamedFailure(await timed(['audit', '--sql', schemaFile, '--html', '/nonexistent/dir/r.html', '--json']), 2, 'TENANTKIT_OUTPUT_UNWRITABLE', { command: 'audit' });
    expect(error.object).toBe('/nonexistent/dir/r.html');
    expect(error.message).toContain('ENOENT');
  });

  test('--html naming a directory', async () => {
    expectNamedFailure(await timed(['audit', '--sql', schemaFile, '--html', tmpdir(), '--json']), 2, 'TENANTKIT_OUTPUT_UNWRITABLE', { command: 'audit' });
  });

  test('init with a --test-dir under a regular file', async () => {
    const project = await migrationsProject();
    await writeFile(join(project, 'blocker'), '');
    const error = expectNamedFailure(await timed(['init', '--test-dir', 'blocker/sub', '--json'], project), 2, 'TENANTKIT_OUTPUT_UNWRITABLE', { command: 'init' });
    expect(error.object).toContain('blocker/sub');
  });
});

describe('a project file init reads', () => {
  test('a package.json that is not JSON is named, and nothing is written', async () => {
    const project = await migrationsProject();
    await writeFile(join(project, 'package.json'), '{ "devDependencies": { "knex": "^3" }, }\n');
    const error = expectNamedFailure(await timed(['init', '--json'], project), 2, 'TENANTKIT_PROJECT_FILE_INVALID', { command: 'init' });
    expect(error.object).toBe(join(project, 'package.json'));
    expect(error.message).toContain('is not valid JSON');
    expect(existsSync(join(project, 'vitest.config.ts'))).toBe(false);
  });

  test('a package.json with a byte order mark is read as npm reads it', async () => {
    const project = await migrationsProject();
    await writeFile(join(project, 'package.json'), '\uFEFF{ "name": "app", "devDependencies": { "vitest": "^4" } }\n');
    const result = await timed(['init', '--json'], project);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, tool: 'golang-migrate' });
  });
});

describe('a reader that stops early', () => {
  test('closing stdout before the output is written ends the command with its own code, not a stack trace', async () => {
    // As `tenantkit --help | head -c 0` does: the pipe is closed before the command writes.
    const child = spawn(process.execPath, [bin, '--help'], { env: { ...process.env, TENANTKIT_QUIET: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += String(chunk)));
    const [code] = (await once(child, 'close')) as [number | null];
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(code).toBe(0);
  });
});

describe('numeric flags are plain integers within bounds', () => {
  const cases: [string[], string, string][] = [
    [['--rows', '1e9'], '--rows', '1 to 10000'],
    [['--rows', '99999999999999999999'], '--rows', '1 to 10000'],
    [['--rows', '0x10'], '--rows', '1 to 10000'],
    [['--rows', '10001'], '--rows', '1 to 10000'],
    [['--tenants', '0'], '--tenants', '1 to 1000'],
    [['--tenants', '1001'], '--tenants', '1 to 1000'],
    [['--tenants', ' 2'], '--tenants', '1 to 1000'],
    [['--seed', '1.5'], '--seed', '0 to 4294967295'],
    [['--seed', '4294967296'], '--seed', '0 to 4294967295'],
    [['--tenants', '5', '--rows', '5000'], '--rows', 'at most 20000'],
  ];
  test.each(cases)('%j names the flag and its bound (exit 2, at once)', async (args, flag, bound) => {
    const error = expectNamedFailure(await timed(['seed', '--sql', schemaFile, ...args, '--json']), 2, 'TENANTKIT_USAGE', { command: 'seed' });
    expect(error.object).toBe(flag);
    expect(error.message).toContain(bound);
  });
});

test('seeding a schema with no tables is an error, not "0 tenant(s)"', async () => {
  const dir = await tempDir('tenantkit-empty-');
  const file = join(dir, 'empty.sql');
  await writeFile(file, 'CREATE EXTENSION IF NOT EXISTS plpgsql;\n');
  const error = expectNamedFailure(await timed(['seed', '--sql', file, '--json']), 2, 'TENANTKIT_NOTHING_TO_SEED', { command: 'seed', withinMs: 20_000 });
  expect(error.message).toMatch(/Nothing was seeded: .* has no tables/);
  const text = await timed(['seed', '--sql', file]);
  expect(text.stdout).toBe('');
  expect(text.stderr).toContain('TENANTKIT_NOTHING_TO_SEED');
});

test('an invalid --tenant-setting name is a usage error before any database starts', async () => {
  const error = expectNamedFailure(await timed(['audit', '--sql', schemaFile, '--tenant-setting', 'bad name;', '--json']), 2, 'TENANTKIT_USAGE', { command: 'audit' });
  expect(error.object).toBe('bad name;');
  expect(error.message).toContain('app.tenant_id');
});

describe('--url on a real server', () => {
  let kit: Kit;
  let db: TestDatabase;
  const as = (user: string, password?: string) => {
    const url = new URL(db.url!);
    url.username = user;
    url.password = password ?? '';
    return url.toString();
  };

  beforeAll(async () => {
    kit = await startKit({ backend: 'native', schema: [schemaFile], isolation: 'none', poolSize: 0 });
    db = await kit.acquire();
    await db.exec(`CREATE ROLE web LOGIN NOSUPERUSER NOBYPASSRLS;
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO web;
      CREATE ROLE lowly LOGIN PASSWORD 'lowly' NOSUPERUSER;
      CREATE ROLE member_no_set LOGIN PASSWORD 'member_no_set' NOSUPERUSER;
      GRANT web TO member_no_set WITH SET FALSE;`);
  }, 120_000);

  afterAll(async () => {
    await db?.release();
    await kit?.stop();
  });

  test('an --app-role that does not exist lists the roles that do', async () => {
    const error = expectNamedFailure(await timed(['audit', '--url', db.url!, '--app-role', 'nobody_here', '--json']), 2, 'TENANTKIT_UNKNOWN_ROLE', { command: 'audit', withinMs: 15_000 });
    expect(error.object).toBe('nobody_here');
    expect(error.message).toContain('web');
  });

  test.each(['lowly', 'member_no_set'])('a --url user that may not SET ROLE to the app role (%s)', async (user) => {
    const error = expectNamedFailure(await timed(['audit', '--url', as(user, user), '--app-role', 'web', '--json']), 2, 'TENANTKIT_CANNOT_SET_ROLE', { command: 'audit', withinMs: 15_000 });
    expect(error.message).toContain(`GRANT web TO ${user}`);
  });

  test('a server that is not there', async () => {
    const url = new URL(db.url!);
    url.port = '1';
    expectNamedFailure(await timed(['seed', '--url', url.toString(), '--json']), 2, 'TENANTKIT_SERVER_UNREACHABLE', { command: 'seed', withinMs: 15_000 });
  });

  test('a connection lost in the middle of the audit is named once', async () => {
    const watcher = await connectPg(db.url!, 'tenantkit test watcher');
    try {
      const audit = timed(['audit', '--url', db.url!, '--app-role', 'web', '--json']);
      let finished = false;
      void audit.finally(() => {
        finished = true;
      });
      // Cut the CLI's connection as soon as it appears, as a server restart would.
      let terminated = 0;
      while (!finished && terminated === 0) {
        const { rows } = await watcher.query<{ done: boolean }>(`SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = 'tenantkit attach'`);
        terminated = rows.filter((row) => row.done).length;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(terminated).toBeGreaterThan(0);
      const error = expectNamedFailure(await audit, 2, 'TENANTKIT_CONNECTION_LOST', { command: 'audit', withinMs: 15_000 });
      expect(error.message).toContain('and run again');
    } finally {
      await watcher.close();
    }
  });
});
