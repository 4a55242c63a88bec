/**
 * Mutants of a migrated database's RLS set-up, read from its catalog: each one weakens one thing
 * (a policy, a table's RLS flags, a grant), so a test suite that still passes with it applied has
 * a gap there. Mutants that cannot change what the app role may do are not generated.
 */
import { type Queryable, quoteIdent } from '@tenantkit/testkit';
import { settingInUse } from '../audit/audit-context.js';
import { byText } from '@tenantkit/testkit/internal';
import { type CatalogPolicy, type CatalogRelation, type PolicyCommand, readCatalog } from '../audit/catalog.js';
import { readsSetting, topLevelConjuncts } from '../audit/policy-parser.js';

export const MUTATION_KINDS = [
  'drop-policy',
  'using-true',
  'drop-with-check',
  'roles-public',
  'restrictive-to-permissive',
  'drop-tenant-condition',
  'no-force-rls',
  'disable-rls',
  'grant-truncate',
] as const;
export type MutationKind = (typeof MUTATION_KINDS)[number];

export interface PolicyMutant {
  /** Stable across runs on the same schema: kind, table, policy (and which condition). */
  readonly id: string;
  readonly kind: MutationKind;
  /** `schema.table`, unquoted. */
  readonly table: string;
  /** The policy mutated; null for mutants of the table (RLS flags, grants). */
  readonly policy: string | null;
  /** Applies the mutant, run as the schema's owner after the migrations. */
  readonly sql: string;
  /** One line: what the mutant changes. */
  readonly description: string;
  /** What kind of test would fail with it applied (and so kill it). */
  readonly hint: string;
}

export interface GenerateMutantsOptions {
  /** The role the application (and the suite) acts as. */
  readonly appRole: string;
  /** The setting policies read for the tenant; default: the one the policies read most, else app.tenant_id. */
  readonly tenantSetting?: string;
}

/** What a test does to a table that a mutant of a policy for `command` lets through. */
function crossTenant(command: PolicyCommand, table: string): string {
  switch (command) {
    case 'INSERT':
      return `no test inserts a row for another tenant into ${table}`;
    case 'UPDATE':
      // A statement that reads a column is also subject to the SELECT policies, which hide the rows.
      return `no test updates ${table} across tenants with an UPDATE that reads no column (SET col = constant, no WHERE)`;
    case 'DELETE':
      return `no test deletes rows of ${table} across tenants with a DELETE that reads no column (no WHERE)`;
    default:
      return `no test reads ${table} as another tenant`;
  }
}

const VERB: Record<PolicyCommand, string> = { ALL: 'reads or writes', SELECT: 'reads', INSERT: 'inserts', UPDATE: 'updates', DELETE: 'deletes' };

/** What a test does that a restrictive policy refuses, and a mutant of it lets through. */
function refusedRow(policy: CatalogPolicy, table: string): string {
  const condition = policy.using ?? policy.withCheck;
  // pg_get_expr() puts a single condition in parentheses already.
  const shown = condition === null ? '' : condition.startsWith('(') && condition.endsWith(')') ? ` ${condition}` : ` (${condition})`;
  return `no test ${VERB[policy.command]} a row of ${table} that restrictive policy "${policy.name}" refuses${shown}`;
}

/** What a test writes that a mutant of a WITH CHECK lets through. */
function crossTenantWrite(command: PolicyCommand, table: string): string {
  if (command === 'INSERT') return `no test inserts a row for another tenant into ${table}`;
  if (command === 'UPDATE') return `no test moves a row of ${table} to another tenant with UPDATE`;
  return `no test inserts a row for another tenant into ${table} (or moves one there with UPDATE)`;
}

/** What a test does that a narrowed policy (dropped, so fewer rows pass) refuses. */
function ownRows(command: PolicyCommand, table: string): string {
  const verb = { ALL: 'read and write', SELECT: 'read', INSERT: 'insert', UPDATE: 'update', DELETE: 'delete' }[command];
  return `no test checks that a tenant can ${verb} its own rows of ${table}`;
}

function rolesSql(roles: readonly string[]): string {
  return roles.map((role) => (role === 'PUBLIC' ? 'PUBLIC' : quoteIdent(role))).join(', ');
}

/** CREATE POLICY for the policy as it is, but for what `change` replaces. */
function createPolicySql(policy: CatalogPolicy, table: string, change: { readonly permissive?: boolean; readonly withCheck?: string | null }): string {
  const permissive = change.permissive ?? policy.permissive;
  const withCheck = change.withCheck === undefined ? policy.withCheck : change.withCheck;
  return [
    `CREATE POLICY ${quoteIdent(policy.name)} ON ${table}`,
    `AS ${permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${policy.command} TO ${rolesSql(policy.roles)}`,
    ...(policy.using === null ? [] : [`USING (${policy.using})`]),
    ...(withCheck === null ? [] : [`WITH CHECK (${withCheck})`]),
  ].join(' ');
}

