import { createHash } from 'node:crypto';
import type { Queryable } from '../queryable.js';

/**
 * A normalized, JSON-serializable picture of what migrations built: no OIDs, no current sequence
 * values, every list sorted by name in code-point order. Two databases migrated the same way give
 * deep-equal snapshots; `diffSnapshots` explains any difference.
 */
export interface SchemaSnapshot {
  readonly schemas: SchemaInfo[];
  readonly tables: TableInfo[];
  readonly constraints: ConstraintInfo[];
  readonly indexes: IndexInfo[];
  readonly enums: EnumInfo[];
  readonly domains: DomainInfo[];
  readonly sequences: SequenceInfo[];
  readonly views: ViewInfo[];
  readonly functions: FunctionInfo[];
  readonly triggers: TriggerInfo[];
  readonly policies: PolicyInfo[];
  readonly grants: GrantInfo[];
  readonly extensions: ExtensionInfo[];
  readonly roles: RoleInfo[];
}

export interface SchemaInfo {
  readonly name: string;
  readonly owner: string;
}

export interface TableInfo {
  /** schema.table, each part quoted only when it needs to be. */
  readonly name: string;
  readonly kind: 'table' | 'partitioned table' | 'foreign table';
  readonly owner: string;
  readonly persistence: 'permanent' | 'unlogged' | 'temporary';
  /** pg_get_partkeydef, e.g. "RANGE (created_at)"; null when not partitioned. */
  readonly partitionKey: string | null;
  /** The parent when this table is a partition, with its bound. */
  readonly partitionOf: string | null;
  readonly partitionBound: string | null;
  /** Parents by plain (non-partition) inheritance. */
  readonly inherits: string[];
  readonly rowSecurity: boolean;
  readonly forceRowSecurity: boolean;
  readonly options: string[];
  /** Columns sorted by name; their physical order is kept apart in `columnOrder`. */
  readonly columns: ColumnInfo[];
  readonly columnOrder: string[];
}

export interface ColumnInfo {
  readonly name: string;
  /** format_type with the type modifier, e.g. "character varying(80)". */
  readonly type: string;
  readonly notNull: boolean;
  readonly default: string | null;
  readonly identity: 'always' | 'by default' | null;
  readonly generated: { readonly kind: 'stored' | 'virtual'; readonly expression: string } | null;
  /** Only when it differs from the type's own collation. */
  readonly collation: string | null;
}

export type ConstraintType = 'primary key' | 'foreign key' | 'unique' | 'check' | 'exclusion';

export interface ConstraintInfo {
  /** schema.table.constraint */
  readonly name: string;
  readonly table: string;
  readonly type: ConstraintType;
  /** pg_get_constraintdef: actions, deferrability and NOT VALID included. */
  readonly definition: string;
  readonly deferrable: boolean;
  readonly initiallyDeferred: boolean;
  /** Foreign keys only. */
  readonly references: string | null;
  readonly onUpdate: ReferentialAction | null;
  readonly onDelete: ReferentialAction | null;
}

export type ReferentialAction = 'no action' | 'restrict' | 'cascade' | 'set null' | 'set default';

export interface IndexInfo {
  /** schema.index */
  readonly name: string;
  readonly table: string;
  readonly unique: boolean;
  /** pg_get_indexdef without "CREATE [UNIQUE] INDEX name": starts at "ON". */
  readonly definition: string;
  readonly predicate: string | null;
}

export interface EnumInfo {
  readonly name: string;
  readonly owner: string;
  /** In sort order. */
  readonly labels: string[];
}

export interface DomainInfo {
  readonly name: string;
  readonly owner: string;
  readonly baseType: string;
  readonly notNull: boolean;
  readonly default: string | null;
  readonly collation: string | null;
  readonly checks: { readonly name: string; readonly definition: string }[];
}

export interface SequenceInfo {
  readonly name: string;
  readonly owner: string;
  readonly type: string;
  readonly start: string;
  readonly increment: string;
  readonly min: string;
  readonly max: string;
  readonly cache: string;
  readonly cycle: boolean;
  /** schema.table.column of OWNED BY (serial and identity columns). */
  readonly ownedBy: string | null;
}

