/**
 * The audit rules about what reaches tenant rows with someone else's rights: views without
 * security_invoker, materialized views (which have no RLS), and SECURITY DEFINER functions.
 */
import { quoteIdent, quoteLiteral } from '@tenantkit/testkit';
import { type AuditContext, accessList, list } from './audit-context.js';
import { byText } from '@tenantkit/testkit/internal';
import { type CatalogRelation, relationsNamedIn } from './catalog.js';

/** Views and materialized views the app can read that reach tenant rows past RLS. */
export function auditViews(audit: AuditContext): void {
  const relations = audit.catalog.relations;
  for (const view of [...relations.values()].sort((a, b) => byText(a.id, b.id))) {
    if (view.kind !== 'view' && view.kind !== 'materialized view') continue;
    const access = accessList(view, ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
    if (access.length === 0) continue;
    if (view.kind === 'materialized view') {
      const tables = scopedBehind(audit, view.id, new Set());
      if (tables.length === 0) continue;
      audit.add(
        'TK_MATVIEW_EXPOSES_TENANT_DATA',
        'error',
        view.id,
        `Materialized view ${view.id} holds rows of ${list(tables)} and ${audit.app} has SELECT on it. Materialized views have no row level security: every tenant's rows it holds are readable by any tenant (it is empty until refreshed, so probing it proves nothing).`,
        `REVOKE ALL ON ${view.qualified} FROM ${quoteIdent(audit.app)}; -- and from PUBLIC; serve tenants through a view WITH (security_invoker = true) over the tables, or a per-tenant filter in a SECURITY INVOKER function`,
      );
      continue;
    }
    const exposures: string[] = [];
    const subject: string[] = [];
    walkView(audit, view, view.securityInvoker ? null : view.owner, new Set(), exposures, subject, []);
    if (exposures.length > 0) {
      audit.add(
        'TK_VIEW_BYPASSES_RLS',
        'error',
        view.id,
        `View ${view.id} is readable by ${audit.app} (${list(access)}) and reads ${exposures.join('; ')}. A view without security_invoker = true runs with its owner's rights: it exposes every tenant's rows to any tenant.`,
        `ALTER VIEW ${view.qualified} SET (security_invoker = true); -- PostgreSQL 15+: the app's own policies then apply; or REVOKE ALL ON ${view.qualified} FROM ${quoteIdent(audit.app)};`,
      );
    } else if (subject.length > 0) {
      audit.add(
        'TK_VIEW_BYPASSES_RLS',
        'warning',
        view.id,
        `View ${view.id} is readable by ${audit.app} and reads ${subject.join('; ')} with its owner's rights, not the app's: the policies that apply are those for the owner, not for ${audit.app}. Isolation through it depends on those policies.`,
        `ALTER VIEW ${view.qualified} SET (security_invoker = true);`,
      );
    }
  }
}

/**
 * Follows what a view reads. `reader` is the role whose rights apply (null: the app itself, through
 * security_invoker views). Exposures are tenant tables read by a role that bypasses their RLS.
 */
function walkView(audit: AuditContext, view: CatalogRelation, reader: string | null, visited: Set<string>, exposures: string[], subject: string[], via: readonly string[]): void {
  if (visited.has(view.id)) return;
  visited.add(view.id);
  const through = via.length > 0 ? ` through ${via.join(' -> ')}` : '';
  for (const dep of view.dependsOn) {
    const target = audit.catalog.relations.get(dep);
    if (!target) continue;
    if (target.kind === 'view') {
      walkView(audit, target, target.securityInvoker ? reader : target.owner, visited, exposures, subject, [...via, target.id]);
      continue;
    }
    if (target.kind === 'materialized view') {
      const tables = scopedBehind(audit, target.id, new Set());
      if (tables.length > 0) exposures.push(`materialized view ${target.id}${through} (no row level security) over ${list(tables)}`);
      continue;
    }
    const scoped = audit.scopedById.get(target.id);
    if (!scoped || reader === null) continue;
    const why = bypasses(audit, reader, target);
    // A view owned by the app itself reads with the app's own rights and policies.
    if (!why && reader === audit.app) continue;
    if (why) exposures.push(`${target.id}${through} as ${reader}, who ${why}`);
    else subject.push(`${target.id}${through} as ${reader}`);
  }
}

/** Why `role` ignores RLS on `table`, or undefined when it is subject to it. */
function bypasses(audit: AuditContext, role: string, table: CatalogRelation): string | undefined {
  if (!table.rlsEnabled) return 'is not restricted there (row level security is disabled on it)';
  const info = audit.catalog.roles.get(role);
  if (info?.superuser) return 'is a superuser';
  if (info?.bypassRls) return 'has BYPASSRLS';
  if (!table.rlsForced && (role === table.owner || info?.inherits.includes(table.owner))) {
    return `${role === table.owner ? 'owns it' : `inherits its owner ${table.owner}`} without FORCE ROW LEVEL SECURITY`;
  }
  return undefined;
}

/** Tenant-scoped tables a view or materialized view reads, through other views too. */
function scopedBehind(audit: AuditContext, id: string, visited: Set<string>): string[] {
  if (visited.has(id)) return [];
  visited.add(id);
  const relation = audit.catalog.relations.get(id);
  if (!relation) return [];
  const found = new Set<string>();
  for (const dep of relation.dependsOn) {
    if (audit.scopedById.has(dep)) found.add(dep);
    const target = audit.catalog.relations.get(dep);
    if (target && (target.kind === 'view' || target.kind === 'materialized view')) {
      for (const inner of scopedBehind(audit, dep, visited)) found.add(inner);
    }
  }
  return [...found].sort(byText);
}

/**
 * Every SECURITY DEFINER function the app role (or PUBLIC) can run: a search_path it does not pin
 * lets the caller shadow what it reads (a temp table or function of the same name); one that sets
 * the tenant context and never reads one of its parameters sets it without checking it.
 */
function definerHygiene(audit: AuditContext): void {
  for (const fn of audit.catalog.functions) {
    if (!fn.securityDefiner || fn.owner === audit.app || (!fn.appCanExecute && !fn.publicExecute)) continue;
    const source = fn.source.replace(/--[^\n]*/g, ' ');
    const setsContext = /\bset_config\s*\(/i.test(source) || /\bset\s+(?:local\s+)?"?[a-z_]+\.[a-z_]+"?\s*(?:=|to\b)/i.test(source);
    const readsContext = /\bcurrent_setting\s*\(/i.test(source);
    if (!fn.searchPathPinned) {
      const context = setsContext || readsContext;
      audit.add(
        'TK_SECURITY_DEFINER_SEARCH_PATH',
        context ? 'error' : 'warning',
        fn.id,
        `SECURITY DEFINER function ${fn.id} runs as ${fn.owner} without a pinned search_path${context ? `, and it ${setsContext ? 'sets' : 'reads'} the tenant context` : ''}: a caller can put a temporary table or a function of the same name first on the path (pg_temp comes first unless it is named last), and the function then ${context ? 'trusts a tenant the caller chose' : 'acts on what the caller made'} with ${fn.owner}'s rights.`,
        `ALTER FUNCTION ${fn.qualified} SET search_path = pg_catalog, ${quoteIdent(fn.schema)}, pg_temp;`,
      );
    }
    if (fn.publicExecute) {
      audit.add(
        'TK_SECURITY_DEFINER_PUBLIC_EXECUTE',
        setsContext ? 'error' : 'warning',
        fn.id,
        `SECURITY DEFINER function ${fn.id} is executable by PUBLIC (the default for a new function): every role on the server, not only ${audit.app}, runs it with ${fn.owner}'s rights${setsContext ? ', and it sets the tenant context' : ''}.`,
        `REVOKE EXECUTE ON FUNCTION ${fn.qualified} FROM PUBLIC; GRANT EXECUTE ON FUNCTION ${fn.qualified} TO ${quoteIdent(audit.app)};`,
      );
    }
    if (setsContext) {
      const unread = fn.argNames
        .map((name, index) => ({ name, index }))
        .filter(({ name, index }) => !new RegExp(`\\$${index + 1}(?![0-9])`).test(source) && (name === '' || !new RegExp(`\\b${name.replace(/[^A-Za-z0-9_]/g, '')}\\b`, 'i').test(source)));
      if (unread.length > 0) {
        audit.add(
          'TK_CONTEXT_SETTER_IGNORES_ARGUMENT',
          'error',
          fn.id,
          `SECURITY DEFINER function ${fn.id} sets the tenant context but never reads its parameter${unread.length === 1 ? '' : 's'} ${unread.map(({ name, index }) => name || `$${index + 1}`).join(', ')}: a signature or token passed to it is not checked, so any caller that can run it enters any tenant.`,
          `Check every parameter inside ${fn.qualified} before set_config (for a signature: compare it with the one computed from the tenant and a secret ${audit.app} cannot read), or drop the parameter.`,
        );
      }
    }
  }
}

/** SECURITY DEFINER functions the app can run: their hygiene, and the tenant tables they read. */
export function auditFunctions(audit: AuditContext): void {
  definerHygiene(audit);
  const candidates = [...audit.catalog.relations.values()].filter(
    (relation) => audit.scopedById.has(relation.id) || ((relation.kind === 'view' || relation.kind === 'materialized view') && scopedBehind(audit, relation.id, new Set()).length > 0),
  );
  for (const fn of audit.catalog.functions) {
    // Owned by the app itself, SECURITY DEFINER grants nothing the app does not have.
    if (!fn.securityDefiner || !fn.appCanExecute || fn.owner === audit.app) continue;
    const named = new Set([...relationsNamedIn(fn.source, candidates), ...fn.dependsOn.filter((id) => candidates.some((c) => c.id === id))]);
    if (named.size === 0) continue;
    const bypass = fn.ownerSuperuser ? 'a superuser' : fn.ownerBypassRls ? 'BYPASSRLS' : undefined;
    const owned = [...named].filter((id) => audit.catalog.relations.get(id)?.owner === fn.owner && !audit.catalog.relations.get(id)?.rlsForced);
    const rights = bypass
      ? `its owner ${fn.owner} is ${bypass}, so it reads every tenant's rows`
      : owned.length > 0
        ? `its owner ${fn.owner} owns ${list(owned)} without FORCE ROW LEVEL SECURITY, so it reads every tenant's rows there`
        : `the policies for ${fn.owner} apply instead of those for ${audit.app}`;
    audit.add(
      'TK_SECURITY_DEFINER_READS_TENANT_TABLE',
      'warning',
      fn.id,
      `SECURITY DEFINER function ${fn.id} is executable by ${audit.app} and its body refers to ${list([...named].sort(byText))}: it runs with its owner's rights, and ${rights}. Unless it filters by the caller's tenant itself, it hands other tenants' rows to any tenant.`,
      `ALTER FUNCTION ${fn.qualified} SECURITY INVOKER; -- or keep it definer, filter on current_setting(${quoteLiteral(audit.setting)}, true) inside, SET search_path, and REVOKE EXECUTE ON FUNCTION ${fn.qualified} FROM PUBLIC;`,
    );
  }
}
