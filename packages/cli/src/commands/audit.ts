import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type IsolationReport, checkIsolation, renderHtml, renderMatrix, reportJson } from '@tenantkit/rls-assert';
import { type TestDatabase, TenantkitError, attachDatabase, quoteIdent } from '@tenantkit/testkit';
import type { CliResult } from '../index.js';
import { SOURCE_OPTIONS, checkSource, failureResult, openSource, sourceArgs } from '../source.js';
import { UsageError } from '../usage.js';

export const AUDIT_USAGE = `Usage: tenantkit audit (--sql FILE... | --migrations DIR | --url URL) [options]

Proves, table by table and acting as the app role, that no tenant can read or change another
tenant's rows, and audits the catalog for the classic row level security holes.
--sql and --migrations build a disposable database on the default backend (the SQL runs as admin),
seed two tenants and probe; --url probes an existing database inside a transaction that is rolled back.

Options:
  --app-role NAME        the role the application connects as (a role the schema created);
                         default: the kit's own app role with the schema's grants (required with --url)
  --tenant-column NAME   a tenant column name (repeatable)
  --tenant-setting NAME  the setting the policies read (default: detected from the policies)
  --global TABLE         a table to treat as global (repeatable)
  --backend NAME         pglite | native | url | container (for --sql and --migrations)
  --allow-remote         allow --url to a host other than this machine
  --json                 print exactly one JSON object on stdout
  --html FILE            also write a self-contained HTML report

Exit codes: 0 isolation proven, 1 not proven (a failed check, an error finding, or a bypassing
identity), 2 usage or setup error.`;

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      ...SOURCE_OPTIONS,
      'app-role': { type: 'string' },
      'tenant-column': { type: 'string', multiple: true },
      'tenant-setting': { type: 'string' },
      global: { type: 'string', multiple: true },
      html: { type: 'string' },
    },
  });
}

/** With --json a failure is still the report's shape: nothing proven. */
const NOT_PROVEN_BODY = { ok: false, tables: [], findings: [] };

/** Failures that mean "isolation is not proven" (1) rather than "could not run" (2). */
const NOT_PROVEN = new Set<string>(['TENANTKIT_BYPASSING_IDENTITY']);

export async function auditCommand(argv: readonly string[]): Promise<CliResult> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    return usageFailure((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { code: 0, stdout: `${AUDIT_USAGE}\n`, stderr: '' };
  const appRole = values['app-role'];
  let args: ReturnType<typeof sourceArgs>;
  try {
    args = sourceArgs(values, positionals);
    checkSource(args);
    if (values.url !== undefined && appRole === undefined) throw new UsageError('--url needs --app-role: the role the application connects as');
    if (appRole !== undefined && !/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(appRole)) throw new UsageError(`--app-role "${appRole}" is not a plain role name`);
  } catch (error) {
    return usageFailure((error as Error).message);
  }
  const json = Boolean(values.json);

  let db: TestDatabase;
  let close: () => Promise<void>;
  try {
    if (values.url !== undefined) {
      db = await attachDatabase({ url: values.url, appRole: appRole!, ...(values['allow-remote'] ? { allowRemote: true } : {}) });
      close = () => db.release();
    } else {
      const source = await openSource(args, { roles: { migrateAs: 'admin', appGrants: 'none' } });
      db = source.database!;
      close = () => source.close();
      if (appRole !== undefined) {
        const { rows } = await db.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [appRole]);
        if (rows.length === 0) {
          await close();
          return failureResult('audit', 2, new UsageError(`--app-role ${appRole}: the schema created no such role`), json, NOT_PROVEN_BODY);
        }
        // The kit's app login acts with exactly that role's rights (and is refused if that role bypasses RLS).
        await db.exec(`GRANT ${quoteIdent(appRole)} TO ${quoteIdent(db.app.role)}`);
      }
    }
  } catch (error) {
    return failureResult('audit', 2, error, json, NOT_PROVEN_BODY);
  }

  let report: IsolationReport;
  try {
    report = await checkIsolation(db, {
      ...(values['tenant-column'] ? { tenantColumns: values['tenant-column'] } : {}),
      ...(values['tenant-setting'] ? { tenantSetting: values['tenant-setting'] } : {}),
      ...(values.global ? { globalTables: values.global } : {}),
    });
  } catch (error) {
    await close().catch(() => {});
    const notProven = error instanceof TenantkitError && NOT_PROVEN.has(error.code);
    return failureResult('audit', notProven ? 1 : 2, error, json, NOT_PROVEN_BODY);
  }
  await close().catch(() => {});
  if (values.html) await writeFile(values.html, renderHtml(report));
  return {
    code: report.ok ? 0 : 1,
    stdout: json ? `${JSON.stringify(reportJson(report))}\n` : renderMatrix(report),
    stderr: '',
  };
}

function usageFailure(message: string): CliResult {
  return { code: 2, stdout: '', stderr: `tenantkit audit: ${message}\n\n${AUDIT_USAGE}\n` };
}
