import { type AutoFactories, type TableModel, type World, autoFactories, seedTenants } from '@tenantkit/fixtures';
import { type Queryable, type TestDatabase, openConnection } from '@tenantkit/testkit';
import { type Catalog, readCatalog } from './audit/catalog.js';
import { auditRules } from './audit/rules.js';
import { probeExposure } from './exposure.js';
import { type TenantContext, assertNoLeak, contextFor, detectTenantSetting, gucContext } from './context.js';
import { TenantContextError } from './errors.js';
import { assertProvingIdentity } from './guard.js';
import { CHECKS, type ProbeTable, probeTable } from './probes.js';
import type { Finding, IsolationReport, TableReport } from './types.js';

export interface CheckIsolationOptions {
  /** Tenant column names (default: tenant_id, account_id, organization_id, org_id, workspace_id, team_id). */
  readonly tenantColumns?: readonly string[];
  /** The setting policies read (default: detected from the policies' current_setting(...) calls). */
  readonly tenantSetting?: string;
  /** How a tenant's context is set, when it is not one setting (role per tenant, JWT claims, a function). */
  readonly context?: TenantContext;
  /** Tables to treat as global (`schema.table` or a public table's name), never probed. */
  readonly globalTables?: readonly string[];
  /** Probe only these tables, and report only the findings about them. */
  readonly tables?: readonly string[];
  /** A world seeded by hand (e.g. with hand-picked factory rows); default: two tenants seeded here. */
  readonly world?: World;
  /** Rows per table per tenant when seeding. Default 3. */
  readonly rowsPerTable?: number;
  readonly seed?: number;
  /** Skip the static audit of the catalog. */
  readonly skipAudit?: boolean;
}

function matches(table: TableModel, names: readonly string[] | undefined): boolean {
  return names?.some((name) => name === table.id || (table.schema === 'public' && name === table.name)) ?? false;
}

async function resolveContext(db: TestDatabase, options: CheckIsolationOptions): Promise<TenantContext> {
  if (options.context) return options.context;
  if (options.tenantSetting) return gucContext(options.tenantSetting);
  const detected = await detectTenantSetting(db);
  if (detected) return contextFor(detected);
  throw new TenantContextError(
    'policies',
    'No current_setting(...) call was found in the row level security policies, so the kit cannot tell how a tenant is chosen.',
    'Pass tenantSetting (the setting your policies read) or a context (gucContext, rolePerTenantContext, jwtClaimsContext, customContext).',
  );
}

/**
 * Proves, table by table, that one tenant cannot read or change another tenant's rows, acting as
 * the app role; audits the catalog for the classic holes. Refuses to run as an identity that
 * bypasses row level security.
 */
export async function checkIsolation(db: TestDatabase, options: CheckIsolationOptions = {}): Promise<IsolationReport> {
  const factories: AutoFactories = await autoFactories(db, options.tenantColumns ? { tenantColumns: options.tenantColumns } : {});
  const { model, tenancy } = factories;
  const scoped = model.tables.filter((table) => tenancy.tables.get(table.id)!.kind !== 'global' && !matches(table, options.globalTables));
  await assertProvingIdentity(db.app, {
    tenantTables: scoped.map((table) => ({ schema: table.schema, name: table.name })),
    singleSession: !db.capabilities.realLoginRoles,
  });
  const context = await resolveContext(db, options);
  const selected = (object: string) => !options.tables || model.tables.some((table) => matches(table, options.tables) && (object === table.id || object.startsWith(`${table.id}.`)));
  // Read once: the audit's rules and the exposure probes (partitions, views) both work from it.
  const catalog = await readCatalog(db, db.app.role);
  const findings: Finding[] = options.skipAudit
    ? []
    : auditRules(catalog, {
        appRole: db.app.role,
        tenancy,
        model,
        ...(options.tenantSetting ? { tenantSetting: options.tenantSetting } : {}),
      }).filter((finding) => selected(finding.object));
  const world =
    options.world ??
    (await seedTenants(db, { tenants: 2, rowsPerTable: options.rowsPerTable ?? 3, factories, ...(options.seed === undefined ? {} : { seed: options.seed }) }));
  const appUrl = db.app.url;
  // One connection that never sets a tenant: "no context" as a fresh session sees it.
  const freshApp = appUrl ? await openConnection(appUrl, 'tenantkit probe') : undefined;
  try {
    const report = await probeAll(db, options, factories, catalog, context, world, findings, freshApp);
    // Every probe set its context with SET LOCAL: nothing may be left on the app's connection.
    await assertNoLeak(db.app, context);
    return report;
  } finally {
    await freshApp?.close();
  }
}

async function probeAll(
  db: TestDatabase,
  options: CheckIsolationOptions,
  factories: AutoFactories,
  catalog: Catalog,
  context: TenantContext,
  world: World,
  findings: Finding[],
  freshApp: Queryable | undefined,
): Promise<IsolationReport> {
  const { model, tenancy } = factories;
  const tables: TableReport[] = [];
  for (const table of model.tables) {
    const info = tenancy.tables.get(table.id)!;
    const global = info.kind === 'global' || matches(table, options.globalTables);
    const kind = global ? 'global' : info.kind;
    const tenantColumn = info.tenantColumn ?? null;
    if (global || (options.tables && !matches(table, options.tables))) {
      const detail = global ? 'global table: no tenant column and no foreign-key chain to a tenant' : 'not selected';
      tables.push({ table: table.id, kind, tenantColumn, checks: CHECKS.map((check) => ({ check, status: 'skip', detail })) });
      continue;
    }
    const target: ProbeTable = { table, kind, tenantColumn: info.tenantColumn, anchorColumns: info.anchor?.columns };
    const result = await probeTable({ db, context, world, factories, ...(freshApp ? { freshApp } : {}) }, target);
    findings.push(...result.findings);
    tables.push({ table: table.id, kind, tenantColumn, checks: result.checks });
  }
  // Partitions, inheritance children and views of the probed tables: other ways to their rows.
  const probed = new Map(
    tables.filter((table) => table.kind !== 'global' && table.checks.some((check) => check.status !== 'skip')).map((table) => [table.table, table]),
  );
  for (const relation of [...catalog.relations.values()].sort((x, y) => x.id.localeCompare(y.id))) {
    if (probed.has(relation.id) || model.tables.some((table) => table.id === relation.id && !relation.isPartition)) continue;
    const via = relation.parents.find((parent) => probed.has(parent)) ?? (relation.kind === 'view' || relation.kind === 'materialized view' ? relation.dependsOn.find((parent) => probed.has(parent)) : undefined);
    if (!via) continue;
    const source = probed.get(via)!;
    tables.push(await probeExposure(db, context, world, relation, { table: via, tenantColumn: source.tenantColumn ?? tenancy.tenantColumn }, freshApp));
  }
  tables.sort((x, y) => x.table.localeCompare(y.table));
  const ok = !tables.some((table) => table.checks.some((check) => check.status === 'fail')) && !findings.some((finding) => finding.severity === 'error');
  return { ok, tables, findings };
}
