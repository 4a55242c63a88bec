import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { seedTenants } from '@tenantkit/fixtures';
import { type BackendKind, CHAIN_DATA_STEP, type MigrationCheckReport, type Migrator, MigrationFailedError, type Preset, TenantkitError, checkEveryMigration } from '@tenantkit/testkit';
import { FileNotFoundError, UsageError } from '../errors.js';
import { type CommandOutput, failure, wantsJson } from '../failure.js';
import { Steps } from '../progress.js';
import type { CliResult } from '../index.js';
import { SOURCE_OPTIONS, SOURCE_USAGE, type SourceArgs, checkLocalUrl, checkSource, migratorFor, presetFor, sourceArgs } from '../source.js';

export const MIGRATIONS_USAGE = `Usage: tenantkit migrations check (DIR | --migrations DIR | --alembic alembic.ini) [options]

Checks every migration of DIR on its own, from a fresh database at the version before it: up, down
(the schema must be exactly where it was: tables, columns, constraints, indexes, enums, functions,
triggers, policies, grants, and the roles the migration created), up again (the same schema again).
A broken migration does not hide the next one. Then base -> head -> base -> head. Then the chain's
data: on one more database, rows derived from the schema are seeded after every migration, each
later up must keep them, and at the head no tenant column may be NULL (the NULL gate). Migrations
with no down (Supabase, Prisma, Drizzle folders) get the last check instead of a down.

Where the database comes from:
${SOURCE_USAGE}
  --url URL              run on that server (the url backend): the kit creates its own databases
                         and roles there and drops only those

Options:
  --irreversible VERSION
                  declare a migration irreversible (repeatable; or a first line
                  "-- tenantkit: irreversible" in its up file): its missing down is not a failure.
                  An undeclared missing or empty down fails the migration.
  --tenant-column NAME
                  the tenant column the NULL gate checks (repeatable; default: the one the
                  seeder finds, e.g. tenant_id, account_id, "tenantId")
  --no-null-gate  a NULL tenant column is meant (a row every tenant shares): no NULL gate
  --no-data-check no seeded rows carried through the chain (reported as not proven)
  --json          print exactly one JSON object on stdout

Exit codes: 0 every step passes, 1 a step fails (SQL errors name the file and line), 2 usage or setup error.`;

/**
 * The report's shape, empty; `error` also says where: the file and line of a failing SQL statement,
 * else the object the error is about (line 0).
 */
const MIGRATIONS_OUTPUT: CommandOutput = {
  command: 'migrations',
  usage: MIGRATIONS_USAGE,
  emptyJson: { migrations: [] },
  errorFields: (error) => {
    const location = error instanceof MigrationFailedError ? error.location : undefined;
    return { file: location?.file ?? (error instanceof UsageError ? null : (error.object ?? null)), line: location?.line ?? 0 };
  },
};

