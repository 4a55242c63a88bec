import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/tenantkit.js', import.meta.url));
const vitestBin = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
// Inside the package, so the scratch projects resolve the workspace's packages as an installed project would.
const scratchRoot = fileURLToPath(new URL('../.init-scratch/', import.meta.url));

const SETTING = "NULLIF(current_setting('app.current_org', true), '')::uuid";
const TABLES = [
  'CREATE TABLE accounts (account_id uuid PRIMARY KEY, name text NOT NULL)',
  'ALTER TABLE accounts ENABLE ROW LEVEL SECURITY',
  'ALTER TABLE accounts FORCE ROW LEVEL SECURITY',
  `CREATE POLICY accounts_self ON accounts USING (account_id = ${SETTING})`,
  'CREATE TABLE projects (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id uuid NOT NULL REFERENCES accounts, title text NOT NULL)',
  'ALTER TABLE projects ENABLE ROW LEVEL SECURITY',
  'ALTER TABLE projects FORCE ROW LEVEL SECURITY',
  `CREATE POLICY projects_tenant ON projects USING (account_id = ${SETTING}) WITH CHECK (account_id = ${SETTING})`,
];
const DOWN = ['DROP TABLE projects', 'DROP TABLE accounts'];
const LEAK = ['CREATE TABLE invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id uuid NOT NULL REFERENCES accounts, total int NOT NULL)'];
const sql = (statements: readonly string[]) => statements.map((statement) => `${statement};`).join('\n');
const js = (statements: readonly string[], call: string) => statements.map((statement) => `  await ${call}(${JSON.stringify(statement)});`).join('\n');

/** A project laid out the way each tool writes its migrations (one folder, its own names). */
const LAYOUTS: Record<string, (extra: readonly string[]) => Record<string, string>> = {
  'golang-migrate': (extra) => ({
    'db/migrations/000001_init.up.sql': sql(TABLES),
    'db/migrations/000001_init.down.sql': sql(DOWN),
    ...(extra.length > 0 ? { 'db/migrations/000002_invoices.up.sql': sql(extra), 'db/migrations/000002_invoices.down.sql': 'DROP TABLE invoices;' } : {}),
  }),
  dbmate: (extra) => ({
    'db/migrations/20240101120000_init.sql': `-- migrate:up\n${sql(TABLES)}\n\n-- migrate:down\n${sql(DOWN)}\n`,
    ...(extra.length > 0 ? { 'db/migrations/20240102120000_invoices.sql': `-- migrate:up\n${sql(extra)}\n\n-- migrate:down\nDROP TABLE invoices;\n` } : {}),
  }),
  'node-pg-migrate': () => ({
    'package.json': JSON.stringify({ name: 'scratch', private: true, type: 'module', devDependencies: { 'node-pg-migrate': '*' } }),
    'migrations/1700000000001_init.js': `export const up = async (pgm) => {\n${js(TABLES, 'pgm.sql')}\n};\nexport const down = async (pgm) => {\n${js(DOWN, 'pgm.sql')}\n};\n`,
  }),
  knex: () => ({
    'package.json': JSON.stringify({ name: 'scratch', private: true, devDependencies: { knex: '*' } }),
    'knexfile.cjs': "module.exports = { client: 'pg', migrations: { directory: './migrations' } };\n",
    'migrations/20240101000000_init.cjs': `exports.up = async (knex) => {\n${js(TABLES, 'knex.raw')}\n};\nexports.down = async (knex) => {\n${js(DOWN, 'knex.raw')}\n};\n`,
  }),
  drizzle: () => ({
    'drizzle/0000_init.sql': TABLES.map((statement) => `${statement};`).join('\n--> statement-breakpoint\n'),
    'drizzle/meta/_journal.json': JSON.stringify({ version: '7', dialect: 'postgresql', entries: [{ idx: 0, version: '7', when: 1700000000000, tag: '0000_init', breakpoints: true }] }),
  }),
  prisma: () => ({
    'prisma/schema.prisma': 'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n',
    'prisma/migrations/migration_lock.toml': 'provider = "postgresql"\n',
    'prisma/migrations/20240101000000_init/migration.sql': `${sql(TABLES.slice(0, 4))}\n`,
    'prisma/migrations/20240102000000_projects/migration.sql': `${sql(TABLES.slice(4))}\n`,
  }),
};

