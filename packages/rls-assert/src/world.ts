import { type Row, type TableKind, type TableSeed, type World, keyText } from '@tenantkit/fixtures';

export interface HandPickedTable {
  /** `schema.table`. */
  readonly table: string;
  readonly kind?: TableKind;
  readonly primaryKey: readonly string[];
  /** Rows per tenant, as create() returned them. */
  readonly rows: Readonly<Record<string, readonly Row[]>>;
}

/**
 * A World from rows made by hand with the factories, to probe one table against exactly those rows:
 * `checkIsolation(db, { world: handPickedWorld([a, b], [{ table, primaryKey, rows }]), tables: [table] })`.
 */
export function handPickedWorld(tenants: readonly [string, string], tables: readonly HandPickedTable[]): World {
  const seeds: TableSeed[] = tables.map((entry) => {
    const perTenant: Record<string, number> = {};
    const keys: Record<string, string[][]> = {};
    for (const tenant of tenants) {
      const rows = entry.rows[tenant] ?? [];
      perTenant[tenant] = rows.length;
      keys[tenant] = rows.map((row) => entry.primaryKey.map((column) => keyText(row[column])));
    }
    return {
      table: entry.table,
      kind: entry.kind ?? 'tenant',
      rows: Object.values(perTenant).reduce((sum, n) => sum + n, 0),
      perTenant,
      keys,
      primaryKey: entry.primaryKey,
    };
  });
  return {
    seed: 0,
    tenants,
    tenantColumn: undefined,
    root: undefined,
    tables: seeds,
    table: (id) => seeds.find((entry) => entry.table === id) ?? seeds.find((entry) => entry.table === `public.${id}`),
  };
}
