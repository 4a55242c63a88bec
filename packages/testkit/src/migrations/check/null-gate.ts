import type { Queryable } from '../../queryable.js';
import { quoteIdent, quoteQualified } from '../../sql/ident.js';

export interface OrphanRow {
  /** The row's primary key (or ctid when it has none), column -> value as text. */
  readonly key: Readonly<Record<string, string>>;
  /** Where its tenant should have come from: each foreign key, the parent it points at and that parent's tenant. */
  readonly chain: readonly string[];
}

export interface NullGateTable {
  readonly table: string;
  readonly nulls: number;
  /** Up to `sample` offending rows, explained. */
  readonly rows: readonly OrphanRow[];
}

export interface NullGateReport {
  readonly ok: boolean;
  readonly column: string;
  /** Every table that has the column, offending or not. */
  readonly tables: readonly NullGateTable[];
}

interface ColumnRow {
  schema: string;
  table: string;
  pk: string[] | null;
}

interface ForeignKeyRow {
  columns: string[];
  parent_schema: string;
  parent_table: string;
  parent_columns: string[];
  parent_has_column: boolean;
}

/**
 * The release gate of a tenant-column backfill, as one call: every table that has the column must
 * have no NULL in it. Offending rows are listed with the chain they hang from, so an orphan (a
 * parent that is gone, or itself without a tenant) is visible at once.
 */
export async function nullGate(db: Queryable, options: { readonly column?: string; readonly sample?: number } = {}): Promise<NullGateReport> {
  const column = options.column ?? 'tenant_id';
  const sample = options.sample ?? 5;
  const { rows: tables } = await db.query<ColumnRow>(
    `SELECT n.nspname AS schema, c.relname AS table,
            (SELECT array_agg(a2.attname::text ORDER BY k.ord) FROM pg_constraint p
               CROSS JOIN LATERAL unnest(p.conkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a2 ON a2.attrelid = p.conrelid AND a2.attnum = k.attnum
              WHERE p.conrelid = c.oid AND p.contype = 'p') AS pk
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE a.attname = $1 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      ORDER BY 1, 2`,
    [column],
  );
  const results: NullGateTable[] = [];
  for (const table of tables) {
    const qualified = quoteQualified(table.schema, table.table);
    const { rows: counted } = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${qualified} WHERE ${quoteIdent(column)} IS NULL`);
    const nulls = Number(counted[0]?.n ?? 0);
    if (nulls === 0) {
      results.push({ table: `${table.schema}.${table.table}`, nulls, rows: [] });
      continue;
    }
    const keyColumns = table.pk && table.pk.length > 0 ? table.pk : ['ctid'];
    const { rows: fks } = await db.query<ForeignKeyRow>(
      `SELECT ARRAY(SELECT a.attname::text FROM unnest(f.conkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
              pn.nspname AS parent_schema, pc.relname AS parent_table,
              ARRAY(SELECT a.attname::text FROM unnest(f.confkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.attnum ORDER BY k.ord) AS parent_columns,
              EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = f.confrelid AND a.attname = $2 AND NOT a.attisdropped) AS parent_has_column
         FROM pg_constraint f JOIN pg_class pc ON pc.oid = f.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
        WHERE f.conrelid = $1::regclass AND f.contype = 'f' ORDER BY f.conname`,
      [qualified, column],
    );
    const fkColumns = [...new Set(fks.flatMap((fk) => fk.columns))];
    const selected = [...keyColumns, ...fkColumns.filter((name) => !keyColumns.includes(name))];
    const { rows: offending } = await db.query<Record<string, string | null>>(
      `SELECT ${selected.map((name) => `${name === 'ctid' ? 'ctid' : quoteIdent(name)}::text AS ${quoteIdent(name)}`).join(', ')}
         FROM ${qualified} WHERE ${quoteIdent(column)} IS NULL ORDER BY 1 LIMIT ${Math.max(1, Math.floor(sample))}`,
    );
    const explained: OrphanRow[] = [];
    for (const row of offending) {
      const chain: string[] = [];
      for (const fk of fks) {
        const values = fk.columns.map((name) => row[name] ?? null);
        const parentId = `${fk.parent_schema}.${fk.parent_table}`;
        const pointer = `${fk.columns.join(', ')} -> ${parentId}`;
        if (values.some((value) => value === null)) {
          chain.push(`${pointer}: NULL (no parent)`);
          continue;
        }
        const where = fk.parent_columns.map((name, index) => `${quoteIdent(name)}::text = $${index + 1}`).join(' AND ');
        const tenant = fk.parent_has_column ? `${quoteIdent(column)}::text` : 'NULL::text';
        const { rows: parents } = await db.query<{ tenant: string | null }>(
          `SELECT ${tenant} AS tenant FROM ${quoteQualified(fk.parent_schema, fk.parent_table)} WHERE ${where} LIMIT 1`,
          values,
        );
        const pointed = fk.parent_columns.map((name, index) => `${name}=${values[index]}`).join(', ');
        if (parents.length === 0) chain.push(`${pointer} (${pointed}): missing, the row is an orphan`);
        else if (fk.parent_has_column) chain.push(`${pointer} (${pointed}): ${column} ${parents[0]!.tenant ?? 'NULL'}`);
        else chain.push(`${pointer} (${pointed}): exists, has no ${column}`);
      }
      explained.push({ key: Object.fromEntries(keyColumns.map((name) => [name, row[name] ?? ''])), chain });
    }
    results.push({ table: `${table.schema}.${table.table}`, nulls, rows: explained });
  }
  return { ok: results.every((table) => table.nulls === 0), column, tables: results };
}

/** The gate's verdict as lines: one per offending table, then its rows and their chains. */
export function formatNullGate(report: NullGateReport): string {
  if (report.ok) return `NULL gate passed: no NULL ${report.column} in ${report.tables.length} table(s).`;
  const lines = [`NULL gate failed: NULL ${report.column} left behind.`];
  for (const table of report.tables.filter((entry) => entry.nulls > 0)) {
    lines.push(`  ${table.table}: ${table.nulls} row(s) with NULL ${report.column}`);
    for (const row of table.rows) {
      lines.push(`    ${Object.entries(row.key).map(([name, value]) => `${name}=${value}`).join(', ')}`);
      for (const link of row.chain) lines.push(`      ${link}`);
    }
  }
  return lines.join('\n');
}
