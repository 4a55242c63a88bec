import { parseArgs } from 'node:util';
import {
  type IsolationReport,
  NamesNothingError,
  type RlsAssertErrorCode,
  type TenantContext,
  checkIsolation,
  customContext,
  detectTenantSetting,
  jwtClaimsContext,
  membershipContext,
  renderHtml,
  renderMatrix,
  reportJson,
} from '@tenantkit/rls-assert';
import { type TenantkitErrorCode, type TestDatabase, TenantkitError, attachDatabase, quoteIdent } from '@tenantkit/testkit';
import { grantCrud, isCustomSettingName } from '@tenantkit/testkit/internal';
import { CannotSetRoleError, UsageError } from '../errors.js';
import { type CommandOutput, checkWritable, failure, wantsJson, writeHtmlReport } from '../failure.js';
import { Steps } from '../progress.js';
import type { CliResult } from '../index.js';
import { SOURCE_OPTIONS, SOURCE_USAGE, appGrantsArg, checkSource, describeUrl, openSource, sourceArgs } from '../source.js';

export const AUDIT_USAGE = `Usage: tenantkit audit (--sql FILE... | --migrations DIR | --alembic alembic.ini | --url URL) [options]

Proves, table by table and acting as the app role, that no tenant can read or change another
tenant's rows, and audits the catalog for the classic row level security holes.
--sql and --migrations build a disposable database on the default backend (after --setup, as the
kit's owner role unless --migrate-as admin), seed two tenants and probe; --url probes an existing
database inside a transaction that is rolled back.

Where the database comes from:
${SOURCE_USAGE}

Options:
  --app-role NAME        the role the application connects as (a role the schema created);
                         default: the kit's own app role (required with --url)
  --app-grants MODE      schema (default): the app role has only what the SQL grants; crud: it also
                         gets SELECT, INSERT, UPDATE, DELETE on every table and USAGE on every
                         sequence after the migrations, as a deployment script grants
  --tenant-column NAME   a tenant column name (repeatable)
  --tenant-setting NAME  the setting the policies read (default: detected from the policies)
  --tenant-context-sql SQL
                         how the application sets its tenant, when it is not one plain setting:
                         SQL run as the app role inside each probe's transaction, $1 = the tenant
                         id, e.g. "SELECT set_tenant($1, 'signing-secret')"; it must use LOCAL scope
  --jwt-claims CLAIM     Supabase/PostgREST style: request.jwt.claims JSON with the tenant in CLAIM
                         (a dotted path: tenant_id, sub, app_metadata.tenant_id), then SET LOCAL ROLE
                         to --jwt-role (default authenticated; "none" switches no role)
  --jwt-role ROLE        the role the JWT context switches to (with --jwt-claims)
  --membership TABLE.COLUMN
                         Supabase style tenancy through a membership table: each tenant is probed as
                         a user (claims sub, role authenticated) who belongs to it in TABLE, COLUMN
                         holding the user id; found by itself on a Supabase database when the
                         policies read auth.uid() and no tenant claim
  A schema whose tenant tables have no row level security needs none of these: they simply fail.
  --global TABLE         a table to treat as global (repeatable)
  --allow-not-proven TABLE:CHECK
                         accept that one check on one table could not be demonstrated (repeatable);
                         the report still lists it
  --json                 print exactly one JSON object on stdout
  --html FILE            also write a self-contained HTML report

Every check ends as ok (refused by row level security, or by a missing privilege the catalog
confirms), FAIL (a leak was demonstrated), ?? (not proven: the kit could not demonstrate it; the
reason is listed) or - (not applicable to that kind of table).

Exit codes: 0 isolation proven (every tenant-scoped table proven, at least one), 1 not proven (a
failed or not-proven check, an error finding, or a bypassing identity), 2 usage or setup error,
including an option that names nothing in the schema.`;

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
      'tenant-context-sql': { type: 'string' },
      'jwt-claims': { type: 'string' },
      'jwt-role': { type: 'string' },
      membership: { type: 'string' },
      global: { type: 'string', multiple: true },
      'allow-not-proven': { type: 'string', multiple: true },
      html: { type: 'string' },
    },
  });
}

/** With --json a failure is still the report's shape: nothing proven. */
const AUDIT_OUTPUT: CommandOutput = { command: 'audit', usage: AUDIT_USAGE, emptyJson: { setup: null, tables: [], findings: [] } };


/** Failures that mean "isolation is not proven" (1) rather than "could not run" (2). */
const NOT_PROVEN: ReadonlySet<TenantkitErrorCode> = new Set<RlsAssertErrorCode>(['TENANTKIT_BYPASSING_IDENTITY']);

