/**
 * What the kit's catalog readers (the fixtures' schema introspection and the audit's catalog) share:
 * which schemas and objects are the user's, and how rows of aggregated text come back from the
 * drivers. One definition, so both read the same relations.
 */

/** SQL: the namespace aliased `namespace` is a user schema (not the system, TOAST or temporary ones). */
export function userSchemaSql(namespace: string): string {
  return `
       ${namespace}.nspname NOT IN ('pg_catalog', 'information_schema')
   AND ${namespace}.nspname NOT LIKE 'pg\\_toast%'
   AND ${namespace}.nspname NOT LIKE 'pg\\_temp\\_%'`;
}

/** SQL: the object `oid` of the system catalog `catalog` (e.g. pg_catalog.pg_class) belongs to no extension. */
export function notExtensionMemberSql(catalog: string, oid: string): string {
  return `
   NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e
                WHERE e.classid = '${catalog}'::pg_catalog.regclass AND e.objid = ${oid} AND e.deptype = 'e')`;
}

/** A json value as the drivers return it: parsed already (node-postgres), or as text (PGlite). */
export function jsonValue(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : value;
}

/** A json array of text, as either driver returns it; anything else is no elements. */
export function textArray(value: unknown): string[] {
  const parsed = jsonValue(value);
  return Array.isArray(parsed) ? parsed.map(String) : [];
}

/** Code-point order: the same on every server, whatever its collation or locale. */
export function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
