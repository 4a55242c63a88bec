import { type Queryable, quoteIdent } from '@tenantkit/testkit';
import { byText, escapeRegExp, notExtensionMemberSql, textArray, userSchemaSql } from '@tenantkit/testkit/internal';
import { NamesNothingError } from '../errors.js';

/**
 * What the audit rules read from pg_catalog, in five queries whatever the size of the schema:
 * roles, relations (tables, partitions, views, materialized views) with the app role's privileges,
 * policies, what views depend on, and SECURITY DEFINER functions. Columns, foreign keys and unique
 * constraints come from the SchemaModel the caller already introspected. Works on PostgreSQL 15 and
 * later and on PGlite.
 */

export type RelationKind = 'table' | 'partitioned' | 'view' | 'materialized view';

export type PolicyCommand = 'ALL' | 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

/** What the app role may do on a relation, membership included (has_*_privilege semantics). */
export interface AppAccess {
  /** USAGE on the relation's schema: without it the relation cannot be named at all. */
  readonly schemaUsage: boolean;
  /** SELECT on the table or on any of its columns. */
  readonly select: boolean;
  readonly insert: boolean;
  readonly update: boolean;
  readonly delete: boolean;
  readonly truncate: boolean;
  /** TRIGGER and REFERENCES: what GRANT ALL gives beyond what an application needs. */
  readonly trigger: boolean;
  readonly references: boolean;
}

export interface CatalogRelation {
  readonly oid: string;
  readonly schema: string;
  readonly name: string;
  /** `schema.name`, unquoted, as in SchemaModel ids. */
  readonly id: string;
  /** `"schema"."name"`, quoted, for SQL. */
  readonly qualified: string;
  readonly kind: RelationKind;
  readonly rlsEnabled: boolean;
  readonly rlsForced: boolean;
  /** A declarative partition (relispartition). */
  readonly isPartition: boolean;
  /** Ids of the tables this one is a partition or an inheritance child of (pg_inherits). */
  readonly parents: readonly string[];
  readonly owner: string;
  readonly ownerSuperuser: boolean;
  readonly ownerBypassRls: boolean;
  /** The app role is the owner or a member of it (pg_has_role MEMBER: it can SET ROLE to it). */
  readonly appIsOwner: boolean;
  /** Views: reloptions security_invoker is on. */
  readonly securityInvoker: boolean;
  readonly options: readonly string[];
  readonly app: AppAccess;
  /** Views and materialized views: the relations their query reads (pg_rewrite, pg_depend). */
  readonly dependsOn: readonly string[];
}

export interface CatalogPolicy {
  /** Id of the table the policy is on. */
  readonly table: string;
  readonly name: string;
  readonly command: PolicyCommand;
  readonly permissive: boolean;
  /** Role names; `PUBLIC` for oid 0. */
  readonly roles: readonly string[];
  /** The policy applies to the app role: PUBLIC, the app role, or a role the app role is a member of. */
  readonly appliesToApp: boolean;
  /** pg_get_expr() of USING and WITH CHECK; null when absent. */
  readonly using: string | null;
  readonly withCheck: string | null;
}

export interface CatalogFunction {
  readonly oid: string;
  readonly schema: string;
  readonly name: string;
  /** pg_get_function_identity_arguments(). */
  readonly args: string;
  /** `schema.name(args)`. */
  readonly id: string;
  /** `"schema"."name"(args)`, for SQL. */
  readonly qualified: string;
  readonly owner: string;
  readonly ownerSuperuser: boolean;
  readonly ownerBypassRls: boolean;
  readonly securityDefiner: boolean;
  /** EXECUTE on the function (PUBLIC has it by default) and USAGE on its schema. */
  readonly appCanExecute: boolean;
  readonly language: string;
  /** prosrc: the body text of SQL and PL functions, empty for SQL-standard (BEGIN ATOMIC) bodies. */
  readonly source: string;
  /** Relations pg_depend records for the function: only SQL-standard bodies record them. */
  readonly dependsOn: readonly string[];
  /** The function sets its own search_path (SET search_path = ... in its definition). */
  readonly searchPathPinned: boolean;
  /** EXECUTE is granted to PUBLIC (the default for a new function). */
  readonly publicExecute: boolean;
  /** Parameter names, '' for an unnamed one (then only $n can read it). */
  readonly argNames: readonly string[];
}

