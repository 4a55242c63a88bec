import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { checkEveryMigration } from '../src/migrations/check/every-migration.js';
import { sqlDirectory } from '../src/migrations/sources/golang-migrate/golang-migrate.js';

process.env.TENANTKIT_QUIET ??= '1';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tk-release-'));
  await writeFile(join(dir, '0001_docs.up.sql'), 'CREATE TABLE docs (id int);');
  await writeFile(join(dir, '0001_docs.down.sql'), 'DROP TABLE docs;');
  // Leaves the owner's session acting as another role: the kit's release check refuses that.
  await writeFile(join(dir, '0002_escape.up.sql'), "CREATE TABLE notes (id int); SELECT set_config('role', 'none', false);");
  await writeFile(join(dir, '0002_escape.down.sql'), 'DROP TABLE notes;');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkEveryMigration', () => {
  test('a step whose database fails its release check fails with that reason', async () => {
    const report = await checkEveryMigration(sqlDirectory(dir), { backend: 'pglite' });
    expect(report.ok).toBe(false);
    expect(report.migrations[0]).toMatchObject({ version: '0001', status: 'pass', problems: [] });
    const escape = report.migrations[1]!;
    expect(escape).toMatchObject({ version: '0002', status: 'fail' });
    // The release check's own failure is in the report, not dropped with the database.
    expect(escape.problems.at(-1)).toMatch(/^releasing its database failed: Code acting as role "tk_owner" left/);
  });
});