export interface ViewInfo {
  readonly name: string;
  readonly kind: 'view' | 'materialized view';
  readonly owner: string;
  /** pg_get_viewdef with runs of whitespace outside literals collapsed. */
  readonly definition: string;
  /** reloptions sorted, e.g. "security_invoker=true". */
  readonly options: string[];
}

export interface FunctionInfo {
  /** schema.name(identity arguments) */
  readonly name: string;
  readonly kind: 'function' | 'procedure';
  readonly owner: string;
  readonly returns: string | null;
  readonly language: string;
  readonly volatility: 'immutable' | 'stable' | 'volatile';
  readonly securityDefiner: boolean;
  readonly strict: boolean;
  readonly parallel: 'safe' | 'restricted' | 'unsafe';
  readonly leakproof: boolean;
  /** SET clauses, sorted, e.g. "search_path=pg_catalog". */
  readonly config: string[];
  /** sha256 (hex) of the body. */
  readonly bodySha256: string;
}

export interface TriggerInfo {
  /** schema.table.trigger */
  readonly name: string;
  readonly table: string;
  readonly definition: string;
  readonly enabled: 'origin' | 'disabled' | 'replica' | 'always';
}

export interface PolicyInfo {
  /** schema.table.policy */
  readonly name: string;
  readonly table: string;
  readonly command: 'all' | 'select' | 'insert' | 'update' | 'delete';
  readonly permissive: boolean;
  /** Sorted; "PUBLIC" for the public pseudo-role. */
  readonly roles: string[];
  readonly using: string | null;
  readonly withCheck: string | null;
}

export type GrantObjectKind =
  | 'schema'
  | 'table'
  | 'partitioned table'
  | 'foreign table'
  | 'view'
  | 'materialized view'
  | 'sequence'
  | 'column'
  | 'function'
  | 'procedure'
  | 'type'
  | 'domain';

export interface GrantInfo {
  readonly objectKind: GrantObjectKind;
  readonly object: string;
  readonly grantee: string;
  readonly privilege: string;
  readonly grantable: boolean;
  /**
   * True for a privilege the object has by default (e.g. EXECUTE to PUBLIC on a function) that was
   * revoked; false for an explicit grant beyond the defaults.
   */
  readonly revokedDefault: boolean;
}

export interface ExtensionInfo {
  readonly name: string;
  readonly version: string;
  readonly schema: string;
}

export interface RoleInfo {
  readonly name: string;
  readonly exists: boolean;
  readonly superuser: boolean;
  readonly inherit: boolean;
  readonly createRole: boolean;
  readonly createDb: boolean;
  readonly login: boolean;
  readonly replication: boolean;
  readonly bypassRls: boolean;
  readonly connectionLimit: number;
  readonly validUntil: string | null;
  /** Roles this one is a member of, sorted. */
  readonly memberOf: string[];
}

export interface SnapshotOptions {
  /** Only these schemas (default: every user schema). */
  readonly schemas?: readonly string[];
  /** Tables left out with everything hanging off them. Default ['public.schema_migrations']. */
  readonly ignoreTables?: readonly string[];
  /** Cluster roles the migrations created, to include with their attributes. */
  readonly roles?: readonly string[];
}