export interface CatalogRole {
  readonly name: string;
  readonly superuser: boolean;
  readonly bypassRls: boolean;
  /** Involved roles whose privileges this one has (itself, and roles it inherits: pg_has_role USAGE). */
  readonly inherits: readonly string[];
  /**
   * Involved roles, and every superuser or BYPASSRLS role, this one is a member of (itself, and roles
   * it can SET ROLE to: pg_has_role MEMBER).
   */
  readonly memberOf: readonly string[];
}

export interface Catalog {
  readonly appRole: string;
  /** Owners of relations and SECURITY DEFINER functions, and the app role. */
  readonly roles: ReadonlyMap<string, CatalogRole>;
  readonly relations: ReadonlyMap<string, CatalogRelation>;
  readonly policies: readonly CatalogPolicy[];
  readonly functions: readonly CatalogFunction[];
}

const ROLE_SQL = `SELECT rolname::text AS name FROM pg_catalog.pg_roles WHERE rolname = $1`;

const ROLES_SQL = `
WITH involved AS (
  SELECT c.relowner AS oid
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm') AND ${userSchemaSql('n')}
  UNION
  SELECT p.proowner
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
   WHERE p.prosecdef AND ${userSchemaSql('n')}
  UNION
  SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = $1
)
SELECT r.rolname::text AS name, r.rolsuper AS superuser, r.rolbypassrls AS bypass,
       pg_catalog.array_to_json(ARRAY(
         SELECT o.rolname::text FROM pg_catalog.pg_roles o
          WHERE o.oid IN (SELECT oid FROM involved) AND pg_catalog.pg_has_role(r.oid, o.oid, 'USAGE')
          ORDER BY 1)) AS inherits,
       pg_catalog.array_to_json(ARRAY(
         SELECT o.rolname::text FROM pg_catalog.pg_roles o
          WHERE (o.oid IN (SELECT oid FROM involved) OR o.rolsuper OR o.rolbypassrls)
            AND pg_catalog.pg_has_role(r.oid, o.oid, 'MEMBER')
          ORDER BY 1)) AS member_of
  FROM pg_catalog.pg_roles r
 WHERE r.oid IN (SELECT oid FROM involved)`;

const RELATIONS_SQL = `
SELECT c.oid::text AS oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind,
       c.relrowsecurity AS rls, c.relforcerowsecurity AS force, c.relispartition AS partition,
       o.rolname::text AS owner, o.rolsuper AS owner_super, o.rolbypassrls AS owner_bypass,
       pg_catalog.pg_has_role($1::pg_catalog.name, c.relowner, 'MEMBER') AS app_owner,
       pg_catalog.array_to_json(COALESCE(c.reloptions, '{}'::text[])) AS options,
       pg_catalog.has_schema_privilege($1::pg_catalog.name, n.oid, 'USAGE') AS usage,
       pg_catalog.has_any_column_privilege($1::pg_catalog.name, c.oid, 'SELECT') AS sel,
       pg_catalog.has_any_column_privilege($1::pg_catalog.name, c.oid, 'INSERT') AS ins,
       pg_catalog.has_any_column_privilege($1::pg_catalog.name, c.oid, 'UPDATE') AS upd,
       pg_catalog.has_table_privilege($1::pg_catalog.name, c.oid, 'DELETE') AS del,
       pg_catalog.has_table_privilege($1::pg_catalog.name, c.oid, 'TRUNCATE') AS trunc,
       pg_catalog.has_table_privilege($1::pg_catalog.name, c.oid, 'TRIGGER') AS trig,
       pg_catalog.has_any_column_privilege($1::pg_catalog.name, c.oid, 'REFERENCES') AS refs,
       pg_catalog.array_to_json(ARRAY(
         SELECT pn.nspname::text || '.' || pc.relname::text
           FROM pg_catalog.pg_inherits i
           JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
           JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
          WHERE i.inhrelid = c.oid ORDER BY i.inhseqno)) AS parents
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_roles o ON o.oid = c.relowner
 WHERE c.relkind IN ('r', 'p', 'v', 'm') AND ${userSchemaSql('n')}
   AND ${notExtensionMemberSql('pg_catalog.pg_class', 'c.oid')}`;

