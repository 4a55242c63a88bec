import type { TableModel, World } from '@tenantkit/fixtures';
import { type Queryable, type Session, type TestDatabase } from '@tenantkit/testkit';
import { connectPg } from '@tenantkit/testkit/internal';
import type { TenantContext } from './context.js';
import { type Exposure, countExposed } from './exposure.js';
import { type FreshSessionCount, countWithoutContext } from './probes.js';

/**
 * What a session in which the tenant setting was never set sees of each probed table and exposure.
 * `current_setting(x, true)` is NULL only there (after any SET LOCAL it is ''), and policies such as
 * `COALESCE(current_setting(...), tenant_id)` open up only there. On a real server that session is a
 * fresh login of the app role. On PGlite (one session) it is the session itself, counted before any
 * probe sets a tenant, and only while the setting has never been set in it; otherwise the counts are
 * unavailable and the check is not proven, never passed.
 */
export async function freshSessionCounts(
  db: TestDatabase,
  context: TenantContext,
  world: World,
  tables: readonly TableModel[],
  exposures: readonly Exposure[],
): Promise<Map<string, FreshSessionCount>> {
  const counts = new Map<string, FreshSessionCount>();
  const countAll = async (session: Queryable, tx?: Session) => {
    for (const table of tables) {
      const seeded = world.table(table.id);
      counts.set(table.id, await countWithoutContext(session, table, world.tenants.flatMap((tenant) => seeded?.keys[tenant] ?? []), tx));
    }
    for (const exposure of exposures) counts.set(exposure.relation.id, await countExposed(session, exposure, world.tenants, tx));
  };
  const url = db.app.url;
  if (db.capabilities.realLoginRoles && url) {
    const session = await connectPg(url, 'tenantkit probe');
    try {
      await countAll(session);
    } finally {
      await session.close();
    }
    return counts;
  }
  const used: string[] = [];
  for (const setting of context.settings) {
    const { rows } = await db.query<{ value: string | null }>('SELECT current_setting($1, true) AS value', [setting]);
    if (rows[0]?.value !== null && rows[0]?.value !== undefined) used.push(setting);
  }
  if (used.length > 0) {
    const unavailable = {
      unavailable: `${used.join(', ')} was already set on this database's one session (earlier in this test or in an earlier test of the worker), and once set it reads '' instead of NULL until the session ends, so a session that never set it cannot be shown here: check isolation before setting a tenant, in a test of its own, or on a real server (backend native or url)`,
    };
    for (const table of tables) counts.set(table.id, unavailable);
    for (const exposure of exposures) counts.set(exposure.relation.id, unavailable);
    return counts;
  }
  await db.app.transaction(async (tx) => countAll(tx, tx));
  return counts;
}