/** Code-point order, the same on every machine and locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byName<T extends { readonly name: string }>(items: T[]): T[] {
  return items.sort((a, b) => compareNames(a.name, b.name));
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Collapses whitespace runs outside quoted literals and identifiers; trims. */
export function normalizeWhitespace(sql: string): string {
  let out = '';
  let quote: string | null = null;
  let pendingSpace = false;
  for (const ch of sql) {
    if (quote) {
      out += ch;
      if (ch === quote) quote = null;
      continue;
    }
    if (/\s/.test(ch)) {
      pendingSpace = out.length > 0;
      continue;
    }
    if (pendingSpace) out += ' ';
    pendingSpace = false;
    if (ch === "'" || ch === '"') quote = ch;
    out += ch;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Catalog queries. $1 is the schema filter (text[] or null). Every query reads one object kind.

const USER_SCHEMA = (n: string) =>
  `(${n}.nspname NOT LIKE 'pg\\_%' AND ${n}.nspname <> 'information_schema' AND ($1::text[] IS NULL OR ${n}.nspname = ANY($1::text[])))`;

/**
 * Not created by an extension (pg_depend deptype 'e'). The check costs a scan of pg_depend per
 * query, so it is left out when no extension other than plpgsql (whose objects live in pg_catalog)
 * is installed.
 */
function notFromExtension(catalog: string, oid: string): string {
  return `NOT EXISTS (SELECT 1 FROM pg_depend dep WHERE dep.classid = '${catalog}'::regclass AND dep.objid = ${oid} AND dep.deptype = 'e')`;
}

type CatalogQueries = ReturnType<typeof buildQueries>;

/** The per-kind queries, with or without the extension-membership check. */
function buildQueries(extensions: boolean) {
  const NOT_EXTENSION = extensions ? notFromExtension : () => 'true';

const ROLE_NAME = (oid: string) => `CASE WHEN ${oid} = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(${oid})::text END`;

  const SCHEMAS_SQL = `
SELECT quote_ident(n.nspname) AS name, pg_get_userbyid(n.nspowner)::text AS owner
  FROM pg_namespace n
 WHERE ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_namespace', 'n.oid')}`;

  const TABLES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind::text AS relkind,
       pg_get_userbyid(c.relowner)::text AS owner, c.relpersistence::text AS persistence,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
       ARRAY(SELECT format('%I.%I', pn.nspname, pc.relname) FROM pg_inherits i
               JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
              WHERE i.inhrelid = c.oid ORDER BY i.inhseqno) AS parents,
       c.relispartition AS is_partition, c.relrowsecurity AS row_security,
       c.relforcerowsecurity AS force_row_security, coalesce(c.reloptions, '{}') AS options,
       (SELECT coalesce(json_agg(json_build_object(
                 'name', a.attname, 'position', a.attnum, 'type', format_type(a.atttypid, a.atttypmod),
                 'notNull', a.attnotnull, 'expression', pg_get_expr(d.adbin, d.adrelid),
                 'identity', a.attidentity, 'generated', a.attgenerated,
                 'collation', CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN
                   CASE WHEN cn.nspname = 'pg_catalog' THEN quote_ident(co.collname) ELSE format('%I.%I', cn.nspname, co.collname) END
                 END)), '[]')
          FROM pg_attribute a
          JOIN pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          LEFT JOIN pg_collation co ON co.oid = a.attcollation
          LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'f') AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_class', 'c.oid')}`;

  const CONSTRAINTS_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) AS table_name, quote_ident(k.conname) AS name, k.contype::text AS type,
       pg_get_constraintdef(k.oid) AS definition, k.condeferrable AS deferrable, k.condeferred AS deferred,
       CASE WHEN k.contype = 'f' THEN format('%I.%I', fn.nspname, fc.relname) END AS references,
       k.confupdtype::text AS on_update, k.confdeltype::text AS on_delete
  FROM pg_constraint k
  JOIN pg_class c ON c.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class fc ON fc.oid = k.confrelid
  LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
 WHERE k.contype IN ('p', 'f', 'u', 'c', 'x') AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_class', 'c.oid')}`;

  const INDEXES_SQL = `
SELECT format('%I.%I', n.nspname, ic.relname) AS name, quote_ident(ic.relname) AS bare_name,
       format('%I.%I', n.nspname, c.relname) AS table_name, i.indisunique AS unique,
       pg_get_indexdef(i.indexrelid) AS definition, pg_get_expr(i.indpred, i.indrelid) AS predicate
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = ic.relnamespace
 WHERE c.relkind IN ('r', 'p', 'm', 'f') AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_class', 'ic.oid')}
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k
                    WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))`;

  const TYPES_SQL = `
SELECT format('%I.%I', n.nspname, t.typname) AS name, t.typtype::text AS typtype, pg_get_userbyid(t.typowner)::text AS owner,
       CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END AS labels,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base_type,
       t.typnotnull AS not_null, pg_get_expr(t.typdefaultbin, 0) AS default_expr,
       CASE WHEN t.typtype = 'd' AND t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN
         CASE WHEN cn.nspname = 'pg_catalog' THEN quote_ident(co.collname) ELSE format('%I.%I', cn.nspname, co.collname) END
       END AS collation,
       CASE WHEN t.typtype = 'd' THEN
         ARRAY(SELECT json_build_object('name', quote_ident(k.conname), 'definition', pg_get_constraintdef(k.oid))::text
                 FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype = 'c')
       END AS checks
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
  LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
  LEFT JOIN pg_collation co ON co.oid = t.typcollation
  LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
 WHERE t.typtype IN ('e', 'd') AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_type', 't.oid')}`;

  const SEQUENCES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) AS name, pg_get_userbyid(c.relowner)::text AS owner,
       format_type(s.seqtypid, NULL) AS type, s.seqstart::text AS start, s.seqincrement::text AS increment,
       s.seqmin::text AS min, s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle AS cycle,
       (SELECT format('%I.%I.%I', tn.nspname, tc.relname, ta.attname)
          FROM pg_depend d
          JOIN pg_class tc ON tc.oid = d.refobjid
          JOIN pg_namespace tn ON tn.oid = tc.relnamespace
          JOIN pg_attribute ta ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
           AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
         LIMIT 1) AS owned_by
  FROM pg_sequence s
  JOIN pg_class c ON c.oid = s.seqrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_class', 'c.oid')}`;

  const VIEWS_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) AS name, c.relkind::text AS relkind, pg_get_userbyid(c.relowner)::text AS owner,
       pg_get_viewdef(c.oid) AS definition, coalesce(c.reloptions, '{}') AS options
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('v', 'm') AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_class', 'c.oid')}`;

  const FUNCTIONS_SQL = `
SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS name,
       p.prokind::text AS kind, pg_get_userbyid(p.proowner)::text AS owner,
       CASE WHEN p.prokind = 'f' THEN pg_get_function_result(p.oid) END AS returns,
       l.lanname::text AS language, p.provolatile::text AS volatility, p.prosecdef AS security_definer,
       p.proisstrict AS strict, p.proparallel::text AS parallel, p.proleakproof AS leakproof,
       coalesce(p.proconfig, '{}') AS config,
       CASE WHEN p.prosrc IS NULL OR btrim(p.prosrc) = '' THEN pg_get_functiondef(p.oid) ELSE p.prosrc END AS body
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_language l ON l.oid = p.prolang
 WHERE p.prokind IN ('f', 'p') AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_proc', 'p.oid')}`;

  const TRIGGERS_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) AS table_name, quote_ident(t.tgname) AS name,
       pg_get_triggerdef(t.oid) AS definition, t.tgenabled::text AS enabled
  FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_class', 'c.oid')}`;

  const POLICIES_SQL = `
SELECT format('%I.%I', n.nspname, c.relname) AS table_name, quote_ident(p.polname) AS name,
       p.polcmd::text AS command, p.polpermissive AS permissive,
       ARRAY(SELECT ${ROLE_NAME('r')} FROM unnest(p.polroles) AS r) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS using_expr, pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
  FROM pg_policy p
  JOIN pg_class c ON c.oid = p.polrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_class', 'c.oid')}`;

  const GRANTS_SQL = `
WITH objects AS (
  SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                        WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' ELSE 'table' END AS kind,
         format('%I.%I', n.nspname, c.relname) AS name, c.relacl AS acl, c.relowner AS owner,
         (CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char" AS default_kind
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relacl IS NOT NULL
     AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_class', 'c.oid')}
  UNION ALL
  SELECT 'column', format('%I.%I.%I', n.nspname, c.relname, a.attname), a.attacl, c.relowner, 'c'::"char"
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   CROSS JOIN LATERAL (
     -- OFFSET 0 keeps this a per-table index lookup instead of a scan of every attribute.
     SELECT a.attname, a.attacl FROM pg_attribute a
      WHERE a.attrelid = c.oid AND a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped OFFSET 0) a
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_class', 'c.oid')}
  UNION ALL
  SELECT 'schema', quote_ident(n.nspname), n.nspacl, n.nspowner, 'n'::"char"
    FROM pg_namespace n
   WHERE n.nspacl IS NOT NULL AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_namespace', 'n.oid')}
  UNION ALL
  SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
         format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)), p.proacl, p.proowner, 'f'::"char"
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE p.proacl IS NOT NULL AND p.prokind IN ('f', 'p')
     AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_proc', 'p.oid')}
  UNION ALL
  SELECT CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END, format('%I.%I', n.nspname, t.typname), t.typacl, t.typowner, 'T'::"char"
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE t.typacl IS NOT NULL AND t.typtype IN ('e', 'd')
     AND ${USER_SCHEMA('n')} AND ${NOT_EXTENSION('pg_type', 't.oid')}
)
SELECT o.kind, o.name, ${ROLE_NAME('g.grantee')} AS grantee, g.privilege_type AS privilege,
       g.is_grantable AS grantable, g.revoked
  FROM objects o
 CROSS JOIN LATERAL (
   SELECT e.grantee, e.privilege_type, e.is_grantable, false AS revoked
     FROM aclexplode(o.acl) e
    WHERE NOT EXISTS (SELECT 1 FROM aclexplode(acldefault(o.default_kind, o.owner)) d
                       WHERE d.grantee = e.grantee AND d.privilege_type = e.privilege_type)
   UNION ALL
   SELECT d.grantee, d.privilege_type, d.is_grantable, true
     FROM aclexplode(acldefault(o.default_kind, o.owner)) d
    WHERE NOT EXISTS (SELECT 1 FROM aclexplode(o.acl) e
                       WHERE e.grantee = d.grantee AND e.privilege_type = d.privilege_type)
 ) g`;

  return { schemas: SCHEMAS_SQL, tables: TABLES_SQL, constraints: CONSTRAINTS_SQL, indexes: INDEXES_SQL, types: TYPES_SQL, sequences: SEQUENCES_SQL, views: VIEWS_SQL, functions: FUNCTIONS_SQL, triggers: TRIGGERS_SQL, policies: POLICIES_SQL, grants: GRANTS_SQL };
}

