import { type Queryable, type Session, quoteIdent } from '@tenantkit/testkit';
import type { CatalogRelation } from './audit/catalog.js';
import { CHECKS, NOT_APPLICABLE } from './checks.js';
import { type Outcome, count, errorNotProven, fail, failsClosed, notApplicable, notProven, pass } from './outcome.js';
import { type FreshSessionCount, type ProbeEnvironment, asApp, asAppWithoutTenant } from './probes.js';
import type { CheckResult, TableReport } from './types.js';

/** A relation that exposes a probed table's rows another way, and the tenant column it shows. */
export interface Exposure {
  readonly relation: CatalogRelation;
  /** The probed table it exposes. */
  readonly via: string;
  readonly tenantColumn: string | undefined;
  /** A materialized view that could not be refreshed after seeding: it holds no seeded row. */
  readonly stale?: string;
}

/** Counts the seeded tenants' rows visible through the relation, by its tenant column. */
export async function countExposed(session: Queryable, exposure: Exposure, tenants: readonly string[], tx?: Session): Promise<FreshSessionCount> {
  if (!exposure.tenantColumn) return { unavailable: 'it shows no tenant column' };
  return count(session, `SELECT count(*) AS n FROM ${exposure.relation.qualified} WHERE ${quoteIdent(exposure.tenantColumn)}::text = ANY($1::text[])`, [tenants], tx);
}

/**
 * Relations that expose a tenant table's rows another way: its partitions and inheritance children
 * (queried directly they skip the parent's policies) and views over it. Probed for what a tenant can
 * read there: none of the other tenant's rows, and nothing without a tenant.
 */
export async function probeExposure(env: ProbeEnvironment, exposure: Exposure, tenantColumnOfSource: string | null): Promise<Omit<TableReport, 'status'>> {
  const { db, context, world } = env;
  const { relation } = exposure;
  const base = { table: relation.id, kind: 'tenant' as const, tenantColumn: tenantColumnOfSource };
  const fixed = (first: (check: 'read-foreign' | 'no-context') => CheckResult): CheckResult[] =>
    CHECKS.map((check) => (check === 'read-foreign' || check === 'no-context' ? first(check) : notApplicable(check, NOT_APPLICABLE.exposure[check])));
  if (!relation.app.select || !relation.app.schemaUsage) {
    return { ...base, checks: fixed((check) => pass(check, `the app role ${env.appRole} cannot read ${relation.id} at all (the catalog confirms it)`)) };
  }
  if (exposure.stale) {
    return { ...base, checks: fixed((check) => notProven(check, `materialized view ${relation.id} could not be refreshed after seeding (${exposure.stale}), so it holds none of the seeded rows and reading it shows nothing`)) };
  }
  if (!exposure.tenantColumn) {
    return {
      ...base,
      checks: fixed((check) => notProven(check, `${relation.kind} ${relation.id} shows no ${tenantColumnOfSource ?? 'tenant'} column, so the probes cannot tell whose rows it returns; see the catalog audit's findings about it, or select the tenant column in it`)),
    };
  }
  const [a, b] = world.tenants as [string | undefined, string | undefined];
  if (a === undefined || b === undefined) return { ...base, checks: fixed((check) => notProven(check, 'fewer than two tenants were seeded')) };

  const leaks: string[] = [];
  const unproven: CheckResult[] = [];
  for (const [attacker, victim] of [
    [a, b],
    [b, a],
  ] as const) {
    await asApp(db, context, attacker, async (tx) => {
      const n = await countExposed(tx, exposure, [victim], tx);
      if (typeof n === 'number') {
        if (n > 0) leaks.push(`tenant ${attacker} read ${n} row(s) of tenant ${victim} through ${relation.kind} ${relation.id}`);
      } else unproven.push('unavailable' in n ? notProven('read-foreign', n.unavailable) : errorNotProven('read-foreign', n));
    });
  }
  const readForeign: CheckResult =
    leaks.length > 0 ? fail('read-foreign', leaks.join('; ')) : (unproven[0] ?? pass('read-foreign', `no row of the other tenant visible through ${relation.kind} ${relation.id}`));

  const open: string[] = [];
  const closedUnproven: string[] = [];
  const judge = (label: string, n: FreshSessionCount) => {
    if (typeof n === 'number') {
      if (n > 0) open.push(`${n} row(s) ${label}`);
    } else if ('unavailable' in n) closedUnproven.push(`${label}: ${n.unavailable}`);
    else if (!failsClosed(n as NonNullable<Outcome['error']>)) closedUnproven.push(`${label}: ${n.message}`);
  };
  judge('in a session that never set a tenant', env.fresh.get(relation.id) ?? { unavailable: 'not counted' });
  for (const [label, value] of [
    ['with the setting reset (no tenant)', undefined],
    ['with an empty tenant', ''],
  ] as const) {
    const skipped = await asAppWithoutTenant(db, context, value, label, async (tx, said) => judge(said, await countExposed(tx, exposure, [a, b], tx)));
    if (skipped) closedUnproven.push(skipped);
  }
  const noContext: CheckResult =
    open.length > 0
      ? fail('no-context', `tenant rows visible through ${relation.id} without a valid tenant: ${open.join('; ')}`)
      : closedUnproven.length > 0
        ? notProven('no-context', `not every no-tenant session could be shown closed: ${closedUnproven.join('; ')}`)
        : pass('no-context', 'nothing visible without a valid tenant');
  return { ...base, checks: fixed((check) => (check === 'read-foreign' ? readForeign : noContext)) };
}
