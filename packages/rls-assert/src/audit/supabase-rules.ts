import type { SchemaModel, Tenancy } from '@tenantkit/fixtures';
import { type Queryable, quoteIdent } from '@tenantkit/testkit';
import { byText, escapeRegExp } from '@tenantkit/testkit/internal';
import type { Finding } from '../types.js';
import { type Catalog, type CatalogPolicy, readCatalog, relationsNamedIn } from './catalog.js';
import { auditRules } from './rules.js';

/** Codes only a Supabase database can get, with their severity. */
export const SUPABASE_RULES = {
  TK_POLICY_TO_PUBLIC: 'warning',
  TK_POLICY_RECURSION: 'error',
  TK_HELPER_SKIPS_MEMBERSHIP: 'warning',
  TK_ANON_REACHES_TENANT_ROWS: 'error',
  TK_ANON_NOT_PROVEN: 'error',
} as const satisfies Record<string, string>;

/** What of the general audit also holds for anon: privileges that ignore row level security. */
const ANON_CODES = new Set(['TK_TRUNCATE_GRANTED', 'TK_MATVIEW_EXPOSES_TENANT_DATA', 'TK_VIEW_BYPASSES_RLS', 'TK_APP_ROLE_BYPASSES_RLS']);

const HELPER_NAME = /member|belong|in_org|in_team|org_access|team_access|has_access|can_access|is_admin|has_role/i;

export interface SupabaseAuditOptions {
  readonly tenancy: Tenancy;
  readonly model: SchemaModel;
  /** The membership table the context found (`schema.table`), when tenancy goes through one. */
  readonly membership?: string;
}

/**
 * The audit a Supabase project needs beyond the general one (which runs for authenticated):
 * - what anon (every request without a token) holds that ignores row level security: TRUNCATE,
 *   materialized views and owner's-rights views over tenant rows;
 * - permissive policies on tenant tables written TO public, which anon is subject to as well;
 * - policies that read the table they protect, directly or through a SECURITY INVOKER function
 *   (Postgres stops such a query with "infinite recursion detected in policy");
 * - helper functions named for membership that never read the membership table.
 */
export async function supabaseFindings(db: Queryable, catalog: Catalog, options: SupabaseAuditOptions): Promise<Finding[]> {
  const findings: Finding[] = [];
  const anon = auditRules(await readCatalog(db, 'anon'), { appRole: 'anon', tenancy: options.tenancy, model: options.model });
  findings.push(...anon.filter((finding) => ANON_CODES.has(finding.code)));
  const functions = await policyFunctions(db);
  const scoped = new Set(options.model.tables.filter((table) => options.tenancy.tables.get(table.id)?.kind !== 'global').map((table) => table.id));
  for (const policy of [...catalog.policies].sort((a, b) => byText(`${a.table}.${a.name}`, `${b.table}.${b.name}`))) {
    if (!scoped.has(policy.table)) continue;
    if (policy.permissive && policy.roles.includes('PUBLIC')) {
      findings.push({
        code: 'TK_POLICY_TO_PUBLIC',
        severity: 'warning',
        object: `${policy.table}.${policy.name}`,
        message: `Policy "${policy.name}" on ${policy.table} is written TO public, so requests without a token (anon) are subject to it too, and anon holds ALL on new tables by the platform's default privileges. Whatever it lets through, it lets through without signing in.`,
        hint: `ALTER POLICY ${quoteIdent(policy.name)} ON ${qualified(policy.table)} TO authenticated;`,
      });
    }
    findings.push(...recursion(catalog, functions, policy));
  }
  findings.push(...helpersSkippingMembership(catalog, functions, options.membership));
  return findings;
}

function qualified(id: string): string {
  const at = id.indexOf('.');
  return `${quoteIdent(id.slice(0, at))}.${quoteIdent(id.slice(at + 1))}`;
}

/** A function a policy may call: any in the user's schemas, invoker or definer (the catalog keeps only definers). */
interface PolicyFunction {
  readonly id: string;
  readonly schema: string;
  readonly name: string;
  readonly source: string;
  readonly securityDefiner: boolean;
  readonly owner: string;
  readonly ownerSuperuser: boolean;
  readonly ownerBypassRls: boolean;
}