const QUERIES: Record<'with' | 'without', CatalogQueries> = { with: buildQueries(true), without: buildQueries(false) };

const EXTENSIONS_SQL = `
SELECT x.extname::text AS name, x.extversion AS version, x.extnamespace::regnamespace::text AS schema
  FROM pg_extension x
 WHERE x.extname <> 'plpgsql'`;

const ROLES_SQL = `
SELECT r.rolname::text AS name, r.rolsuper AS superuser, r.rolinherit AS inherit, r.rolcreaterole AS create_role,
       r.rolcreatedb AS create_db, r.rolcanlogin AS login, r.rolreplication AS replication,
       r.rolbypassrls AS bypass_rls, r.rolconnlimit AS connection_limit, r.rolvaliduntil::text AS valid_until,
       ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) AS member_of
  FROM pg_roles r
 WHERE r.rolname = ANY($1::text[])`;

// ---------------------------------------------------------------------------------------------

const RELKIND_TABLE: Record<string, TableInfo['kind']> = { r: 'table', p: 'partitioned table', f: 'foreign table' };
const PERSISTENCE: Record<string, TableInfo['persistence']> = { p: 'permanent', u: 'unlogged', t: 'temporary' };
const CONSTRAINT_TYPE: Record<string, ConstraintType> = {
  p: 'primary key',
  f: 'foreign key',
  u: 'unique',
  c: 'check',
  x: 'exclusion',
};
const ACTION: Record<string, ReferentialAction> = { a: 'no action', r: 'restrict', c: 'cascade', n: 'set null', d: 'set default' };
const VOLATILITY: Record<string, FunctionInfo['volatility']> = { i: 'immutable', s: 'stable', v: 'volatile' };
const PARALLEL: Record<string, FunctionInfo['parallel']> = { s: 'safe', r: 'restricted', u: 'unsafe' };
const ENABLED: Record<string, TriggerInfo['enabled']> = { O: 'origin', D: 'disabled', R: 'replica', A: 'always' };
const COMMAND: Record<string, PolicyInfo['command']> = { '*': 'all', r: 'select', a: 'insert', w: 'update', d: 'delete' };