const POLICIES_SQL = `
SELECT n.nspname::text || '.' || c.relname::text AS table, p.polname::text AS name, p.polcmd::text AS cmd,
       p.polpermissive AS permissive,
       pg_catalog.array_to_json(ARRAY(
         SELECT CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r.oid)::text END
           FROM pg_catalog.unnest(p.polroles) WITH ORDINALITY AS r(oid, ord) ORDER BY r.ord)) AS roles,
       (0::pg_catalog.oid = ANY (p.polroles) OR EXISTS (
          SELECT 1 FROM pg_catalog.unnest(p.polroles) AS r(oid)
           WHERE r.oid <> 0 AND pg_catalog.pg_has_role($1::pg_catalog.name, r.oid, 'MEMBER'))) AS applies,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check
  FROM pg_catalog.pg_policy p
  JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE ${userSchemaSql('n')}`;

/** The relations each view's rewrite rule reads (its own oid excluded). */
const VIEW_DEPENDENCIES_SQL = `
SELECT DISTINCT r.ev_class::text AS view, d.refobjid::text AS dep
  FROM pg_catalog.pg_rewrite r
  JOIN pg_catalog.pg_depend d
    ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
   AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
 WHERE r.ev_class = ANY ($1::pg_catalog.oid[]) AND d.refobjid <> r.ev_class`;

const FUNCTIONS_SQL = `
SELECT p.oid::text AS oid, n.nspname::text AS schema, p.proname::text AS name,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
       o.rolname::text AS owner, o.rolsuper AS owner_super, o.rolbypassrls AS owner_bypass,
       p.prosecdef AS definer,
       (pg_catalog.has_function_privilege($1::pg_catalog.name, p.oid, 'EXECUTE')
          AND pg_catalog.has_schema_privilege($1::pg_catalog.name, n.oid, 'USAGE')) AS exec,
       l.lanname::text AS language, COALESCE(p.prosrc, '') AS source,
       EXISTS (SELECT 1 FROM pg_catalog.unnest(p.proconfig) AS c(setting) WHERE c.setting LIKE 'search\\_path=%') AS pinned,
       EXISTS (SELECT 1 FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS a
                WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_exec,
       pg_catalog.array_to_json(ARRAY(
         SELECT COALESCE(p.proargnames[i], '') FROM pg_catalog.generate_series(1, p.pronargs) AS i)) AS arg_names,
       pg_catalog.array_to_json(ARRAY(
         SELECT DISTINCT d.refobjid::text FROM pg_catalog.pg_depend d
          WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
            AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass)) AS deps
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
 WHERE p.prosecdef AND ${userSchemaSql('n')}
   AND ${notExtensionMemberSql('pg_catalog.pg_proc', 'p.oid')}`;

interface RoleRow {
  name: string;
  superuser: boolean;
  bypass: boolean;
  inherits: unknown;
  member_of: unknown;
}

interface RelationRow {
  oid: string;
  schema: string;
  name: string;
  kind: string;
  rls: boolean;
  force: boolean;
  partition: boolean;
  owner: string;
  owner_super: boolean;
  owner_bypass: boolean;
  app_owner: boolean;
  options: unknown;
  usage: boolean;
  sel: boolean;
  ins: boolean;
  upd: boolean;
  del: boolean;
  trunc: boolean;
  trig: boolean;
  refs: boolean;
  parents: unknown;
}