function isTrueExpression(text: string | null): boolean {
  return text !== null && /^\(*\s*true\s*\)*$/i.test(text.trim());
}

/** The policy's mutants. */
function policyMutants(policy: CatalogPolicy, relation: CatalogRelation, setting: string): PolicyMutant[] {
  const table = relation.id;
  const target = relation.qualified;
  const name = quoteIdent(policy.name);
  const label = `policy "${policy.name}" on ${table}`;
  const base = { table, policy: policy.name } as const;
  const id = (kind: MutationKind, suffix = '') => `${kind}:${table}:${policy.name}${suffix}`;
  const out: PolicyMutant[] = [];

  if (!policy.appliesToApp) {
    // The policy is for other roles: only widening it reaches the app role.
    out.push({
      ...base,
      id: id('roles-public'),
      kind: 'roles-public',
      sql: `ALTER POLICY ${name} ON ${target} TO PUBLIC;`,
      description: `${label} applies to PUBLIC instead of ${policy.roles.join(', ')}`,
      hint: `${crossTenant(policy.command, table)} (the policy is meant for ${policy.roles.join(', ')} only)`,
    });
    return out;
  }

  out.push({
    ...base,
    id: id('drop-policy'),
    kind: 'drop-policy',
    sql: `DROP POLICY ${name} ON ${target};`,
    description: `drop ${policy.permissive ? 'permissive' : 'restrictive'} ${label}`,
    hint: policy.permissive ? ownRows(policy.command, table) : refusedRow(policy, table),
  });

  if (policy.using !== null && policy.command !== 'INSERT' && !isTrueExpression(policy.using)) {
    out.push({
      ...base,
      id: id('using-true'),
      kind: 'using-true',
      sql: `ALTER POLICY ${name} ON ${target} USING (true);`,
      description: `USING of ${label} replaced by true`,
      hint: policy.permissive ? crossTenant(policy.command, table) : refusedRow(policy, table),
    });
  }

  if (policy.withCheck !== null && !isTrueExpression(policy.withCheck)) {
    if (policy.using === null) {
      // A policy with neither expression admits no row: the weakest check is true.
      out.push({
        ...base,
        id: id('drop-with-check'),
        kind: 'drop-with-check',
        sql: `ALTER POLICY ${name} ON ${target} WITH CHECK (true);`,
        description: `WITH CHECK of ${label} replaced by true (it has no USING to fall back on)`,
        hint: crossTenantWrite(policy.command, table),
      });
    } else if (policy.withCheck !== policy.using) {
      // ALTER POLICY cannot remove a WITH CHECK; without one, USING checks new rows.
      out.push({
        ...base,
        id: id('drop-with-check'),
        kind: 'drop-with-check',
        sql: `DROP POLICY ${name} ON ${target};\n${createPolicySql(policy, target, { withCheck: null })};`,
        description: `WITH CHECK of ${label} dropped (its USING checks new rows instead)`,
        hint: `${crossTenantWrite(policy.command, table)} that USING admits but WITH CHECK refuses`,
      });
    }
  }

  if (!policy.permissive) {
    out.push({
      ...base,
      id: id('restrictive-to-permissive'),
      kind: 'restrictive-to-permissive',
      sql: `DROP POLICY ${name} ON ${target};\n${createPolicySql(policy, target, { permissive: true })};`,
      description: `restrictive ${label} made permissive (OR'ed with the others instead of AND'ed)`,
      hint: `no test ${VERB[policy.command]} another tenant's row of ${table} that restrictive policy "${policy.name}" alone admits`,
    });
  }

  for (const [clause, text] of [['using', policy.command === 'INSERT' ? null : policy.using], ['with-check', policy.withCheck]] as const) {
    const conjuncts = topLevelConjuncts(text);
    if (!conjuncts) continue;
    conjuncts.forEach((conjunct, index) => {
      if (!readsSetting(conjunct.tokens, setting)) return;
      // Operands of the top-level AND, so joined by AND they keep their meaning.
      const rest = conjuncts.filter((_, other) => other !== index).map((other) => other.text).join(' AND ');
      const keyword = clause === 'using' ? 'USING' : 'WITH CHECK';
      out.push({
        ...base,
        id: id('drop-tenant-condition', `:${clause}:${index + 1}`),
        kind: 'drop-tenant-condition',
        sql: `ALTER POLICY ${name} ON ${target} ${keyword} (${rest});`,
        description: `${keyword} of ${label} without its tenant condition ${conjunct.text}`,
        hint: clause === 'using' ? crossTenant(policy.command, table) : crossTenantWrite(policy.command, table),
      });
    });
  }
  return out;
}