/** Postgres arrays may come back parsed (pg, PGlite) or as text when a driver does not know the type. */
function textArray(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string' && value.startsWith('{')) {
    const inner = value.slice(1, -1);
    if (inner === '') return [];
    const items: string[] = [];
    let current = '';
    let quoted = false;
    let wasQuoted = false;
    for (let i = 0; i < inner.length; i++) {
      const ch = inner[i]!;
      if (quoted) {
        if (ch === '\\') current += inner[++i] ?? '';
        else if (ch === '"') quoted = false;
        else current += ch;
      } else if (ch === '"') {
        quoted = true;
        wasQuoted = true;
      } else if (ch === ',') {
        items.push(current);
        current = '';
        wasQuoted = false;
      } else current += ch;
    }
    if (current !== '' || wasQuoted || inner.endsWith(',')) items.push(current);
    return items;
  }
  return [];
}

const sortedText = (value: unknown): string[] => textArray(value).sort(compareNames);
const bool = (value: unknown): boolean => value === true || value === 't' || value === 'true';
const orNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

type Row = Record<string, unknown>;

function lookup<T>(table: Record<string, T>, code: unknown, what: string): T {
  const found = table[String(code)];
  if (found === undefined) throw new TypeError(`Unexpected ${what} code "${String(code)}" in the catalog`);
  return found;
}