export async function auditCommand(argv: readonly string[]): Promise<CliResult> {
  const json = wantsJson(argv);
  let values: ReturnType<typeof parse>['values'];
  let args: ReturnType<typeof sourceArgs>;
  let grants: 'schema' | 'crud';
  try {
    let positionals: string[];
    ({ values, positionals } = parse(argv));
    if (values.help) return { code: 0, stdout: `${AUDIT_USAGE}\n`, stderr: '' };
    grants = appGrantsArg(values['app-grants'], 'schema');
    args = sourceArgs(values, positionals);
    checkSource(args);
    checkAuditFlags(values);
    // Checked before the audit runs, which takes a while, rather than after it.
    if (values.html !== undefined) checkWritable('--html', values.html);
  } catch (error) {
    return failure(AUDIT_OUTPUT, 2, error, json);
  }
  const appRole = values['app-role'];

  let db: TestDatabase;
  let close: () => Promise<void>;
  let sourceFiles: readonly string[] = [];
  const where = values.url === undefined ? 'the disposable database' : describeUrl(values.url);
  const steps = new Steps();
  try {
    if (values.url !== undefined) {
      db = await attachDatabase({ url: values.url, appRole: appRole!, ...(values['allow-remote'] ? { allowRemote: true } : {}) });
      close = () => db.release();
      const problem = await appRoleProblem(db, appRole!, [], true);
      if (problem) {
        await close().catch(() => {});
        return failure(AUDIT_OUTPUT, 2, problem, json, where);
      }
    } else {
      steps.start(`starting the ${args.backend ?? 'default'} backend and building the schema`);
      const source = await openSource(args, { roles: { appGrants: grants === 'crud' && appRole === undefined ? 'crud' : 'none' } });
      steps.end();
      db = source.database!;
      close = () => source.close();
      sourceFiles = source.files;
      if (appRole !== undefined) {
        const problem = await appRoleProblem(db, appRole, [db.app.role, db.owner.role], false);
        if (problem) {
          await close();
          return failure(AUDIT_OUTPUT, 2, problem, json, where);
        }
        if (grants === 'crud') await grantCrud(db.admin, appRole);
        // The kit's app login acts with exactly that role's rights (and is refused if that role bypasses RLS).
        await db.exec(`GRANT ${quoteIdent(appRole)} TO ${quoteIdent(db.app.role)}`);
      }
    }
  } catch (error) {
    return failure(AUDIT_OUTPUT, 2, error, json, where);
  }

  let report: IsolationReport;
  try {
    const context = await contextFromFlags(db, values);
    steps.start('reading the catalog');
    report = await checkIsolation(db, {
      onProgress: ({ step, done, total }) => {
        if (step === 'catalog') steps.start('seeding two tenants');
        else if (step === 'seed') steps.start('probing tables as the app role');
        else steps.tick(done, total);
      },
      ...(context ? { context } : {}),
      ...(sourceFiles.length > 0 ? { sourceFiles } : {}),
      ...(values['tenant-column'] ? { tenantColumns: values['tenant-column'] } : {}),
      ...(values['tenant-setting'] ? { tenantSetting: values['tenant-setting'] } : {}),
      ...(values.global ? { globalTables: values.global } : {}),
      ...(values['allow-not-proven'] ? { allowNotProven: values['allow-not-proven'] } : {}),
      ...(appRole ? { appRole } : {}),
    });
  } catch (error) {
    await close().catch(() => {});
    steps.end();
    const notProven = error instanceof TenantkitError && NOT_PROVEN.has(error.code);
    return failure(AUDIT_OUTPUT, notProven ? 1 : 2, error, json, where);
  }
  steps.end();
  await close().catch(() => {});
  const unwritable = await writeHtmlReport(AUDIT_OUTPUT, values.html, () => renderHtml(report), json);
  if (unwritable) return unwritable;
  return {
    code: report.ok ? 0 : 1,
    stdout: json ? `${JSON.stringify(reportJson(report))}\n` : renderMatrix(report),
    stderr: '',
  };
}

