import { existsSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  BACKEND_KINDS,
  type BackendKind,
  type MigrationCheckReport,
  type Migrator,
  MigrationFailedError,
  TenantkitError,
  dbmateDirectory,
  detectMigrationsFormat,
  runFullCycle,
  runStairway,
  sqlDirectory,
  startKit,
} from '@tenantkit/testkit';
import type { CliResult } from '../index.js';

export const MIGRATIONS_USAGE = `Usage: tenantkit migrations check DIR [--format sql-files|dbmate] [--backend NAME] [--json]

Runs every migration of DIR on an empty disposable database as a stairway: up, down (the schema must
be exactly where it was: tables, columns, constraints, indexes, enums, functions, triggers, policies,
grants), up again (the same schema again); then base -> head -> base -> head.

Options:
  --format NAME   sql-files (NNNN_name.up.sql / .down.sql) or dbmate (-- migrate:up / -- migrate:down);
                  detected from the files when not given
  --backend NAME  pglite | native | url | container (default pglite, or TENANTKIT_BACKEND)
  --irreversible VERSION
                  declare a migration irreversible (repeatable; or a first line
                  "-- tenantkit: irreversible" in its up file): its missing down is not a failure.
                  An undeclared missing or empty down fails the migration.
  --json          print exactly one JSON object on stdout

Exit codes: 0 every step passes, 1 a step fails (SQL errors name the file and line), 2 usage or setup error.`;

const EMPTY_DATABASE = '-- an empty database: the migrations under check build everything\n';

/** A failure in the contract's shape: `error` is `{ file, line, message }`. */
function failure(code: 1 | 2, error: unknown, json: boolean, file: string): CliResult {
  const named = error instanceof TenantkitError ? error : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const location = error instanceof MigrationFailedError ? error.location : undefined;
  const stderr = `tenantkit migrations: ${named ? `${named.code}: ` : ''}${message}\n`;
  if (!json) return { code, stdout: '', stderr };
  const body = { ok: false, migrations: [], error: { file: location?.file ?? named?.object ?? file, line: location?.line ?? 0, message: message.split('\n')[0] } };
  return { code, stdout: `${JSON.stringify(body)}\n`, stderr };
}

function usage(message: string): CliResult {
  return { code: 2, stdout: '', stderr: `tenantkit migrations: ${message}\n\n${MIGRATIONS_USAGE}\n` };
}

export async function migrationsCommand(argv: readonly string[]): Promise<CliResult> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    return usage((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { code: 0, stdout: `${MIGRATIONS_USAGE}\n`, stderr: '' };
  const [sub, dir, ...rest] = positionals;
  if (sub !== 'check') return usage(sub === undefined ? 'missing the subcommand: migrations check DIR' : `unknown subcommand "${sub}"`);
  if (dir === undefined) return usage('missing DIR');
  if (rest.length > 0) return usage(`unexpected argument "${rest[0]}"`);
  if (values.format !== undefined && values.format !== 'sql-files' && values.format !== 'dbmate') return usage(`unknown --format "${values.format}": use sql-files or dbmate`);
  if (values.backend !== undefined && !(BACKEND_KINDS as readonly string[]).includes(values.backend)) return usage(`unknown --backend "${values.backend}"`);
  const json = Boolean(values.json);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return failure(2, new Error(`${dir}: no such directory`), json, dir);

  let migrator: Migrator;
  try {
    const format = values.format ?? (await detectMigrationsFormat(dir));
    const irreversible = values.irreversible ?? [];
    const unknown = irreversible.filter((entry) => !/^\d+$/.test(entry));
    if (unknown.length > 0) return usage(`--irreversible takes a migration version (digits), got "${unknown[0]}"`);
    migrator = format === 'dbmate' ? dbmateDirectory(dir, { irreversible }) : sqlDirectory(dir, { irreversible });
    const listed = await migrator.list();
    const missing = irreversible.filter((entry) => !listed.some((m) => m.version === entry || BigInt(m.version) === BigInt(entry)));
    if (missing.length > 0) return usage(`--irreversible ${missing[0]} names no migration in ${dir} (versions: ${listed.map((m) => m.version).join(', ')})`);
  } catch (error) {
    return failure(2, error, json, dir);
  }
  let kit: Awaited<ReturnType<typeof startKit>>;
  try {
    kit = await startKit({ schema: EMPTY_DATABASE, isolation: 'none', poolSize: 0, ...(values.backend ? { backend: values.backend as BackendKind } : {}) });
  } catch (error) {
    return failure(2, error, json, dir);
  }
  try {
    await using db = await kit.acquire();
    const options = { inspect: db, target: { session: db.owner, role: db.owner.role, ...(db.owner.url ? { url: db.owner.url } : {}) } };
    let report: MigrationCheckReport = await runStairway(migrator, options);
    if (report.ok) {
      // The stairway left the database at head: come down to base and go up again, all of it.
      await migrator.down(options.target).catch(() => {});
      const problems = await runFullCycle(migrator, options);
      if (problems.length > 0) report = { ...report, ok: false, migrations: [...report.migrations, { version: 'cycle', name: 'base -> head -> base -> head', status: 'fail', problems }] };
    }
    return { code: report.ok ? 0 : 1, stdout: json ? `${JSON.stringify(report)}\n` : render(report), stderr: '' };
  } catch (error) {
    return failure(error instanceof TenantkitError && error.code === 'TENANTKIT_MIGRATION_FAILED' ? 1 : 2, error, json, dir);
  } finally {
    await kit.stop();
  }
}

function render(report: MigrationCheckReport): string {
  const lines = [report.ok ? 'Every migration goes up, comes down to where it was, and goes up again.' : 'Migrations check FAILED.', ''];
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
      format: { type: 'string' },
      backend: { type: 'string' },
      irreversible: { type: 'string', multiple: true },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