/** Strips "CREATE [UNIQUE] INDEX name " so the definition does not repeat the key. */
function indexDefinition(definition: string, bareName: string): string {
  const match = /^CREATE (UNIQUE )?INDEX (CONCURRENTLY )?(IF NOT EXISTS )?/.exec(definition);
  if (!match) return definition;
  const rest = definition.slice(match[0].length);
  return rest.startsWith(`${bareName} `) ? rest.slice(bareName.length + 1) : rest;
}

/** schema.table.object, for objects whose names are unique per table. */
function qualify(qualifiedTable: string, name: string): string {
  return `${qualifiedTable}.${name}`;
}

export async function snapshotSchema(db: Queryable, options: SnapshotOptions = {}): Promise<SchemaSnapshot> {
  const schemaFilter = options.schemas ? [...options.schemas] : null;
  const ignored = new Set(options.ignoreTables ?? ['public.schema_migrations']);
  const roleNames = [...new Set(options.roles ?? [])];
  const run = async (sql: string): Promise<Row[]> => (await db.query<Row>(sql, [schemaFilter])).rows;

  // Extensions first: with none installed the other queries can skip the extension-membership check.
  const extensionRows = (await db.query<Row>(EXTENSIONS_SQL)).rows;
  const queries = QUERIES[extensionRows.length > 0 ? 'with' : 'without'];
  // One query per object kind; a pooled Queryable runs them side by side.
  const [schemaRows, tableRows, constraintRows, indexRows, typeRows, sequenceRows, viewRows, functionRows, triggerRows, policyRows, grantRows, roleRows] =
    await Promise.all([
      run(queries.schemas),
      run(queries.tables),
      run(queries.constraints),
      run(queries.indexes),
      run(queries.types),
      run(queries.sequences),
      run(queries.views),
      run(queries.functions),
      run(queries.triggers),
      run(queries.policies),
      run(queries.grants),
      roleNames.length > 0 ? db.query<Row>(ROLES_SQL, [roleNames]).then((result) => result.rows) : Promise.resolve([] as Row[]),
    ]);

  // A name given as schema.table matches the quoted form too (and the other way round).
  const isIgnored = (table: string): boolean => ignored.has(table) || ignored.has(table.replaceAll('"', ''));

  const readColumns = (value: unknown): { position: number; column: ColumnInfo }[] => {
    const raw = (typeof value === 'string' ? JSON.parse(value) : (value ?? [])) as Row[];
    return raw.map((row) => {
      const generatedCode = String(row.generated ?? '');
      const expression = orNull(row.expression);
      const identityCode = String(row.identity ?? '');
      const column: ColumnInfo = {
        name: String(row.name),
        type: String(row.type),
        notNull: bool(row.notNull),
        default: generatedCode === '' ? expression : null,
        identity: identityCode === 'a' ? 'always' : identityCode === 'd' ? 'by default' : null,
        generated:
          generatedCode !== '' && expression !== null ? { kind: generatedCode === 'v' ? 'virtual' : 'stored', expression } : null,
        collation: orNull(row.collation),
      };
      return { position: Number(row.position), column };
    });
  };

  const tables = byName(
    tableRows
      .filter((row) => !isIgnored(String(row.name)))
      .map((row): TableInfo => {
        const name = String(row.name);
        const columns = readColumns(row.columns);
        const parents = textArray(row.parents);
        const isPartition = bool(row.is_partition);
        return {
          name,
          kind: lookup(RELKIND_TABLE, row.relkind, 'relkind'),
          owner: String(row.owner),
          persistence: lookup(PERSISTENCE, row.persistence, 'relpersistence'),
          partitionKey: orNull(row.partition_key),
          partitionOf: isPartition ? (parents[0] ?? null) : null,
          partitionBound: orNull(row.partition_bound),
          inherits: isPartition ? [] : parents,
          rowSecurity: bool(row.row_security),
          forceRowSecurity: bool(row.force_row_security),
          options: sortedText(row.options),
          columns: columns.map((entry) => entry.column).sort((a, b) => compareNames(a.name, b.name)),
          columnOrder: [...columns].sort((a, b) => a.position - b.position).map((entry) => entry.column.name),
        };
      }),
  );

  const constraints = byName(
    constraintRows
      .filter((row) => !isIgnored(String(row.table_name)))
      .map((row): ConstraintInfo => {
        const table = String(row.table_name);
        const isForeign = row.type === 'f';
        return {
          name: qualify(table, String(row.name)),
          table,
          type: lookup(CONSTRAINT_TYPE, row.type, 'contype'),
          definition: String(row.definition),
          deferrable: bool(row.deferrable),
          initiallyDeferred: bool(row.deferred),
          references: isForeign ? orNull(row.references) : null,
          onUpdate: isForeign ? lookup(ACTION, row.on_update, 'confupdtype') : null,
          onDelete: isForeign ? lookup(ACTION, row.on_delete, 'confdeltype') : null,
        };
      }),
  );

  const indexes = byName(
    indexRows
      .filter((row) => !isIgnored(String(row.table_name)))
      .map((row): IndexInfo => ({
        name: String(row.name),
        table: String(row.table_name),
        unique: bool(row.unique),
        definition: indexDefinition(String(row.definition), String(row.bare_name)),
        predicate: orNull(row.predicate),
      })),
  );

  const enums: EnumInfo[] = [];
  const domains: DomainInfo[] = [];
  for (const row of typeRows) {
    if (row.typtype === 'e') {
      enums.push({ name: String(row.name), owner: String(row.owner), labels: textArray(row.labels) });
    } else {
      const checks = textArray(row.checks)
        .map((text) => JSON.parse(text) as { name: string; definition: string })
        .map((check) => ({ name: check.name, definition: check.definition }));
      domains.push({
        name: String(row.name),
        owner: String(row.owner),
        baseType: String(row.base_type),
        notNull: bool(row.not_null),
        default: orNull(row.default_expr),
        collation: orNull(row.collation),
        checks: byName(checks),
      });
    }
  }

  const sequences = byName(
    sequenceRows
      .map((row): SequenceInfo => ({
        name: String(row.name),
        owner: String(row.owner),
        type: String(row.type),
        start: String(row.start),
        increment: String(row.increment),
        min: String(row.min),
        max: String(row.max),
        cache: String(row.cache),
        cycle: bool(row.cycle),
        ownedBy: orNull(row.owned_by),
      }))
      .filter((sequence) => sequence.ownedBy === null || !isIgnored(sequence.ownedBy.slice(0, sequence.ownedBy.lastIndexOf('.')))),
  );

  const views = byName(
    viewRows.map((row): ViewInfo => ({
      name: String(row.name),
      kind: row.relkind === 'm' ? 'materialized view' : 'view',
      owner: String(row.owner),
      definition: normalizeWhitespace(String(row.definition)),
      options: sortedText(row.options),
    })),
  );

  const functions = byName(
    functionRows.map((row): FunctionInfo => ({
      name: String(row.name),
      kind: row.kind === 'p' ? 'procedure' : 'function',
      owner: String(row.owner),
      returns: orNull(row.returns),
      language: String(row.language),
      volatility: lookup(VOLATILITY, row.volatility, 'provolatile'),
      securityDefiner: bool(row.security_definer),
      strict: bool(row.strict),
      parallel: lookup(PARALLEL, row.parallel, 'proparallel'),
      leakproof: bool(row.leakproof),
      config: sortedText(row.config),
      bodySha256: sha256(String(row.body ?? '')),
    })),
  );

  const triggers = byName(
    triggerRows
      .filter((row) => !isIgnored(String(row.table_name)))
      .map((row): TriggerInfo => ({
        name: qualify(String(row.table_name), String(row.name)),
        table: String(row.table_name),
        definition: String(row.definition),
        enabled: lookup(ENABLED, row.enabled, 'tgenabled'),
      })),
  );

  const policies = byName(
    policyRows
      .filter((row) => !isIgnored(String(row.table_name)))
      .map((row): PolicyInfo => ({
        name: qualify(String(row.table_name), String(row.name)),
        table: String(row.table_name),
        command: lookup(COMMAND, row.command, 'polcmd'),
        permissive: bool(row.permissive),
        roles: sortedText(row.roles),
        using: orNull(row.using_expr),
        withCheck: orNull(row.with_check),
      })),
  );

  const grants = grantRows
    .map((row): GrantInfo => ({
      objectKind: String(row.kind) as GrantObjectKind,
      object: String(row.name),
      grantee: String(row.grantee),
      privilege: String(row.privilege),
      grantable: bool(row.grantable),
      revokedDefault: bool(row.revoked),
    }))
    .filter((grant) => {
      if (grant.objectKind === 'column') return !isIgnored(grant.object.slice(0, grant.object.lastIndexOf('.')));
      if (grant.objectKind === 'table' || grant.objectKind === 'partitioned table') return !isIgnored(grant.object);
      return true;
    })
    .sort((a, b) => compareNames(grantKey(a), grantKey(b)));

  const extensions = byName(
    extensionRows.map((row): ExtensionInfo => ({ name: String(row.name), version: String(row.version), schema: String(row.schema) })),
  );

  const found = new Map(roleRows.map((row) => [String(row.name), row]));
  const roles = roleNames.sort(compareNames).map((name): RoleInfo => {
    const row = found.get(name);
    return {
      name,
      exists: row !== undefined,
      superuser: bool(row?.superuser),
      inherit: bool(row?.inherit),
      createRole: bool(row?.create_role),
      createDb: bool(row?.create_db),
      login: bool(row?.login),
      replication: bool(row?.replication),
      bypassRls: bool(row?.bypass_rls),
      connectionLimit: row ? Number(row.connection_limit) : -1,
      validUntil: orNull(row?.valid_until),
      memberOf: sortedText(row?.member_of),
    };
  });

  return {
    schemas: byName(schemaRows.map((row) => ({ name: String(row.name), owner: String(row.owner) }))),
    tables,
    constraints,
    indexes,
    enums: byName(enums),
    domains: byName(domains),
    sequences,
    views,
    functions,
    triggers,
    policies,
    grants,
    extensions,
    roles,
  };
}

/** The identity of one grant entry: what, on which object, to whom. */
export function grantKey(grant: GrantInfo): string {
  return `${grant.revokedDefault ? 'revoked default ' : ''}${grant.privilege} on ${grant.objectKind} ${grant.object} to ${grant.grantee}`;
}
