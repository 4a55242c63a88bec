/**
 * The audit rule about row level security policies: each policy that applies to the app role is
 * evaluated for the commands it covers, with the tenant setting set, never set and empty.
 */
import { quoteIdent } from '@tenantkit/testkit';
import { type AuditRuleCode, type AuditContext, type Privilege, type Scoped, list } from './audit-context.js';
import { byText } from '@tenantkit/testkit/internal';
import { type CatalogPolicy, type PolicyCommand } from './catalog.js';
import { fixExpression } from './fix-expression.js';
import { type Scenario, evaluate, isTrue, settingsReadBy } from './policy-expression.js';
import { parseExpression } from './policy-parser.js';

interface CheckKind {
  readonly label: string;
  readonly privilege: Privilege;
  readonly commands: readonly PolicyCommand[];
  /** WITH CHECK (or USING when absent) rather than USING. */
  readonly useCheck: boolean;
}

/** What each command evaluates: USING for the rows it sees, WITH CHECK for the rows it writes. */
const CHECK_KINDS: readonly CheckKind[] = [
  { label: 'read', privilege: 'select', commands: ['ALL', 'SELECT'], useCheck: false },
  { label: 'update', privilege: 'update', commands: ['ALL', 'UPDATE'], useCheck: false },
  { label: 'delete', privilege: 'delete', commands: ['ALL', 'DELETE'], useCheck: false },
  { label: 'insert', privilege: 'insert', commands: ['ALL', 'INSERT'], useCheck: true },
  { label: 'update into', privilege: 'update', commands: ['ALL', 'UPDATE'], useCheck: true },
];

/** What a tenant can do, in a fixed order: read, insert, update, delete. */
function verbs(labels: Iterable<string>): string[] {
  const set = new Set([...labels].map((label) => (label === 'update into' ? 'update' : label)));
  return ['read', 'insert', 'update', 'delete'].filter((verb) => set.has(verb));
}

const USING_LABELS = new Set(CHECK_KINDS.filter((kind) => !kind.useCheck).map((kind) => kind.label));

/** ALTER POLICY with the clauses its command accepts (INSERT: WITH CHECK only; SELECT, DELETE: USING only). */
function alterExpressions(alter: string, command: PolicyCommand, using: string, check: string): string {
  if (command === 'INSERT') return `${alter} WITH CHECK (${check});`;
  if (command === 'SELECT' || command === 'DELETE') return `${alter} USING (${using});`;
  return `${alter} USING (${using}) WITH CHECK (${check});`;
}

/**
 * Policy expressions, judged by evaluating them (policy-expression.ts) with the tenant setting set,
 * never set and empty: always true for the app (TK_POLICY_ALWAYS_TRUE, TK_WITH_CHECK_ALWAYS_TRUE),
 * true without a tenant (TK_POLICY_FAILS_OPEN), true for a value of a setting the session picks
 * itself (TK_POLICY_SETTING_SWITCH), and always-true policies for other roles.
 */
