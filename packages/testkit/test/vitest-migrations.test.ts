import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, onTestFinished, test } from 'vitest';
import { startKit } from '../src/kit.js';
import { schemaMatchers } from '../src/vitest/migrations.js';
import './helpers.js';

const run = promisify(execFile);
const project = fileURLToPath(new URL('./fixtures/vitest-migrations', import.meta.url));
const vitestBin = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');

test('describeMigrations makes one test per migration; the one whose down is wrong fails with the diff', async () => {
  const result = await run(process.execPath, [vitestBin, 'run', '--root', project], {
    env: { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: '', NO_COLOR: '1' },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: error.stdout + error.stderr }),
  );
  expect(result.code).toBe(1);
  expect(result.output).toMatch(/Tests\s+1 failed \| 4 passed/);
  expect(result.output).toContain('0002 created_at: up, down to where it was, up again');
  expect(result.output).toContain('+ index public.documents_tenant_id_idx');
  // The kit's error with its code, not a plain Error.
  expect(result.output).toContain('MigrationCheckFailedError');
});

test('toMatchSchemaSnapshot writes a missing snapshot, then fails on a change with the diff', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tenantkit-schema-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'schema.json');
  await using kit = await startKit({ backend: 'pglite', schema: 'CREATE TABLE notes (id int PRIMARY KEY, body text);' });
  await using db = await kit.acquire();
  const ci = process.env.CI;
  delete process.env.CI;
  try {
    expect((await schemaMatchers.toMatchSchemaSnapshot(db, file)).pass).toBe(true);
    expect(JSON.parse(await readFile(file, 'utf8'))).toHaveProperty('tables');
    expect((await schemaMatchers.toMatchSchemaSnapshot(db, file)).pass).toBe(true);
    await db.exec('CREATE INDEX notes_body_idx ON notes (body)');
    const changed = await schemaMatchers.toMatchSchemaSnapshot(db, file);
    expect(changed.pass).toBe(false);
    expect(changed.message()).toContain('+ index public.notes_body_idx');
    process.env.CI = 'true';
    const missing = await schemaMatchers.toMatchSchemaSnapshot(db, join(dir, 'absent.json'));
    expect(missing.pass).toBe(false);
    // A committed file that is not a snapshot fails the matcher by name, never a thrown SyntaxError.
    const broken = join(dir, 'broken.json');
    // The kit's own snapshot with one list gone (as an older or hand-edited file may be).
    const withoutExtensions = JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), extensions: undefined });
    for (const [content, reason] of [
      ['{"tables": [', 'it is not JSON'],
      [
        '{"tables": []}',
        'it is not a schema snapshot (no schemas, constraints, indexes, enums, domains, sequences, views, functions, triggers, policies, grants, extensions, roles list)',
      ],
      ['null', 'it is not a schema snapshot'],
      [withoutExtensions, 'it is not a schema snapshot (no extensions list)'],
    ] as const) {
      await writeFile(broken, content);
      const result = await schemaMatchers.toMatchSchemaSnapshot(db, broken);
      expect(result.pass).toBe(false);
      expect(result.message()).toContain(`The schema snapshot ${broken} cannot be compared: ${reason}`);
      expect(result.message()).toContain('TENANTKIT_UPDATE_SNAPSHOTS=1');
    }
    process.env.TENANTKIT_UPDATE_SNAPSHOTS = '1';
    try {
      expect((await schemaMatchers.toMatchSchemaSnapshot(db, broken)).pass).toBe(true);
    } finally {
      delete process.env.TENANTKIT_UPDATE_SNAPSHOTS;
    }
    expect(JSON.parse(await readFile(broken, 'utf8'))).toHaveProperty('policies');
  } finally {
    if (ci === undefined) delete process.env.CI;
    else process.env.CI = ci;
  }
});
