import type { Session } from '../queryable.js';

/** A migration tool's state table as the catalog has it: its kind and its columns' types. */
export interface StateTableShape {
  readonly relkind: string;
  readonly columns: readonly { readonly name: string; readonly type: string }[];
}

/** Reads the state table's shape, or undefined when it does not exist yet; each format judges it. */
export async function readStateTable(session: Session, schema: string, table: string): Promise<StateTableShape | undefined> {
  const rel = await session.query<{ relkind: string }>(
    `SELECT c.relkind::text AS relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, table],
  );
  const relkind = rel.rows[0]?.relkind;
  if (relkind === undefined) return undefined;
  const columns = await session.query<{ name: string; type: string }>(
    `SELECT a.attname::text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, table],
  );
  return { relkind, columns: columns.rows };
}
