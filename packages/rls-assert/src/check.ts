import { type AutoFactories, DEFAULT_TENANT_COLUMNS, type SchemaModel, type Tenancy, type World, autoFactories, seedTenants } from '@tenantkit/fixtures';
import { SUPABASE_PLATFORM_SCHEMAS, type TestDatabase, quoteIdent } from '@tenantkit/testkit';
import { escapeRegExp, messageOf } from '@tenantkit/testkit/internal';
import { type Catalog, readCatalog } from './audit/catalog.js';
import { auditRules } from './audit/rules.js';
import { CHECKS, type CheckName } from './checks.js';
import { findingsInSourceFiles } from './audit/source-files.js';
import { type TenantContext, assertNoLeak, contextFor, detectTenantSetting, gucContext, jwtClaimsContext } from './context.js';
import { findMembership, isSupabase, membershipContext, policyText, probeAnon } from './supabase.js';
import { supabaseFindings } from './audit/supabase-rules.js';
import { NamesNothingError, TenantContextError } from './errors.js';
import { assertProvingIdentity } from './guard.js';
import { type Exposure, probeExposure } from './exposure.js';
import { freshSessionCounts } from './fresh.js';
import { notApplicable } from './outcome.js';
import { type ProbeTable, probeTable } from './probes.js';
import type { CheckResult, Finding, IsolationReport, ReportSetup, TableReport, TableStatus } from './types.js';

export interface CheckIsolationOptions {
  /** Tenant column names (default: tenant_id, account_id, organization_id, org_id, workspace_id, team_id and their camelCase forms). */
  readonly tenantColumns?: readonly string[];
  /** The setting policies read (default: detected from the policies' current_setting(...) calls). */
  readonly tenantSetting?: string;
  /** How a tenant's context is set, when it is not one setting (role per tenant, JWT claims, a function). */
  readonly context?: TenantContext;
  /** Tables to treat as global (`schema.table` or a public table's name), never probed. */
  readonly globalTables?: readonly string[];
  /** Probe only these tables, and report only the findings about them. */
  readonly tables?: readonly string[];
  /**
   * Gaps the caller accepts, as `schema.table:check` (or `table:check` for a public table): such a
   * not-proven check no longer blocks the verdict, and the report still lists it. `read-own` cannot
   * be accepted: without it nothing about the table was shown.
   */
  readonly allowNotProven?: readonly string[];
  /**
   * The name reports give the app role: the role the application connects as, when the kit's login
   * acts with that role's rights (default: db.app.role).
   */
  readonly appRole?: string;
  /** A world seeded by hand (e.g. with hand-picked factory rows); default: two tenants seeded here. */
  readonly world?: World;
  /** Rows per table per tenant when seeding. Default 3. */
  readonly rowsPerTable?: number;
  readonly seed?: number;
  /** Skip the static audit of the catalog. */
  readonly skipAudit?: boolean;
  /**
   * The schema or migration files the database was built from: audited for what the catalog cannot
   * show (a role created with a literal password).
   */
  readonly sourceFiles?: readonly string[];
  /**
   * The platform the database was built for. 'supabase' (default when the database has the roles
   * anon and authenticated and auth.uid()): requests act as `authenticated` with JWT claims, as a
   * user who belongs to the tenant through the membership table unless the policies read a tenant
   * claim; `anon` is probed too; the audit speaks of authenticated. 'none' turns detection off.
   */
  readonly preset?: 'supabase' | 'none';
  /** Told as the check goes: the catalog read, the tenants seeded, each table probed (done of total). */
  readonly onProgress?: (progress: CheckProgress) => void;
}

/** How far a check has come: its step, and for the probes how many tables of how many. */
export interface CheckProgress {
  readonly step: 'catalog' | 'seed' | 'probe';
  readonly done: number;
  readonly total: number;
}

function matches(table: { id: string; schema: string; name: string }, names: readonly string[] | undefined): boolean {
  return names?.some((name) => name === table.id || (table.schema === 'public' && name === table.name)) ?? false;
}

