// The catalog queries of a schema snapshot. $1 is the schema filter (text[] or null). Every query
// reads one object kind; schema-snapshot.ts turns the rows into the snapshot's types.

import { notExtensionMemberSql, userSchemaSql } from '../sql/catalog.js';

/** A user schema (the kit's one rule), narrowed to the snapshot's schema filter when there is one. */
const USER_SCHEMA = (n: string) => `(${userSchemaSql(n)} AND ($1::text[] IS NULL OR ${n}.nspname = ANY($1::text[])))`;

type CatalogQueries = ReturnType<typeof buildQueries>;

/** The per-kind queries, with or without the extension-membership check. */
function buildQueries(extensions: boolean) {
  // Not created by an extension: a scan of pg_depend per query, left out when no extension other
  // than plpgsql (whose objects live in pg_catalog) is installed.
  const NOT_EXTENSION = extensions ? notExtensionMemberSql : () => 'true';

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

export const QUERIES: Record<'with' | 'without', CatalogQueries> = { with: buildQueries(true), without: buildQueries(false) };

export const EXTENSIONS_SQL = `
SELECT x.extname::text AS name, x.extversion AS version, x.extnamespace::regnamespace::text AS schema
  FROM pg_extension x
 WHERE x.extname <> 'plpgsql'`;

export const ROLES_SQL = `
SELECT r.rolname::text AS name, r.rolsuper AS superuser, r.rolinherit AS inherit, r.rolcreaterole AS create_role,
       r.rolcreatedb AS create_db, r.rolcanlogin AS login, r.rolreplication AS replication,
       r.rolbypassrls AS bypass_rls, r.rolconnlimit AS connection_limit, r.rolvaliduntil::text AS valid_until,
       ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) AS member_of
  FROM pg_roles r
 WHERE r.rolname = ANY($1::text[])`;
