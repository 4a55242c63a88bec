import type { Session } from '../queryable.js';
import { type SequenceState, USER_SCHEMAS, captureSequences, restoreSequencesSql } from './sequences.js';
import { quoteIdent, quoteQualified } from '../sql/ident.js';

interface TableRow {
  schema: string;
  name: string;
  rows: string;
  columns: string[];
}

export interface TruncatePlan {
  readonly tables: readonly string[];
  readonly restore: readonly { readonly table: string; readonly columns: readonly string[]; readonly rows: unknown }[];
  readonly sequences: readonly SequenceState[];
}


export async function captureTruncatePlan(admin: Session): Promise<TruncatePlan> {
  const { rows: tables } = await admin.query<TableRow>(`
    SELECT n.nspname AS schema, c.relname AS name, c.reltuples::bigint::text AS rows,
           ARRAY(SELECT a.attname FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                  ORDER BY a.attnum)::text[] AS columns
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND ${USER_SCHEMAS}
     ORDER BY 1, 2`);
  const restore: { table: string; columns: string[]; rows: unknown }[] = [];
  for (const table of tables) {
    const qualified = quoteQualified(table.schema, table.name);
    const { rows } = await admin.query<{ data: unknown }>(`SELECT coalesce(jsonb_agg(t), '[]'::jsonb) AS data FROM ${qualified} t`);
    const data = rows[0]?.data;
    if (Array.isArray(data) ? data.length > 0 : typeof data === 'string' && data !== '[]') {
      restore.push({ table: qualified, columns: table.columns, rows: data });
    }
  }
  return { tables: tables.map((table) => quoteQualified(table.schema, table.name)), restore, sequences: await captureSequences(admin) };
}

export async function applyTruncatePlan(admin: Session, plan: TruncatePlan): Promise<void> {
  if (plan.tables.length === 0) return;
  await admin.exec('BEGIN');
  try {
    await admin.exec(`TRUNCATE ${plan.tables.join(', ')} RESTART IDENTITY CASCADE`);
    for (const entry of plan.restore) {
      const columns = entry.columns.map(quoteIdent).join(', ');
      await admin.query(
        `INSERT INTO ${entry.table} (${columns}) OVERRIDING SYSTEM VALUE
         SELECT ${columns} FROM jsonb_populate_recordset(NULL::${entry.table}, $1::jsonb)`,
        [JSON.stringify(entry.rows)],
      );
    }
    const restoreSequences = restoreSequencesSql(plan.sequences);
    if (restoreSequences) await admin.exec(restoreSequences);
    await admin.exec('COMMIT');
  } catch (error) {
    await admin.exec('ROLLBACK').catch(() => {});
    throw error;
  }
}