export async function migrationsCommand(argv: readonly string[]): Promise<CliResult> {
  const json = wantsJson(argv);
  let values: ReturnType<typeof parse>['values'];
  let args: SourceArgs;
  try {
    let positionals: string[];
    ({ values, positionals } = parse(argv));
    if (values.help) return { code: 0, stdout: `${MIGRATIONS_USAGE}\n`, stderr: '' };
    const [sub, dirArg, ...rest] = positionals;
    if (sub !== 'check') throw new UsageError(sub === undefined ? 'missing the subcommand: migrations check DIR' : `unknown subcommand "${sub}": the one subcommand is check (migrations check DIR)`, sub);
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`, rest[0]);
    if (dirArg !== undefined && values.migrations !== undefined) throw new UsageError('give the folder once: DIR or --migrations DIR');
    const dir = dirArg ?? values.migrations;
    if (dir === undefined && values.alembic === undefined) throw new UsageError('missing DIR: the migrations folder to check (or --alembic alembic.ini)');
    if (dir !== undefined && values.alembic !== undefined) throw new UsageError('give one source: DIR or --alembic alembic.ini');
    if (values['app-grants'] !== undefined) throw new UsageError('--app-grants applies to audit and seed');
    if (values.sql !== undefined) throw new UsageError('--sql files have no down steps to check; migrations check takes a migrations folder (use --setup for SQL that must run first)');
    if (dir !== undefined && (!existsSync(dir) || !statSync(dir).isDirectory())) throw new FileNotFoundError(dirArg === undefined ? '--migrations' : 'migrations check', dir, 'directory');
    const { url, ...local } = values;
    args = sourceArgs({ ...local, ...(dir !== undefined ? { migrations: dir } : {}) }, []);
    checkSource(args);
    if (url !== undefined && values.backend !== undefined) throw new UsageError('--url runs on that server; leave --backend out');
    if (url !== undefined) checkLocalUrl(url, args.allowRemote);
  } catch (error) {
    return failure(MIGRATIONS_OUTPUT, 2, error, json);
  }
  let migrator: Migrator;
  let preset: Preset | undefined;
  try {
    migrator = (await migratorFor(args))!;
    preset = await presetFor(args);
  } catch (error) {
    return failure(MIGRATIONS_OUTPUT, 2, error, json);
  }
  const on = values.url !== undefined ? { backend: 'url' as BackendKind, url: values.url, ...(args.allowRemote ? { allowRemote: true } : {}) } : args.backend ? { backend: args.backend as BackendKind } : args.alembic ? { backend: 'native' as BackendKind } : {};
  const tenantColumns = values['tenant-column'];
  let report: MigrationCheckReport;
  const steps = new Steps();
  steps.start(`checking ${(await migrator.list().catch(() => [])).length} migration(s) up, down and up again`);
  try {
    report = await checkEveryMigration(migrator, {
      onProgress: ({ done, total }) => {
        steps.tick(done, total);
        if (done === total) steps.start('the full cycle and the data carried through the chain');
      },
      ...on,
      ...(args.setup.length > 0 ? { setup: [...args.setup] } : {}),
      ...(preset ? { preset } : {}),
      roles: { migrateAs: args.migrateAs },
      ...(values['no-data-check'] ? {} : { seed: async (session, _migration, index) => {
        const world = await seedTenants(session, { tenants: 2, rowsPerTable: 2, seed: index + 1, ...(tenantColumns ? { tenantColumns } : {}) });
        return world.tenantColumn ? { tenantColumns: [world.tenantColumn] } : {};
      } } as const),
      ...(values['no-null-gate'] ? { tenantColumns: [] } : tenantColumns ? { tenantColumns } : {}),
    });
  } catch (error) {
    steps.end();
    // A failing --setup file is a setup error (2), not a failing migration (1).
    const inSetup = error instanceof TenantkitError && args.setup.some((file) => resolve(file) === resolve(error.object ?? ''));
    return failure(MIGRATIONS_OUTPUT, error instanceof TenantkitError && error.code === 'TENANTKIT_MIGRATION_FAILED' && !inSetup ? 1 : 2, error, json);
  }
  steps.end();
  return { code: report.ok ? 0 : 1, stdout: json ? `${JSON.stringify(report)}\n` : render(report), stderr: '' };
}

function render(report: MigrationCheckReport): string {
  const data = report.migrations.find((step) => step.version === CHAIN_DATA_STEP.version && step.name === CHAIN_DATA_STEP.name);
  const steps = report.migrations.filter((step) => step !== data);
  const skipped = steps.filter((step) => step.status === 'skip').length;
  const warned = data?.problems.some((problem) => problem.startsWith('warning:')) ? ' (see the warnings)' : '';
  const carried = data?.status === 'pass' ? ` Every step applies on seeded rows${warned}, and no tenant column is left NULL.` : data ? " The chain's data is NOT proven (see \"data\" below)." : '';
  const verdict = !report.ok
    ? 'Migrations check FAILED.'
    : skipped === 0
      ? `Every migration goes up, comes down to where it was, and goes up again.${carried}`
      : `Every migration applies on the state before it; ${skipped} of ${steps.length} have no down step, so up -> down -> up is checked only for the others.${carried}`;
  const lines = [verdict, ''];
  for (const step of report.migrations) {
    lines.push(`${step.status === 'pass' ? 'ok  ' : step.status === 'fail' ? 'FAIL' : 'skip'} ${step.version} ${step.name}`);
    for (const problem of step.problems) lines.push(...problem.split('\n').map((line) => `       ${line}`));
  }
  if (report.error) lines.push('', `first SQL error: ${report.error.file}:${report.error.line}: ${report.error.message}`);
  return `${lines.join('\n')}\n`;
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      ...SOURCE_OPTIONS,
      irreversible: { type: 'string', multiple: true },
      'tenant-column': { type: 'string', multiple: true },
      'no-null-gate': { type: 'boolean' },
      'no-data-check': { type: 'boolean' },
    },
  });
}