/** The flags that must agree with each other, checked before any database is opened. */
function checkAuditFlags(values: ReturnType<typeof parse>['values']): void {
  const appRole = values['app-role'];
  if (values.url !== undefined && appRole === undefined) throw new UsageError('--url needs --app-role: the role the application connects as');
  if (values.url !== undefined && values['app-grants'] !== undefined) throw new UsageError('--app-grants applies to --sql and --migrations; with --url the database\'s own grants are audited');
  const contexts = [values['tenant-context-sql'], values['jwt-claims'], values.membership].filter((entry) => entry !== undefined);
  if (contexts.length > 1) throw new UsageError('give one way to set the tenant: --tenant-context-sql, --jwt-claims or --membership');
  if (values.membership !== undefined && !/^[^.\s]+(\.[^.\s]+)?\.[^.\s]+$/.test(values.membership)) throw new UsageError(`--membership "${values.membership}" is not TABLE.COLUMN (or SCHEMA.TABLE.COLUMN), e.g. public.memberships.user_id`);
  if (values['jwt-role'] !== undefined && values['jwt-claims'] === undefined) throw new UsageError('--jwt-role goes with --jwt-claims');
  if (values['tenant-context-sql'] !== undefined && !/\$1\b/.test(values['tenant-context-sql'])) {
    throw new UsageError('--tenant-context-sql must use $1 (the tenant id), e.g. "SELECT set_tenant($1)"');
  }
  if (appRole !== undefined && !/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(appRole)) throw new UsageError(`--app-role "${appRole}" is not a plain role name`, appRole);
  const setting = values['tenant-setting'];
  if (setting !== undefined && !isCustomSettingName(setting)) {
    throw new UsageError(`--tenant-setting "${setting}" is not a name Postgres accepts for a custom setting (SQLSTATE 42602): use identifiers joined by a dot, the one the policies read with current_setting(), e.g. app.tenant_id`, setting);
  }
}

/**
 * Why the app role cannot be probed: it does not exist (listing the roles that do), or the --url
 * user may not SET ROLE to it. Both would otherwise surface as a raw error in the middle of the audit.
 */
async function appRoleProblem(db: TestDatabase, appRole: string, kitRoles: readonly string[], viaUrl: boolean): Promise<Error | undefined> {
  const { rows } = await db.query<{ rolname: string; here: boolean }>(
    `SELECT rolname, rolname = $1 AS here FROM pg_catalog.pg_roles WHERE rolname NOT LIKE 'pg\\_%' AND rolname <> ALL($2::text[]) ORDER BY rolname`,
    [appRole, [...kitRoles]],
  );
  if (!rows.some((row) => row.here)) {
    const fix = viaUrl
      ? 'Name the role the application connects as (it must exist on that server), e.g. --app-role web.'
      : 'Create it in the SQL you pass (the role your application connects as), or leave --app-role out to probe as the kit\'s own app role.';
    return new NamesNothingError('TENANTKIT_UNKNOWN_ROLE', 'The app role', [appRole], rows.map((row) => row.rolname), fix);
  }
  if (!viaUrl) return undefined;
  // PostgreSQL 16 grants SET ROLE separately from membership; before it, membership is what counts.
  const { rows: [may] } = await db.query<{ user: string; may: boolean }>(
    `SELECT current_user AS user, CASE WHEN current_setting('server_version_num')::int >= 160000 THEN pg_catalog.pg_has_role(current_user, $1, 'SET') ELSE pg_catalog.pg_has_role(current_user, $1, 'MEMBER') END AS may`,
    [appRole],
  );
  return may && !may.may ? new CannotSetRoleError(may.user, appRole) : undefined;
}

/** The tenant context the flags describe, or undefined to use the setting (given or detected). */
async function contextFromFlags(
  db: TestDatabase,
  values: { 'tenant-context-sql'?: string; 'jwt-claims'?: string; 'jwt-role'?: string; 'tenant-setting'?: string; membership?: string },
): Promise<TenantContext | undefined> {
  if (values.membership !== undefined) {
    const at = values.membership.lastIndexOf('.');
    return membershipContext({ table: values.membership.slice(0, at), userColumn: values.membership.slice(at + 1) });
  }
  const jwt = values['jwt-claims'];
  if (jwt !== undefined) {
    const role = values['jwt-role'];
    return jwtClaimsContext({ claim: jwt.split('.'), role: role === 'none' ? null : (role ?? 'authenticated') });
  }
  const sql = values['tenant-context-sql'];
  if (sql === undefined) return undefined;
  // The settings the function writes are checked for leaks after the probes: the one given, or
  // the one the policies read.
  const detected = values['tenant-setting'] === undefined ? await detectTenantSetting(db.admin) : undefined;
  const settings = values['tenant-setting'] ? [values['tenant-setting']] : detected ? [detected.kind === 'guc' ? detected.setting : detected.claimsSetting] : [];
  return customContext(
    async (tx, tenant) => {
      await tx.query(sql, [tenant]);
    },
    { description: sql, settings },
  );
}
