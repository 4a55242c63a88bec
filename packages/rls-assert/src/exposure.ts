import type { World } from '@tenantkit/fixtures';
import { type Queryable, type Session, type TestDatabase, quoteIdent } from '@tenantkit/testkit';
import type { CatalogRelation } from './audit/catalog.js';
import type { TenantContext } from './context.js';
import { CHECKS, asApp as asAppRole } from './probes.js';
import type { CheckResult, TableReport } from './types.js';

const READS_ONLY = 'partitions, inheritance children and views are probed for reads; writes are judged on the table itself and by the catalog audit';

/**
 * Relations that expose a tenant table's rows another way: its partitions and inheritance children
 * (queried directly they skip the parent's policies) and views over it. Probed for what a tenant can
 * read there: none of the other tenant's rows, and nothing without a tenant.
 */
export async function probeExposure(
  db: TestDatabase,
  context: TenantContext,
  world: World,
  relation: CatalogRelation,
  source: { readonly table: string; readonly tenantColumn: string | undefined },
  freshApp: Queryable | undefined,
): Promise<TableReport> {
  const base: Omit<TableReport, 'checks'> = { table: relation.id, kind: 'tenant', tenantColumn: source.tenantColumn ?? null };
  const skipAll = (detail: string): TableReport => ({ ...base, checks: CHECKS.map((check) => ({ check, status: 'skip', detail })) });
  if (!relation.app.select || !relation.app.schemaUsage) return skipAll('the app role cannot read it');
  const { rows: columns } = await db.query<{ name: string }>(
    'SELECT attname AS name FROM pg_catalog.pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped',
    [relation.oid],
  );
  const tenantColumn = source.tenantColumn;
  if (!tenantColumn || !columns.some((column) => column.name === tenantColumn)) {
    return skipAll(`it shows no ${tenantColumn ?? 'tenant'} column to tell tenants apart; the catalog audit judges it`);
  }
  const [a, b] = world.tenants;
  if (a === undefined || b === undefined) return skipAll('fewer than two tenants were seeded');
  const count = async (session: Queryable, tenants: readonly string[]): Promise<number | 'error'> => {
    try {
      const { rows } = await session.query<{ n: string | number }>(
        `SELECT count(*) AS n FROM ${relation.qualified} WHERE ${quoteIdent(tenantColumn)}::text = ANY($1::text[])`,
        [tenants],
      );
      return Number(rows[0]?.n ?? 0);
    } catch {
      return 'error';
    }
  };
  const asApp = (tenant: string | undefined, fn: (tx: Session) => Promise<void>) => asAppRole(db, context, tenant, fn);

  const leaks: string[] = [];
  for (const [attacker, victim] of [
    [a, b],
    [b, a],
  ] as const) {
    await asApp(attacker, async (tx) => {
      const n = await count(tx, [victim]);
      if (n !== 'error' && n > 0) leaks.push(`tenant ${attacker} read ${n} row(s) of tenant ${victim} through ${relation.kind} ${relation.id}`);
    });
  }
  const readForeign: CheckResult =
    leaks.length > 0
      ? { check: 'read-foreign', status: 'fail', detail: leaks.join('; ') }
      : { check: 'read-foreign', status: 'pass', detail: `no row of the other tenant visible through ${relation.kind} ${relation.id}` };

  const open: string[] = [];
  if (freshApp) {
    const n = await count(freshApp, [a, b]);
    if (n !== 'error' && n > 0) open.push(`${n} row(s) in a session that never set a tenant`);
  }
  for (const [label, value] of [
    ['no tenant set', undefined],
    ['an empty tenant', ''],
  ] as const) {
    await asApp(value, async (tx) => {
      const n = await count(tx, [a, b]);
      if (n !== 'error' && n > 0) open.push(`${n} row(s) with ${label}`);
    });
  }
  const noContext: CheckResult =
    open.length > 0
      ? { check: 'no-context', status: 'fail', detail: `tenant rows visible through ${relation.id} without a valid tenant: ${open.join('; ')}` }
      : { check: 'no-context', status: 'pass', detail: 'nothing visible without a valid tenant' };
  const checks = CHECKS.map((check): CheckResult => (check === 'read-foreign' ? readForeign : check === 'no-context' ? noContext : { check, status: 'skip', detail: READS_ONLY }));
  return { ...base, checks };
}