async function policyFunctions(db: Queryable): Promise<PolicyFunction[]> {
  const { rows } = await db.query<{ schema: string; name: string; args: string; source: string; definer: boolean; owner: string; super: boolean; bypass: boolean }>(
    `SELECT n.nspname::text AS schema, p.proname::text AS name, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
            COALESCE(p.prosrc, '') AS source, p.prosecdef AS definer, o.rolname::text AS owner, o.rolsuper AS super, o.rolbypassrls AS bypass
       FROM pg_catalog.pg_proc p
       JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
       JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'auth', 'extensions') AND n.nspname NOT LIKE 'pg\\_%'
        AND p.prokind = 'f'
      ORDER BY 1, 2, 3`,
  );
  return rows.map((row) => ({ id: `${row.schema}.${row.name}(${row.args})`, schema: row.schema, name: row.name, source: row.source, securityDefiner: row.definer, owner: row.owner, ownerSuperuser: row.super, ownerBypassRls: row.bypass }));
}

/** Functions a policy expression calls, by name (schema-qualified or not). */
function calledBy(functions: readonly PolicyFunction[], text: string): PolicyFunction[] {
  return functions.filter((fn) => new RegExp(`(?<![A-Za-z0-9_$])(?:"?${escapeRegExp(fn.schema)}"?\\s*\\.\\s*)?"?${escapeRegExp(fn.name)}"?\\s*\\(`, 'i').test(text));
}

function recursion(catalog: Catalog, functions: readonly PolicyFunction[], policy: CatalogPolicy): Finding[] {
  const relation = catalog.relations.get(policy.table);
  if (!relation) return [];
  const text = [policy.using ?? '', policy.withCheck ?? ''].join('\n');
  const self = [{ id: relation.id, schema: relation.schema, name: relation.name }];
  // A subquery over the table itself (column references such as projects.org_id do not count).
  const sources = [...text.matchAll(/\b(?:from|join)\s+((?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*))?)/gi)].map((match) => match[1]!);
  const direct = sources.some((source) => relationsNamedIn(source, self).length > 0);
  // A definer function reads with its owner's rights: no policy applies to a superuser, a
  // BYPASSRLS owner, or the table's owner unless row level security is forced.
  const recursing = calledBy(functions, text).filter(
    (fn) => relationsNamedIn(fn.source, self).length > 0 && (!fn.securityDefiner || (!fn.ownerSuperuser && !fn.ownerBypassRls && (fn.owner !== relation.owner || relation.rlsForced))),
  );
  if (!direct && recursing.length === 0) return [];
  const via = direct ? 'its own expression reads the table again' : `${recursing.map((fn) => fn.id).join(', ')} read${recursing.length === 1 ? 's' : ''} the table under its policies`;
  return [
    {
      code: 'TK_POLICY_RECURSION',
      severity: 'error',
      object: `${policy.table}.${policy.name}`,
      message: `Policy "${policy.name}" on ${policy.table} reads ${policy.table} while it is being checked (${via}): Postgres stops every such query with "infinite recursion detected in policy", so the table cannot be used, and nothing about it is proven.`,
      hint: `Move the lookup into a SECURITY DEFINER function owned by the table's owner (SET search_path = '', in a schema the API does not expose) and call that from the policy: CREATE FUNCTION private.is_member_of(org uuid) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$ SELECT EXISTS (SELECT 1 FROM ${qualified(policy.table)} WHERE ... = (SELECT auth.uid())) $$;`,
    },
  ];
}

function helpersSkippingMembership(catalog: Catalog, functions: readonly PolicyFunction[], membership: string | undefined): Finding[] {
  if (membership === undefined) return [];
  const table = catalog.relations.get(membership);
  if (!table) return [];
  const usedByPolicies = new Set(catalog.policies.flatMap((policy) => calledBy(functions, [policy.using ?? '', policy.withCheck ?? ''].join('\n')).map((fn) => fn.id)));
  const findings: Finding[] = [];
  for (const fn of functions) {
    if (!usedByPolicies.has(fn.id) || !HELPER_NAME.test(fn.name) || fn.source.trim() === '') continue;
    if (relationsNamedIn(fn.source, [{ id: table.id, schema: table.schema, name: table.name }]).length > 0) continue;
    findings.push({
      code: 'TK_HELPER_SKIPS_MEMBERSHIP',
      severity: 'warning',
      object: fn.id,
      message: `${fn.id} is named for membership and policies call it, but it never reads ${membership}, the table that says who belongs to which tenant: whatever it checks, it is not membership.`,
      hint: `Make it look the caller up in ${membership}: SELECT EXISTS (SELECT 1 FROM ${table.qualified} m WHERE m.<tenant column> = <argument> AND m.<user column> = (SELECT auth.uid()))`,
    });
  }
  return findings;
}