/** Refuses tenant columns, tables and accepted gaps that name nothing: they would prove nothing. */
function checkNames(model: SchemaModel, catalog: Catalog, options: CheckIsolationOptions): void {
  if (options.tenantColumns) {
    const columns = new Set(model.tables.flatMap((table) => table.columns.map((column) => column.name)));
    const unknown = options.tenantColumns.filter((name) => !columns.has(name));
    if (unknown.length > 0) {
      const candidates = [...columns].filter((name) => /_?id$/i.test(name)).sort();
      throw new NamesNothingError('TENANTKIT_UNKNOWN_TENANT_COLUMN', 'The tenant column', unknown, candidates, 'Name the column that holds the tenant id (--tenant-column); the candidates listed are the columns ending in "id".');
    }
  }
  const relations = [...catalog.relations.values()];
  const tableIds = relations.map((relation) => relation.id).sort();
  for (const [label, names] of [
    ['The global table', options.globalTables],
    ['The selected table', options.tables],
  ] as const) {
    const unknown = (names ?? []).filter((name) => !relations.some((relation) => matches(relation, [name])));
    if (unknown.length > 0) throw new NamesNothingError('TENANTKIT_UNKNOWN_TABLE', label, unknown, tableIds, 'Name a table as `schema.table` (or a public table by its name).');
  }
  for (const entry of options.allowNotProven ?? []) {
    const at = entry.lastIndexOf(':');
    const table = at > 0 ? entry.slice(0, at) : '';
    const check = entry.slice(at + 1);
    if (!(CHECKS as readonly string[]).includes(check) || check === 'read-own') {
      throw new NamesNothingError('TENANTKIT_UNKNOWN_CHECK', 'The accepted gap', [entry], CHECKS.filter((name) => name !== 'read-own').map((name) => `${table || 'TABLE'}:${name}`), 'Write it as TABLE:CHECK with one of the checks listed (read-own cannot be accepted: without it nothing about the table was shown).');
    }
    if (!relations.some((relation) => matches(relation, [table]))) {
      throw new NamesNothingError('TENANTKIT_UNKNOWN_TABLE', 'The accepted gap', [entry], tableIds.map((id) => `${id}:${check}`), 'Write it as TABLE:CHECK with a table of this database.');
    }
  }
}

