import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { NativeServer } from '../src/backends/native/native-server.js';
import { type Kit, startKit } from '../src/kit.js';
import { MUTANT_ENV, MUTANT_LOG_ENV } from '../src/mutation/mutant.js';
import { ACME, KIT_MIGRATIONS, seed, shareNativeServer, stopSharedServer } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantkit-mutant-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sqlFile(name: string, sql: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, sql);
  return file;
}

/** What tenant ACME's app role sees of the documents. */
async function visibleTitles(kit: Kit): Promise<string[]> {
  await using db = await kit.acquire();
  await seed(db);
  const rows = await db.app.withTenant(ACME, async (tx) => (await tx.query<{ title: string }>('SELECT title FROM documents ORDER BY title')).rows);
  return rows.map((row) => row.title);
}

async function withEnv<T>(values: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const before = Object.fromEntries(Object.keys(values).map((key) => [key, process.env[key]]));
  const set = (entries: Record<string, string | undefined>) => {
    for (const [key, value] of Object.entries(entries)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  };
  set(values);
  try {
    return await fn();
  } finally {
    set(before);
  }
}

for (const backend of ['pglite', 'native'] as const) {
  describe(`mutant on ${backend}`, () => {
    let server: NativeServer | undefined;
    beforeAll(async () => {
      if (backend === 'native') server = await shareNativeServer();
    });
    afterAll(async () => {
      await stopSharedServer(server);
    });
    const options = { backend, migrations: KIT_MIGRATIONS } as const;

    test('a mutant is applied after the migrations, as the schema owner, in a template of its own', async () => {
      const plain = await startKit(options);
      const dropPolicy = await sqlFile(`${backend}-drop.sql`, 'DROP POLICY documents_isolation ON documents;\nCREATE TABLE mutant_marker (id int);\n');
      const mutated = await startKit({ ...options, mutant: dropPolicy });
      try {
        expect(mutated.template.key).not.toBe(plain.template.key);
        expect(await visibleTitles(plain)).toEqual(['a1', 'a2']);
        // Without the policy, FORCE'd RLS with no policy hides every row from the app role.
        expect(await visibleTitles(mutated)).toEqual([]);
        await using db = await mutated.acquire();
        const { rows } = await db.query<{ owner: string; policies: number }>(
          `SELECT pg_get_userbyid(c.relowner) AS owner, (SELECT count(*)::int FROM pg_policy WHERE polrelid = 'documents'::regclass) AS policies
             FROM pg_class c WHERE c.relname = 'mutant_marker'`,
        );
        expect(rows).toEqual([{ owner: 'tk_owner', policies: 0 }]);
      } finally {
        await mutated.stop();
        await plain.stop();
      }
    });

    test('TENANTKIT_MUTANT applies when the option is unset; mutant: false ignores it; the log says what happened', async () => {
      const openUp = await sqlFile(`${backend}-open.sql`, 'ALTER POLICY documents_isolation ON documents USING (true);\n');
      const log = join(dir, `${backend}-log.jsonl`);
      const fromEnv = await withEnv({ [MUTANT_ENV]: openUp, [MUTANT_LOG_ENV]: log }, () => startKit(options));
      const fromOption = await startKit({ ...options, mutant: openUp });
      const ignored = await withEnv({ [MUTANT_ENV]: openUp }, () => startKit({ ...options, mutant: false }));
      try {
        expect(fromEnv.template.key).toBe(fromOption.template.key);
        expect(await visibleTitles(fromEnv)).toEqual(['a1', 'a2', 'g1']);
        expect(await visibleTitles(ignored)).toEqual(['a1', 'a2']);
        const lines = (await readFile(log, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
        expect(lines).toEqual([{ mutant: openUp, status: 'applied', template: fromEnv.template.key, pid: process.pid }]);
      } finally {
        await Promise.all([fromEnv.stop(), fromOption.stop(), ignored.stop()]);
      }
    });

    test('a mutant whose SQL fails is TENANTKIT_MUTANT_FAILED naming the file and the role, and is logged', async () => {
      const wrong = await sqlFile(`${backend}-wrong.sql`, 'DROP POLICY no_such_policy ON documents;\n');
      const log = join(dir, `${backend}-failed.jsonl`);
      const error = await withEnv({ [MUTANT_LOG_ENV]: log }, () => startKit({ ...options, mutant: wrong }).then(
        () => undefined,
        (caught: unknown) => caught,
      ));
      expect(error).toMatchObject({ code: 'TENANTKIT_MUTANT_FAILED', object: wrong, sqlState: '42704' });
      expect((error as Error).message).toContain('as role tk_owner');
      expect((error as Error).message).toContain('no_such_policy');
      const [line] = (await readFile(log, 'utf8')).trim().split('\n').map((entry) => JSON.parse(entry) as Record<string, unknown>);
      expect(line).toMatchObject({ mutant: wrong, status: 'failed', code: 'TENANTKIT_MUTANT_FAILED' });
    });
  });
}

test('a mutant file that cannot be read is TENANTKIT_MUTANT_UNREADABLE, from the option or the variable, before anything starts', async () => {
  const missing = join(tmpdir(), 'tenantkit-no-such-mutant.sql');
  const started = performance.now();
  await expect(startKit({ backend: 'native', migrations: KIT_MIGRATIONS, mutant: missing })).rejects.toMatchObject({
    code: 'TENANTKIT_MUTANT_UNREADABLE',
    object: missing,
    message: expect.stringContaining('from the mutant option'),
  });
  await expect(withEnv({ [MUTANT_ENV]: missing }, () => startKit({ backend: 'native', migrations: KIT_MIGRATIONS }))).rejects.toMatchObject({
    code: 'TENANTKIT_MUTANT_UNREADABLE',
    message: expect.stringContaining(`from ${MUTANT_ENV}`),
  });
  expect(performance.now() - started).toBeLessThan(1000);
});