interface PolicyRow {
  table: string;
  name: string;
  cmd: string;
  permissive: boolean;
  roles: unknown;
  applies: boolean;
  using: string | null;
  check: string | null;
}

interface FunctionRow {
  oid: string;
  schema: string;
  name: string;
  args: string;
  owner: string;
  owner_super: boolean;
  owner_bypass: boolean;
  definer: boolean;
  exec: boolean;
  language: string;
  source: string;
  pinned: boolean;
  public_exec: boolean;
  arg_names: unknown;
  deps: unknown;
}

const KINDS: Record<string, RelationKind> = { r: 'table', p: 'partitioned', v: 'view', m: 'materialized view' };
const COMMANDS: Record<string, PolicyCommand> = { '*': 'ALL', r: 'SELECT', a: 'INSERT', w: 'UPDATE', d: 'DELETE' };

/** Roles a user could have meant, for the error when the app role does not exist. */
const USER_ROLES_SQL = `SELECT rolname::text AS name FROM pg_catalog.pg_roles WHERE rolname !~ '^pg_' ORDER BY rolname`;

export async function readCatalog(db: Queryable, appRole: string): Promise<Catalog> {
  if ((await db.query(ROLE_SQL, [appRole])).rows.length === 0) {
    const existing = (await db.query<{ name: string }>(USER_ROLES_SQL)).rows.map((row) => row.name);
    throw new NamesNothingError('TENANTKIT_UNKNOWN_ROLE', 'The app role', [appRole], existing, 'Its privileges cannot be audited: pass the role the application connects as (appRole), created as the project creates it (setup).');
  }

  const roleRows = (await db.query<RoleRow>(ROLES_SQL, [appRole])).rows;
  const roles = new Map<string, CatalogRole>(
    roleRows.map((row) => [
      row.name,
      { name: row.name, superuser: row.superuser, bypassRls: row.bypass, inherits: textArray(row.inherits), memberOf: textArray(row.member_of) },
    ]),
  );

  const relationRows = (await db.query<RelationRow>(RELATIONS_SQL, [appRole])).rows;
  const idByOid = new Map(relationRows.map((row) => [String(row.oid), `${row.schema}.${row.name}`]));
  const viewOids = relationRows.filter((row) => row.kind === 'v' || row.kind === 'm').map((row) => String(row.oid));
  const dependencies = new Map<string, string[]>();
  if (viewOids.length > 0) {
    for (const row of (await db.query<{ view: string; dep: string }>(VIEW_DEPENDENCIES_SQL, [viewOids])).rows) {
      const dep = idByOid.get(String(row.dep));
      if (!dep) continue;
      const list = dependencies.get(String(row.view)) ?? [];
      list.push(dep);
      dependencies.set(String(row.view), list);
    }
  }
  const relations = new Map<string, CatalogRelation>();
  for (const row of relationRows) {
    const id = `${row.schema}.${row.name}`;
    const options = textArray(row.options);
    relations.set(id, {
      oid: String(row.oid),
      schema: row.schema,
      name: row.name,
      id,
      qualified: `${quoteIdent(row.schema)}.${quoteIdent(row.name)}`,
      kind: KINDS[row.kind] ?? 'table',
      rlsEnabled: row.rls,
      rlsForced: row.force,
      isPartition: row.partition,
      parents: textArray(row.parents),
      owner: row.owner,
      ownerSuperuser: row.owner_super,
      ownerBypassRls: row.owner_bypass,
      appIsOwner: row.app_owner,
      securityInvoker: options.some((option) => isTrueOption(option, 'security_invoker')),
      options,
      app: { schemaUsage: row.usage, select: row.sel, insert: row.ins, update: row.upd, delete: row.del, truncate: row.trunc, trigger: row.trig, references: row.refs },
      dependsOn: [...new Set(dependencies.get(String(row.oid)) ?? [])].sort(byText),
    });
  }

  const policies = (await db.query<PolicyRow>(POLICIES_SQL, [appRole])).rows
    .map(
      (row): CatalogPolicy => ({
        table: row.table,
        name: row.name,
        command: COMMANDS[row.cmd] ?? 'ALL',
        permissive: row.permissive,
        roles: textArray(row.roles),
        appliesToApp: row.applies,
        using: row.using,
        withCheck: row.check,
      }),
    )
    .sort((a, b) => byText(a.table, b.table) || byText(a.name, b.name));

  const functions = (await db.query<FunctionRow>(FUNCTIONS_SQL, [appRole])).rows
    .map((row): CatalogFunction => ({
      oid: String(row.oid),
      schema: row.schema,
      name: row.name,
      args: row.args,
      id: `${row.schema}.${row.name}(${row.args})`,
      qualified: `${quoteIdent(row.schema)}.${quoteIdent(row.name)}(${row.args})`,
      owner: row.owner,
      ownerSuperuser: row.owner_super,
      ownerBypassRls: row.owner_bypass,
      securityDefiner: row.definer,
      appCanExecute: row.exec,
      language: row.language,
      source: row.source,
      searchPathPinned: row.pinned,
      publicExecute: row.public_exec,
      argNames: textArray(row.arg_names),
      dependsOn: textArray(row.deps)
        .map((oid) => idByOid.get(oid))
        .filter((id): id is string => id !== undefined)
        .sort(byText),
    }))
    .sort((a, b) => byText(a.id, b.id));

  return { appRole, roles, relations, policies, functions };
}