/** The settings policies (or the functions they call) read with current_setting(...). */
function settingsRead(catalog: Catalog, sources: readonly string[]): string[] {
  const found = new Set<string>();
  for (const text of [...catalog.policies.flatMap((policy) => [policy.using ?? '', policy.withCheck ?? '']), ...sources]) {
    for (const match of text.matchAll(/current_setting\s*\(\s*'([^']+)'/gi)) found.add(match[1]!);
  }
  return [...found].sort();
}

async function resolveContext(db: TestDatabase, catalog: Catalog, options: CheckIsolationOptions, supabase: boolean, tenancy: Tenancy): Promise<TenantContext> {
  if (options.context) return options.context;
  if (supabase && !options.tenantSetting) {
    // The tenant is in a setting or a claim the policies read, is the user itself, or is found
    // through membership.
    const detected = await detectTenantSetting(db);
    const platformClaim = detected?.kind === 'guc' && detected.setting.startsWith('request.jwt.');
    if (detected && !platformClaim && (detected.kind !== 'jwt' || detected.path.join('.') !== 'sub')) return contextFor(detected);
    if (tenancy.root?.id === 'auth.users') return jwtClaimsContext({ claim: 'sub' });
    return membershipContext();
  }
  if (options.tenantSetting) {
    if (catalog.policies.length > 0) {
      const { rows } = await db.query<{ src: string }>(
        `SELECT prosrc AS src FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND p.prosrc ILIKE '%current_setting%'`,
      );
      const read = settingsRead(catalog, rows.map((row) => row.src));
      const quoted = `'${options.tenantSetting.replaceAll("'", "''")}'`;
      const named = read.includes(options.tenantSetting) || [...catalog.policies.flatMap((policy) => [policy.using ?? '', policy.withCheck ?? '']), ...rows.map((row) => row.src)].some((text) => text.includes(quoted));
      if (!named) {
        throw new NamesNothingError('TENANTKIT_UNKNOWN_TENANT_SETTING', 'The tenant setting', [options.tenantSetting], read, 'Name the setting your policies read (--tenant-setting), or leave it out to have it detected.');
      }
    }
    return gucContext(options.tenantSetting);
  }
  const detected = await detectTenantSetting(db);
  if (detected) return contextFor(detected);
  // No policy at all: no tenant context can change what a query sees. The probes run with a setting
  // nothing reads, and each tenant table fails (or is not proven) on what they show.
  if (catalog.policies.length === 0) return gucContext('app.tenant_id');
  throw new TenantContextError(
    'policies',
    'No current_setting(...) call was found in the row level security policies, so the kit cannot tell how a tenant is chosen.',
    'Pass tenantSetting (the setting your policies read) or a context (gucContext, rolePerTenantContext, jwtClaimsContext, customContext).',
  );
}

/** A table's report before the verdict: global and unselected tables know their status already. */
type Draft = Omit<TableReport, 'status'> & { readonly status?: TableStatus };

/**
 * Materialized views hold what they held when last refreshed (the empty tables of the migrations).
 * A refresh runs the query as the view's owner, which under FORCE ROW LEVEL SECURITY and no tenant
 * sees nothing; refresh jobs usually run as a role that sees every tenant. So each is refreshed
 * after seeding by the admin as a temporary owner (then handed back), and reading it shows every
 * seeded row it can ever hold.
 */
async function refreshed(db: TestDatabase, exposures: readonly Exposure[]): Promise<Exposure[]> {
  const result: Exposure[] = [];
  for (const exposure of exposures) {
    if (exposure.relation.kind !== 'materialized view') {
      result.push(exposure);
      continue;
    }
    const view = exposure.relation.qualified;
    try {
      await db.admin.exec(`ALTER MATERIALIZED VIEW ${view} OWNER TO ${quoteIdent(db.admin.role)}`);
      await db.admin.exec(`REFRESH MATERIALIZED VIEW ${view}`);
      await db.admin.exec(`ALTER MATERIALIZED VIEW ${view} OWNER TO ${quoteIdent(exposure.relation.owner)}`);
      result.push(exposure);
    } catch (error) {
      result.push({ ...exposure, stale: messageOf(error) });
    }
  }
  return result;
}

/** Relations that expose a probed table's rows another way: partitions, inheritance children, views. */
function exposuresOf(catalog: Catalog, model: SchemaModel, probed: ReadonlyMap<string, string | undefined>): Exposure[] {
  const exposures: Exposure[] = [];
  for (const relation of [...catalog.relations.values()].sort((x, y) => x.id.localeCompare(y.id))) {
    if (probed.has(relation.id) || model.tables.some((table) => table.id === relation.id && !relation.isPartition)) continue;
    const via =
      relation.parents.find((parent) => probed.has(parent)) ??
      (relation.kind === 'view' || relation.kind === 'materialized view' ? relation.dependsOn.find((parent) => probed.has(parent)) : undefined);
    if (via) exposures.push({ relation, via, tenantColumn: probed.get(via) });
  }
  return exposures;
}

/**
 * Proves, table by table, that one tenant cannot read or change another tenant's rows, acting as
 * the app role; audits the catalog for the classic holes. Refuses to run as an identity that
 * bypasses row level security. Whatever could not be demonstrated is reported as not proven.
 */
export async function checkIsolation(db: TestDatabase, options: CheckIsolationOptions = {}): Promise<IsolationReport> {
  const factories: AutoFactories = await autoFactories(db, options.tenantColumns ? { tenantColumns: options.tenantColumns } : {});
  const { model, tenancy } = factories;
  // Read once: the names' check, the audit's rules and the exposure probes all work from it.
  const supabase = options.preset === 'supabase' || (options.preset === undefined && (await isSupabase(db)));
  // On Supabase the application's requests act as authenticated: the audit speaks of its rights.
  const auditedRole = supabase ? 'authenticated' : db.app.role;
  const catalog = await readCatalog(db, auditedRole);
  checkNames(model, catalog, options);
  // On Supabase the auth schema is the platform's (the auth server guards it, the API roles reach
  // none of it), as are the extension stand-ins' schemas: never probed, even as the tenants table
  // when the user is the tenant.
  const platform = (table: { schema: string }) => supabase && SUPABASE_PLATFORM_SCHEMAS.includes(table.schema);
  const scoped = model.tables.filter((table) => tenancy.tables.get(table.id)!.kind !== 'global' && !matches(table, options.globalTables) && !platform(table));
  await assertProvingIdentity(db.app, { tenantTables: scoped.map((table) => ({ schema: table.schema, name: table.name })), singleSession: !db.capabilities.realLoginRoles });
  const context = await resolveContext(db, catalog, options, supabase, tenancy);
  const appRole = options.appRole ?? (supabase ? 'authenticated' : db.app.role);
  const selected = (object: string) => !options.tables || model.tables.some((table) => matches(table, options.tables) && (object === table.id || object.startsWith(`${table.id}.`)));
  const findings: Finding[] = options.skipAudit
    ? []
    : auditRules(catalog, {
        appRole: auditedRole,
        tenancy,
        model,
        ...(options.tenantSetting || context.tenantSetting ? { tenantSetting: options.tenantSetting || context.tenantSetting } : {}),
      }).filter((finding) => selected(finding.object) && !(supabase && SUPABASE_PLATFORM_SCHEMAS.includes(finding.object.split('.')[0]!)));
  if (supabase && !options.skipAudit) {
    const membership = findMembership(model, tenancy, await policyText(db.admin))?.table.id;
    findings.push(...(await supabaseFindings(db, catalog, { tenancy, model, ...(membership ? { membership } : {}) })).filter((finding) => selected(finding.object)));
  }
  const probed = scoped.filter((table) => !options.tables || matches(table, options.tables));
  options.onProgress?.({ step: 'catalog', done: 1, total: 1 });
  const seeded =
    options.world ??
    (await seedTenants(db, { tenants: 2, rowsPerTable: options.rowsPerTable ?? 3, factories, ...(options.seed === undefined ? {} : { seed: options.seed }) }));
  // A context acting as one user per tenant creates those users now that the tenants exist.
  const world = context.prepare ? await context.prepare(db, seeded, factories) : seeded;
  const exposures = await refreshed(
    db,
    exposuresOf(catalog, model, new Map(probed.map((table) => [table.id, tenancy.tables.get(table.id)!.tenantColumn ?? tenancy.tenantColumn]))),
  );
  const fresh = await freshSessionCounts(db, context, world, probed, exposures);
  const env = { db, context, world, factories, appRole, fresh };
  options.onProgress?.({ step: 'seed', done: 1, total: 1 });
  const toProbe = probed.length + exposures.length;
  let probedSoFar = 0;

  const tables: Draft[] = [];
  let reachable = 0;
  for (const table of model.tables) {
    const info = tenancy.tables.get(table.id)!;
    const tenantColumn = info.tenantColumn ?? null;
    if (!probed.includes(table)) {
      const global = !scoped.includes(table);
      const detail = platform(table)
        ? `the platform's table (Supabase ${table.schema} schema): not the project's to isolate`
        : global
          ? 'global table: no tenant column and no foreign-key chain to a tenant (or named global)'
          : 'not selected';
      tables.push({ table: table.id, kind: global ? 'global' : info.kind, tenantColumn, status: global ? 'global' : 'not-selected', checks: CHECKS.map((check) => notApplicable(check, detail)) });
      continue;
    }
    const target: ProbeTable = { table, kind: info.kind, tenantColumn: info.tenantColumn, anchorColumns: info.anchor?.columns };
    const result = await probeTable(env, target);
    options.onProgress?.({ step: 'probe', done: ++probedSoFar, total: toProbe });
    if (result.privileges.select) reachable++;
    findings.push(...result.findings);
    tables.push({ table: table.id, kind: info.kind, tenantColumn, checks: result.checks });
  }
  for (const exposure of exposures) {
    tables.push(await probeExposure(env, exposure, tables.find((table) => table.table === exposure.via)?.tenantColumn ?? null));
    options.onProgress?.({ step: 'probe', done: ++probedSoFar, total: toProbe });
  }
  if (supabase) findings.push(...(await probeAnon(db, world, probed, (table) => tenancy.tables.get(table.id)?.tenantColumn)));
  // Every probe set its context with SET LOCAL: nothing may be left on the app's connection.
  await assertNoLeak(db.app, context, { role: db.app.role });

  if (scoped.length === 0) {
    findings.push({
      code: 'TK_NO_TENANT_TABLE',
      severity: 'error',
      object: 'schema',
      message: `No tenant-scoped table was found: no table has a column named ${(options.tenantColumns ?? DEFAULT_TENANT_COLUMNS).join(', ')} or a foreign-key chain to one${options.globalTables ? ' (outside the tables named global)' : ''}, so nothing was probed and nothing is proven.`,
      hint: 'Name the column that holds the tenant id (--tenant-column / tenantColumns).',
    });
  } else if (probed.length > 0 && reachable === 0) {
    findings.push({
      code: 'TK_APP_ROLE_REACHES_NO_TENANT_TABLE',
      severity: 'error',
      object: appRole,
      message: `The app role ${appRole} has no SELECT on any tenant-scoped table, so no probe could show what a tenant sees: nothing is proven.`,
      hint: `Grant it as your deployment does (tenantkit audit --app-grants crud, or the GRANT statements of your deployment in the SQL), or name the role your application uses (--app-role).`,
    });
  }
  if (options.sourceFiles && !options.skipAudit) findings.push(...(await findingsInSourceFiles(options.sourceFiles)));
  return finish(db, options, appRole, context, tables, findings);
}


/** Accepted gaps marked, statuses and the verdict computed, the kit's login named as the user's role. */
function finish(
  db: TestDatabase,
  options: CheckIsolationOptions,
  appRole: string,
  context: TenantContext,
  drafts: readonly Draft[],
  findings: readonly Finding[],
): IsolationReport {
  const rename = renamer(db.app.role, appRole);
  const accepted = (table: { table: string }, check: CheckName) =>
    (options.allowNotProven ?? []).some((entry) => {
      const at = entry.lastIndexOf(':');
      const [schema, name] = table.table.split('.') as [string, string];
      return entry.slice(at + 1) === check && matches({ id: table.table, schema, name }, [entry.slice(0, at)]);
    });
  const tables = drafts
    .map((draft): TableReport => {
      const checks = draft.checks.map((check): CheckResult => ({
        ...check,
        detail: rename(check.detail),
        ...(check.status === 'not-proven' && accepted(draft, check.check as CheckName) ? { allowed: true } : {}),
      }));
      return { ...draft, status: draft.status ?? statusOf(checks), checks };
    })
    .sort((x, y) => x.table.localeCompare(y.table));
  const renamed = findings.map((finding) => ({ ...finding, object: rename(finding.object), message: rename(finding.message), hint: rename(finding.hint) }));
  const scoped = tables.filter((table) => table.status !== 'global' && table.status !== 'not-selected');
  const ok = scoped.length > 0 && scoped.every((table) => table.status === 'proven') && !renamed.some((finding) => finding.severity === 'error');
  const setup: ReportSetup = { appRole, context: context.description, backend: db.backend };
  return { ok, setup, tables, findings: renamed };
}

function statusOf(checks: readonly CheckResult[]): TableStatus {
  if (checks.some((check) => check.status === 'fail')) return 'failed';
  if (checks.some((check) => check.status === 'not-proven' && !check.allowed)) return 'not-proven';
  return 'proven';
}

/** Reports speak of the user's role, not the kit's login that acted with its rights. */
function renamer(internal: string, shown: string): (text: string) => string {
  if (internal === shown) return (text) => text;
  const quoted = new RegExp(`"${escapeRegExp(internal)}"`, 'g');
  const bare = new RegExp(`\\b${escapeRegExp(internal)}\\b`, 'g');
  const target = /^[a-z_][a-z0-9_]*$/.test(shown) ? shown : `"${shown.replaceAll('"', '""')}"`;
  return (text) => text.replace(quoted, target).replace(bare, shown);
}