/** The table's mutants of its RLS flags and grants. */
function tableMutants(relation: CatalogRelation, hasAppPrivileges: boolean, appRole: string): PolicyMutant[] {
  const table = relation.id;
  const base = { table, policy: null } as const;
  const out: PolicyMutant[] = [];
  if (relation.rlsEnabled && hasAppPrivileges) {
    const firstAccess = relation.app.select ? 'SELECT' : relation.app.update ? 'UPDATE' : relation.app.delete ? 'DELETE' : 'INSERT';
    out.push({
      ...base,
      id: `disable-rls:${table}`,
      kind: 'disable-rls',
      sql: `ALTER TABLE ${relation.qualified} DISABLE ROW LEVEL SECURITY;`,
      description: `row level security disabled on ${table}`,
      hint: crossTenant(firstAccess, table),
    });
  }
  // FORCE binds only the table's owner (the app role owns nothing): killed by a test that acts as
  // the owner, the way a service connecting as the migration role would. A bypassing owner ignores it.
  if (relation.rlsEnabled && relation.rlsForced && !relation.ownerSuperuser && !relation.ownerBypassRls) {
    out.push({
      ...base,
      id: `no-force-rls:${table}`,
      kind: 'no-force-rls',
      sql: `ALTER TABLE ${relation.qualified} NO FORCE ROW LEVEL SECURITY;`,
      description: `FORCE ROW LEVEL SECURITY removed from ${table} (its owner ${relation.owner} bypasses RLS again)`,
      hint: `no test reads ${table} as its owner (${relation.owner}) with a tenant context: only FORCE ROW LEVEL SECURITY binds the owner`,
    });
  }
  if (relation.rlsEnabled && relation.app.schemaUsage && !relation.app.truncate) {
    out.push({
      ...base,
      id: `grant-truncate:${table}`,
      kind: 'grant-truncate',
      sql: `GRANT TRUNCATE ON ${relation.qualified} TO ${quoteIdent(appRole)};`,
      description: `TRUNCATE on ${table} granted to the app role`,
      hint: `no test tries TRUNCATE ${table} as the app role (TRUNCATE ignores RLS and empties every tenant's rows)`,
    });
  }
  return out;
}

/**
 * One mutant per way to weaken the RLS set-up of `db` (a migrated database, read as the admin):
 * - every policy that applies to the app role: dropped; USING replaced by true; WITH CHECK dropped
 *   (not when it equals USING, which then checks new rows anyway); restrictive made permissive;
 *   the tenant condition (the operand that reads the tenant setting) removed from a top-level AND
 *   of USING or WITH CHECK;
 * - every policy for other roles only: widened to PUBLIC (a policy already applying to the app
 *   role, PUBLIC included, is not widened: that changes nothing the app role may do);
 * - every table with RLS on: RLS disabled; NO FORCE where FORCE is on and the owner does not bypass
 *   RLS anyway (it binds the owner only, so only a test acting as the owner kills it); TRUNCATE
 *   granted to the app role where it lacks it.
 * Tables the app role has no privilege on (or whose schema it cannot use) get no mutant of their
 * policies or flags: nothing the app role does could tell them apart.
 */
export async function generateMutants(db: Queryable, options: GenerateMutantsOptions): Promise<PolicyMutant[]> {
  const catalog = await readCatalog(db, options.appRole);
  const setting = options.tenantSetting ?? settingInUse(catalog.policies) ?? 'app.tenant_id';
  const mutants: PolicyMutant[] = [];
  const relations = [...catalog.relations.values()]
    .filter((relation) => relation.kind === 'table' || relation.kind === 'partitioned')
    .sort((a, b) => byText(a.id, b.id));
  for (const relation of relations) {
    const policies = catalog.policies.filter((policy) => policy.table === relation.id);
    if (!relation.rlsEnabled && policies.length === 0) continue;
    const access = relation.app;
    const hasAppPrivileges = access.schemaUsage && (access.select || access.insert || access.update || access.delete);
    if (hasAppPrivileges && relation.rlsEnabled) {
      for (const policy of policies) mutants.push(...policyMutants(policy, relation, setting));
    }
    mutants.push(...tableMutants(relation, hasAppPrivileges, options.appRole));
  }
  return mutants;
}