export function auditPolicies(audit: AuditContext, scoped: Scoped): void {
  const { relation } = scoped;
  const policies = audit.policiesOf(relation.id);
  if (policies.length === 0) return;
  const columns = new Set(scoped.table.columns.map((column) => column.name));
  const parsed = new Map(policies.map((policy) => [policy, { using: parseExpression(policy.using), check: parseExpression(policy.withCheck ?? policy.using) }]));

  // Policies for other roles that let everything through: visible, not a hole for the app.
  for (const policy of policies) {
    if (policy.appliesToApp || !policy.permissive) continue;
    const exprs = parsed.get(policy)!;
    const open = [exprs.using, policy.command === 'SELECT' || policy.command === 'DELETE' ? undefined : exprs.check].some(
      (expr) => expr !== undefined && isTrue(evaluate(expr, 'set', columns)),
    );
    if (!open) continue;
    audit.add(
      'TK_BYPASS_POLICY_FOR_OTHER_ROLE',
      'info',
      `${relation.id}.${policy.name}`,
      `Policy ${policy.name} on ${relation.id} lets ${policy.roles.join(', ')} see${policy.command === 'SELECT' ? '' : ' and change'} every row (its expression is always true). It does not apply to ${audit.app}; any role granted ${policy.roles.join(', ')} gets every tenant's rows.`,
      `Keep it only if ${policy.roles.join(', ')} is meant to reach every tenant and ${audit.app} is not a member of it; otherwise DROP POLICY ${quoteIdent(policy.name)} ON ${relation.qualified};`,
    );
  }

  if (!relation.rlsEnabled) return;
  const blamed = new Map<CatalogPolicy, { code: AuditRuleCode; kinds: Set<string>; scenarios: Set<string> }[]>();
  const blame = (policy: CatalogPolicy, code: AuditRuleCode, kind: string, scenario?: string) => {
    const entries = blamed.get(policy) ?? [];
    let entry = entries.find((e) => e.code === code);
    if (!entry) {
      entry = { code, kinds: new Set(), scenarios: new Set() };
      entries.push(entry);
    }
    entry.kinds.add(kind);
    if (scenario) entry.scenarios.add(scenario);
    blamed.set(policy, entries);
  };

  for (const check of CHECK_KINDS) {
    if (!relation.app.schemaUsage || !relation.app[check.privilege]) continue;
    const relevant = policies.filter((policy) => policy.appliesToApp && check.commands.includes(policy.command));
    const permissive = relevant.filter((policy) => policy.permissive);
    const restrictive = relevant.filter((policy) => !policy.permissive);
    if (permissive.length === 0) continue;
    const expr = (policy: CatalogPolicy) => (check.useCheck ? parsed.get(policy)!.check : parsed.get(policy)!.using);
    const passes = (policy: CatalogPolicy, scenario: Scenario) => {
      const tree = expr(policy);
      // A policy without the expression adds nothing: no rows for a permissive one, no limit for a restrictive one.
      if (tree === undefined) return !policy.permissive;
      return isTrue(evaluate(tree, scenario, columns));
    };
    const hole = (scenario: Scenario) => permissive.some((p) => passes(p, scenario)) && restrictive.every((r) => passes(r, scenario));
    if (hole('set')) {
      for (const policy of permissive) if (passes(policy, 'set')) blame(policy, check.useCheck ? 'TK_WITH_CHECK_ALWAYS_TRUE' : 'TK_POLICY_ALWAYS_TRUE', check.label);
      continue;
    }
    const failsOpen = (['unset', 'empty'] as const).filter(hole);
    for (const scenario of failsOpen) {
      for (const policy of relevant) {
        if (passes(policy, scenario) && !passes(policy, 'set')) blame(policy, 'TK_POLICY_FAILS_OPEN', check.label, scenario);
      }
    }
    // A switch (SET app.bypass_rls = 'on', a magic tenant value): only where no context at all already opens it.
    if (failsOpen.length > 0 || !hole('chosen')) continue;
    for (const policy of relevant) {
      if (passes(policy, 'chosen') && !passes(policy, 'set')) blame(policy, 'TK_POLICY_SETTING_SWITCH', check.label);
    }
  }

  const rename = audit.policyExpression(scoped);
  for (const [policy, entries] of blamed) {
    const object = `${relation.id}.${policy.name}`;
    const to = `TO ${policy.roles.join(', ')}`;
    const alter = `ALTER POLICY ${quoteIdent(policy.name)} ON ${relation.qualified}`;
    for (const entry of entries) {
      const kinds = [...entry.kinds];
      if (entry.code === 'TK_POLICY_ALWAYS_TRUE') {
        audit.add(
          entry.code,
          'error',
          object,
          `Policy ${policy.name} on ${relation.id} (FOR ${policy.command} ${to}, permissive) has USING ${policy.using}, which is always true, and applies to ${audit.app}: any tenant can ${list(verbs(kinds))} every tenant's rows.${kinds.some((k) => k !== 'read') ? ' An UPDATE or DELETE that reads no column (UPDATE t SET c = constant, DELETE FROM t) reaches every row whatever the SELECT policies say.' : ''}`,
          `${alterExpressions(alter, policy.command, fixExpression(policy.using, rename), fixExpression(policy.withCheck ?? policy.using, rename))}`,
        );
      } else if (entry.code === 'TK_WITH_CHECK_ALWAYS_TRUE') {
        const source = policy.withCheck === null ? `USING ${policy.using} (no WITH CHECK, so USING is the check)` : `WITH CHECK ${policy.withCheck}`;
        audit.add(
          entry.code,
          'error',
          object,
          `Policy ${policy.name} on ${relation.id} (FOR ${policy.command} ${to}, permissive) has ${source}, which is always true, and applies to ${audit.app}: a tenant can ${list([...(kinds.includes('insert') ? ['insert rows carrying another tenant\'s id'] : []), ...(kinds.includes('update into') ? ['update its rows to carry another tenant\'s id'] : [])])}, writing into or moving rows to another tenant.`,
          `${alter} WITH CHECK (${fixExpression(policy.withCheck ?? policy.using, rename)});`,
        );
      } else if (entry.code === 'TK_POLICY_SETTING_SWITCH') {
        const usingKinds = kinds.some((k) => USING_LABELS.has(k));
        const checkKinds = kinds.some((k) => !USING_LABELS.has(k)) && policy.withCheck !== null;
        const clauses = [...(usingKinds || !checkKinds ? [`USING ${policy.using}`] : []), ...(checkKinds ? [`WITH CHECK ${policy.withCheck}`] : [])];
        const trees = parsed.get(policy)!;
        const read = [...new Set([...(usingKinds || !checkKinds ? [trees.using] : []), ...(checkKinds ? [trees.check] : [])].flatMap((tree) => (tree ? settingsReadBy(tree) : [])))];
        const others = read.filter((name) => name.toLowerCase() !== audit.setting.toLowerCase());
        const switches = others.length > 0 ? others : read;
        const named = list(switches.map((name) => `'${name}'`));
        audit.add(
          entry.code,
          'warning',
          object,
          `Policy ${policy.name} on ${relation.id} (FOR ${policy.command} ${to}, ${policy.permissive ? 'permissive' : 'restrictive'}) passes every row for a value of ${named} that a session can choose: ${clauses.join(', ')}. Any role may SET a custom setting (or call set_config), so a session as ${audit.app} that sets ${switches.length > 1 ? 'them' : 'it'} can ${list(verbs(kinds))} every tenant's rows, whatever tenant it acts for. Isolation then rests on no code path, job or injected statement under ${audit.app} ever setting ${switches.length > 1 ? 'them' : 'it'}.`,
          `Drop the condition on ${named} from policy ${quoteIdent(policy.name)} on ${relation.qualified} (ALTER POLICY), or DROP POLICY ${quoteIdent(policy.name)} ON ${relation.qualified}; when nothing else needs it. Work that must see every tenant belongs to a role of its own that ${audit.app} is not a member of, with a policy of its own: CREATE POLICY ... TO that_role USING (true).`,
        );
      } else {
        const scenarios = [...entry.scenarios].sort(byText).map((s) => (s === 'unset' ? 'never set (NULL)' : "empty ('', after RESET or once a SET LOCAL has ended)"));
        const usingKinds = kinds.some((k) => USING_LABELS.has(k));
        const checkKinds = kinds.some((k) => !USING_LABELS.has(k));
        const clauses = [
          ...(usingKinds || (checkKinds && policy.withCheck === null) ? [`USING ${policy.using}`] : []),
          ...(checkKinds && policy.withCheck !== null ? [`WITH CHECK ${policy.withCheck}`] : []),
        ];
        audit.add(
          entry.code,
          'error',
          object,
          `Policy ${policy.name} on ${relation.id} (FOR ${policy.command} ${to}, ${policy.permissive ? 'permissive' : 'restrictive'}) passes every row when the tenant setting is ${scenarios.join(' or ')}: ${clauses.join(', ')}. A connection without tenant context (a fresh or pooled session, a job, a forgotten SET LOCAL) can ${list(verbs(kinds))} every tenant's rows: current_setting(..., true) returns NULL before any SET and '' after one has ended.`,
          `${alterExpressions(alter, policy.command, fixExpression(policy.using, rename), fixExpression(policy.withCheck ?? policy.using, rename))} -- the conditions that do not read the tenant kept; a missing or empty setting then gives NULL, which matches no row: fails closed`,
        );
      }
    }
  }
}