async function scratch(files: Record<string, string>): Promise<string> {
  await mkdir(scratchRoot, { recursive: true });
  const dir = await mkdtemp(join(scratchRoot, 'project-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

async function execIn(cwd: string, file: string, args: string[]): Promise<{ code: number; output: string; stdout: string }> {
  const env = { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: '', NO_COLOR: '1' };
  try {
    const { stdout, stderr } = await run(process.execPath, [file, ...args], { cwd, env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr, stdout: failed.stdout };
  }
}

afterAll(async () => {
  await rm(scratchRoot, { recursive: true, force: true });
});

describe('tenantkit init', () => {
  test.each(Object.keys(LAYOUTS))('in a %s project writes a spec that runs green on the first try', async (tool) => {
    const project = await scratch(LAYOUTS[tool]!([]));
    const init = await execIn(project, bin, ['init']);
    expect(init.code, init.output).toBe(0);
    expect(init.stdout).toContain(`Found ${tool} migrations`);
    expect(init.stdout).toContain('app.current_org');
    for (const file of ['vitest.config.ts', 'test/kit.ts', 'test/isolation.test.ts']) expect(existsSync(join(project, file)), file).toBe(true);
    const tests = await execIn(project, vitestBin, ['run']);
    expect(tests.code, tests.output).toBe(0);
    expect(tests.output).toMatch(/Tests\s+1 passed/);
  });

  test('a project with a hole gets a red spec that names the table', async () => {
    const project = await scratch(LAYOUTS.dbmate!(LEAK));
    expect((await execIn(project, bin, ['init'])).code).toBe(0);
    const tests = await execIn(project, vitestBin, ['run']);
    expect(tests.code).toBe(1);
    expect(tests.output).toContain('expected tenant isolation to be proven');
    expect(tests.output).toMatch(/public\.invoices\s+tenant\s+failed/);
  });

  test('never overwrites: an existing file stops it before anything is written', async () => {
    const project = await scratch({ ...LAYOUTS['golang-migrate']!([]), 'test/kit.ts': '// mine\n' });
    const result = await execIn(project, bin, ['init']);
    expect(result.code).toBe(2);
    expect(result.output).toContain('test/kit.ts already exist(s); nothing was written');
    expect(await readFile(join(project, 'test/kit.ts'), 'utf8')).toBe('// mine\n');
    expect(existsSync(join(project, 'vitest.config.ts'))).toBe(false);
    const withConfig = await scratch({ ...LAYOUTS['golang-migrate']!([]), 'vite.config.ts': 'export default {};\n' });
    expect((await execIn(withConfig, bin, ['init'])).output).toContain('vite.config.ts already exist(s)');
    // With other paths it writes beside the user's own config.
    const beside = await execIn(withConfig, bin, ['init', '--config', 'vitest.tenantkit.config.ts', '--test-dir', 'test/tenantkit']);
    expect(beside.code, beside.output).toBe(0);
    expect(await readFile(join(withConfig, 'vitest.tenantkit.config.ts'), 'utf8')).toContain("from './test/tenantkit/kit.js'");
  });

  test('no migrations, two candidate folders, or an unknown tool: a usage error that says what to pass', async () => {
    const empty = await scratch({ 'README.md': '# nothing here\n' });
    const none = await execIn(empty, bin, ['init']);
    expect(none.code).toBe(2);
    expect(none.output).toContain('no migrations folder was found');
    expect(none.output).toContain('--migrations DIR');
    const two = await scratch({ ...LAYOUTS['golang-migrate']!([]), 'sql/migrations/000001_x.up.sql': 'SELECT 1;', 'sql/migrations/000001_x.down.sql': 'SELECT 1;' });
    const ambiguous = await execIn(two, bin, ['init']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.output).toMatch(/more than one migrations folder was found: .*db\/migrations.*sql\/migrations/);
    expect((await execIn(two, bin, ['init', '--migrations', 'sql/migrations'])).code).toBe(0);
    expect((await execIn(empty, bin, ['init', '--tool', 'flyway'])).output).toContain('unknown --tool "flyway"');
  });
});