/**
 * Which of `candidates` (relation ids) a function body names. A heuristic over prosrc text: a
 * relation counts when its name appears as a whole identifier, unquoted (any case, when the name is
 * all lower case), double-quoted, or schema-qualified either way. It can over-report (a variable,
 * column or comment spelled like a table) and under-report (names assembled at run time for EXECUTE,
 * e.g. `'doc' || 'uments'`, or reached through another function or a view of another name).
 * SQL-standard bodies (BEGIN ATOMIC) have no prosrc; pg_depend records what they read instead.
 */
export function relationsNamedIn(source: string, candidates: readonly { readonly id: string; readonly schema: string; readonly name: string }[]): string[] {
  if (source.trim() === '') return [];
  const found: string[] = [];
  for (const candidate of candidates) {
    if (namePattern(candidate.schema, candidate.name).test(source)) found.push(candidate.id);
  }
  return found.sort(byText);
}

const PLAIN_NAME = /^[a-z_][a-z0-9_$]*$/;

/** A quoted identifier matches exactly; an unquoted one (lower-case names only) in any case. */
function identifierPattern(name: string): string {
  const quoted = `"${escapeRegExp(name.replaceAll('"', '""'))}"`;
  if (!PLAIN_NAME.test(name)) return quoted;
  const anyCase = [...name].map((char) => (/[a-z]/.test(char) ? `[${char}${char.toUpperCase()}]` : escapeRegExp(char))).join('');
  return `(?:${quoted}|${anyCase}(?![A-Za-z0-9_$]))`;
}

function namePattern(schema: string, name: string): RegExp {
  // Not in the middle of another identifier, and not qualified by another schema.
  const qualifier = `(?:${identifierPattern(schema)}\\s*\\.\\s*)?`;
  return new RegExp(`(?<![A-Za-z0-9_$."])${qualifier}${identifierPattern(name)}`);
}

/** Boolean reloptions accept true/on/yes/1 (any case, any unique prefix of true/false, on/off). */
function isTrueOption(option: string, name: string): boolean {
  const [key, value] = option.split('=', 2) as [string, string | undefined];
  if (key.toLowerCase() !== name) return false;
  if (value === undefined) return true;
  return ['true', 'on', 'yes', '1', 't', 'tr', 'tru', 'y', 'ye'].includes(value.toLowerCase());
}
