import type { ColumnModel, ForeignKeyModel, SchemaModel, TableModel, Tenancy } from '@tenantkit/fixtures';
import { type Queryable, quoteIdent, quoteLiteral } from '@tenantkit/testkit';
import type { Finding, Severity } from '../types.js';
import { fixExpression } from './fix-expression.js';
import { type Catalog, type CatalogPolicy, type CatalogRelation, type PolicyCommand, byText, readCatalog, relationsNamedIn } from './catalog.js';

export interface AuditOptions {
  /** The role the application connects as. */
  readonly appRole: string;
  readonly tenancy: Tenancy;
  readonly model: SchemaModel;
  /**
   * The setting policies read the tenant from; used in hints. Default: the setting the existing
   * policies read most often, else app.tenant_id.
   */
  readonly tenantSetting?: string;
}

/** Every code the audit can report, with its severity (those marked 'error | warning' have two). */
export const AUDIT_RULES = {
  TK_APP_ROLE_BYPASSES_RLS: 'error',
  TK_RLS_DISABLED: 'error',
  TK_RLS_NOT_FORCED: 'error | warning',
  TK_NO_POLICY_FOR_APP: 'warning',
  TK_POLICY_ALWAYS_TRUE: 'error',
  TK_WITH_CHECK_ALWAYS_TRUE: 'error',
  TK_POLICY_FAILS_OPEN: 'error',
  TK_VIEW_BYPASSES_RLS: 'error | warning',
  TK_MATVIEW_EXPOSES_TENANT_DATA: 'error',
  TK_SECURITY_DEFINER_READS_TENANT_TABLE: 'warning',
  TK_SECURITY_DEFINER_SEARCH_PATH: 'error | warning',
  TK_SECURITY_DEFINER_PUBLIC_EXECUTE: 'error | warning',
  TK_CONTEXT_SETTER_IGNORES_ARGUMENT: 'error',
  TK_TRUNCATE_GRANTED: 'error',
  TK_EXCESS_TABLE_PRIVILEGES: 'warning',
  TK_PARTITION_WITHOUT_RLS: 'error',
  TK_NULLABLE_TENANT_COLUMN: 'warning',
  TK_CROSS_TENANT_FK: 'warning',
  TK_UNIQUE_WITHOUT_TENANT: 'info',
  TK_BYPASS_POLICY_FOR_OTHER_ROLE: 'info',
} as const satisfies Record<string, string>;

export type AuditCode = keyof typeof AUDIT_RULES;

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** A tenant-scoped relation: a table of the model that is not global, or a partition/child of one. */
interface Scoped {
  readonly relation: CatalogRelation;
  readonly kind: 'tenant-root' | 'tenant' | 'indirect';
  /** The table whose tenancy it shares (itself for model tables, the top parent for children). */
  readonly table: TableModel;
  /** A partition or inheritance child of a tenant-scoped table. */
  readonly child: boolean;
  /** Children: the table it is a partition or child of. */
  readonly parentId?: string;
  readonly tenantColumn: string | undefined;
  readonly anchor: ForeignKeyModel | undefined;
}

/**
 * Reads the catalog and reports the weaknesses a tenant could use to reach another tenant's rows
 * (errors), weaknesses that need more than that (warnings), and existence oracles (info). Global
 * tables produce no findings. Sorted by severity, code, then object.
 */
export async function auditCatalog(db: Queryable, options: AuditOptions): Promise<Finding[]> {
  const catalog = await readCatalog(db, options.appRole);
  return auditRules(catalog, options);
}

/** The rules over an already-read catalog (pure: no database access). */
export function auditRules(catalog: Catalog, options: AuditOptions): Finding[] {
  const audit = new Audit(catalog, options);
  audit.run();
  return sortFindings(audit.findings);
}

export function sortFindings(findings: readonly Finding[]): Finding[] {
  const seen = new Set<string>();
  return [...findings]
    .sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || byText(a.code, b.code) || byText(a.object, b.object) || byText(a.message, b.message))
    .filter((finding) => {
      const key = `${finding.code}\0${finding.object}\0${finding.severity}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

class Audit {
  readonly findings: Finding[] = [];
  readonly #catalog: Catalog;
  readonly #options: AuditOptions;
  readonly #app: string;
  readonly #setting: string;
  readonly #scoped = new Map<string, Scoped>();
  readonly #tables = new Map<string, TableModel>();

  constructor(catalog: Catalog, options: AuditOptions) {
    this.#catalog = catalog;
    this.#options = options;
    this.#app = options.appRole;
    this.#setting = options.tenantSetting ?? settingInUse(catalog.policies) ?? 'app.tenant_id';
    for (const table of options.model.tables) this.#tables.set(table.id, table);
    for (const table of options.model.tables) {
      const info = options.tenancy.tables.get(table.id);
      const relation = catalog.relations.get(table.id);
      if (!info || info.kind === 'global' || !relation) continue;
      this.#scoped.set(table.id, {
        relation,
        kind: info.kind,
        table,
        child: false,
        tenantColumn: info.tenantColumn,
        anchor: info.anchor,
      });
    }
    // Partitions and inheritance children, at any depth, share their parent's tenancy.
    let grew = true;
    while (grew) {
      grew = false;
      for (const relation of catalog.relations.values()) {
        if (relation.parents.length === 0) continue;
        const parentId = relation.parents.find((id) => this.#scoped.has(id));
        const parent = parentId === undefined ? undefined : this.#scoped.get(parentId);
        const existing = this.#scoped.get(relation.id);
        if (!parent || existing?.child) continue;
        this.#scoped.set(relation.id, {
          relation,
          kind: parent.kind,
          table: parent.table,
          child: true,
          parentId,
          tenantColumn: parent.tenantColumn,
          anchor: parent.anchor,
        });
        grew = true;
      }
    }
  }

  #add(code: AuditCode, severity: Severity, object: string, message: string, hint: string): void {
    this.findings.push({ code, severity, object, message, hint });
  }

  run(): void {
    this.#appRole();
    for (const scoped of [...this.#scoped.values()].sort((a, b) => byText(a.relation.id, b.relation.id))) {
      this.#rlsFlags(scoped);
      this.#policies(scoped);
      this.#truncate(scoped);
      if (!scoped.child) {
        this.#nullableTenantColumn(scoped);
        this.#foreignKeys(scoped);
        this.#uniques(scoped);
      }
    }
    this.#views();
    this.#functions();
  }

  // -------------------------------------------------------------------------------------------
  // Who the app role is
  // -------------------------------------------------------------------------------------------

  #appRole(): void {
    const role = this.#catalog.roles.get(this.#app);
    if (!role) return;
    const q = quoteIdent(this.#app);
    if (role.superuser || role.bypassRls) {
      this.#add(
        'TK_APP_ROLE_BYPASSES_RLS',
        'error',
        this.#app,
        `The app role ${this.#app} is ${role.superuser ? 'a superuser' : 'BYPASSRLS'}: row level security is ignored for every query it runs, even on tables with FORCE ROW LEVEL SECURITY, so every tenant's rows are readable and writable.`,
        `ALTER ROLE ${q} NOSUPERUSER NOBYPASSRLS;`,
      );
      return;
    }
    const bypassing = role.memberOf.filter((name) => {
      const other = this.#catalog.roles.get(name);
      return name !== this.#app && other !== undefined && (other.superuser || other.bypassRls);
    });
    if (bypassing.length > 0) {
      this.#add(
        'TK_APP_ROLE_BYPASSES_RLS',
        'error',
        this.#app,
        `The app role ${this.#app} is a member of ${list(bypassing)}, which ${bypassing.length > 1 ? 'bypass' : 'bypasses'} row level security: after SET ROLE it reads and writes every tenant's rows.`,
        bypassing.map((name) => `REVOKE ${quoteIdent(name)} FROM ${q};`).join(' '),
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // RLS flags: disabled, not forced, no policy, partitions
  // -------------------------------------------------------------------------------------------

  #rlsFlags(scoped: Scoped): void {
    const { relation } = scoped;
    const access = accessList(relation, scoped.kind === 'tenant-root' && !scoped.child ? ['SELECT', 'UPDATE', 'DELETE'] : ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
    const what = describeScope(scoped);
    if (!relation.rlsEnabled) {
      if (access.length === 0) return;
      if (scoped.child) {
        this.#add(
          'TK_PARTITION_WITHOUT_RLS',
          'error',
          relation.id,
          `${relation.id} is ${relation.isPartition ? 'a partition' : 'an inheritance child'} of ${scoped.parentId} (${what}) with row level security disabled, and ${this.#app} has ${list(access)} on it directly. Partitions and children do not inherit the parent's RLS flags or policies: queried by name, it returns and accepts every tenant's rows.`,
          `ALTER TABLE ${relation.qualified} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${relation.qualified} FORCE ROW LEVEL SECURITY; -- with no policy of its own, direct access is denied and the parent's policies still apply through ${this.#catalog.relations.get(scoped.parentId!)?.qualified ?? scoped.table.qualified}; or: REVOKE ALL ON ${relation.qualified} FROM ${quoteIdent(this.#app)};`,
        );
        return;
      }
      this.#add(
        'TK_RLS_DISABLED',
        'error',
        relation.id,
        `${relation.id} (${what}) has row level security disabled, and ${this.#app} has ${list(access)} on it: every tenant's rows are ${access.includes('SELECT') ? 'readable' : 'writable'} by any tenant.`,
        `ALTER TABLE ${relation.qualified} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${relation.qualified} FORCE ROW LEVEL SECURITY; ${this.#policySql(scoped)}`,
      );
      return;
    }
    if (!relation.rlsForced) {
      if (relation.appIsOwner && !relation.ownerSuperuser && !relation.ownerBypassRls) {
        this.#add(
          'TK_RLS_NOT_FORCED',
          'error',
          relation.id,
          `${relation.id} (${what}) has row level security enabled but not forced, and ${this.#app} ${relation.owner === this.#app ? 'owns it' : `is a member of its owner ${relation.owner}`}: a table's owner ignores RLS unless FORCE ROW LEVEL SECURITY is set, so the app reads and writes every tenant's rows.`,
          `ALTER TABLE ${relation.qualified} FORCE ROW LEVEL SECURITY; -- better: the app role should own nothing: ALTER TABLE ${relation.qualified} OWNER TO <migration role>;${relation.owner === this.#app ? '' : ` REVOKE ${quoteIdent(relation.owner)} FROM ${quoteIdent(this.#app)};`}`,
        );
      } else if (!scoped.child) {
        this.#add(
          'TK_RLS_NOT_FORCED',
          'warning',
          relation.id,
          relation.ownerSuperuser || relation.ownerBypassRls
            ? `${relation.id} (${what}) has row level security enabled but not forced. Here its owner ${relation.owner} bypasses RLS anyway, but where the migrations run as an ordinary role (as in most deployments), that owner ignores the policies: anything running as it or a member of it (migrations, backfills, jobs) reads and writes every tenant's rows.`
            : `${relation.id} (${what}) has row level security enabled but not forced; its owner ${relation.owner} (not a superuser) ignores the policies. Anything running as ${relation.owner} or a member of it (migrations, backfills, jobs) reads and writes every tenant's rows, and a test run as that role proves nothing.`,
          `ALTER TABLE ${relation.qualified} FORCE ROW LEVEL SECURITY;`,
        );
      }
    }
    if (scoped.child) return;
    const applicable = this.#policiesOf(relation.id).filter((policy) => policy.appliesToApp && policy.permissive);
    const any = accessList(relation, ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
    if (applicable.length === 0 && any.length > 0 && !(relation.appIsOwner && !relation.rlsForced)) {
      const others = this.#policiesOf(relation.id);
      this.#add(
        'TK_NO_POLICY_FOR_APP',
        'warning',
        relation.id,
        `${relation.id} (${what}) has row level security enabled but no permissive policy applies to ${this.#app}${others.length > 0 ? ` (its policies: ${others.map((p) => `${p.name} ${p.permissive ? 'permissive' : 'restrictive'} TO ${p.roles.join(', ')}`).join('; ')})` : ''}: every row is hidden from the app, its own tenant's included (deny-all). Restrictive policies only narrow permissive ones.`,
        this.#policySql(scoped),
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Policy expressions
  // -------------------------------------------------------------------------------------------

  #policies(scoped: Scoped): void {
    const { relation } = scoped;
    const policies = this.#policiesOf(relation.id);
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
      this.#add(
        'TK_BYPASS_POLICY_FOR_OTHER_ROLE',
        'info',
        `${relation.id}.${policy.name}`,
        `Policy ${policy.name} on ${relation.id} lets ${policy.roles.join(', ')} see${policy.command === 'SELECT' ? '' : ' and change'} every row (its expression is always true). It does not apply to ${this.#app}; any role granted ${policy.roles.join(', ')} gets every tenant's rows.`,
        `Keep it only if ${policy.roles.join(', ')} is meant to reach every tenant and ${this.#app} is not a member of it; otherwise DROP POLICY ${quoteIdent(policy.name)} ON ${relation.qualified};`,
      );
    }

    if (!relation.rlsEnabled) return;
    const blamed = new Map<CatalogPolicy, { code: AuditCode; kinds: Set<string>; scenarios: Set<string> }[]>();
    const blame = (policy: CatalogPolicy, code: AuditCode, kind: string, scenario?: string) => {
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
      for (const scenario of ['unset', 'empty'] as const) {
        if (!hole(scenario)) continue;
        for (const policy of relevant) {
          if (passes(policy, scenario) && !passes(policy, 'set')) blame(policy, 'TK_POLICY_FAILS_OPEN', check.label, scenario);
        }
      }
    }

    const rename = this.#policyExpression(scoped);
    for (const [policy, entries] of blamed) {
      const object = `${relation.id}.${policy.name}`;
      const to = `TO ${policy.roles.join(', ')}`;
      const alter = `ALTER POLICY ${quoteIdent(policy.name)} ON ${relation.qualified}`;
      for (const entry of entries) {
        const kinds = [...entry.kinds];
        if (entry.code === 'TK_POLICY_ALWAYS_TRUE') {
          this.#add(
            entry.code,
            'error',
            object,
            `Policy ${policy.name} on ${relation.id} (FOR ${policy.command} ${to}, permissive) has USING ${policy.using}, which is always true, and applies to ${this.#app}: any tenant can ${list(verbs(kinds))} every tenant's rows.${kinds.some((k) => k !== 'read') ? ' An UPDATE or DELETE that reads no column (UPDATE t SET c = constant, DELETE FROM t) reaches every row whatever the SELECT policies say.' : ''}`,
            `${alterExpressions(alter, policy.command, fixExpression(policy.using, rename), fixExpression(policy.withCheck ?? policy.using, rename))}`,
          );
        } else if (entry.code === 'TK_WITH_CHECK_ALWAYS_TRUE') {
          const source = policy.withCheck === null ? `USING ${policy.using} (no WITH CHECK, so USING is the check)` : `WITH CHECK ${policy.withCheck}`;
          this.#add(
            entry.code,
            'error',
            object,
            `Policy ${policy.name} on ${relation.id} (FOR ${policy.command} ${to}, permissive) has ${source}, which is always true, and applies to ${this.#app}: a tenant can ${list([...(kinds.includes('insert') ? ['insert rows carrying another tenant\'s id'] : []), ...(kinds.includes('update into') ? ['update its rows to carry another tenant\'s id'] : [])])}, writing into or moving rows to another tenant.`,
            `${alter} WITH CHECK (${fixExpression(policy.withCheck ?? policy.using, rename)});`,
          );
        } else {
          const scenarios = [...entry.scenarios].sort(byText).map((s) => (s === 'unset' ? 'never set (NULL)' : "empty ('', after RESET or once a SET LOCAL has ended)"));
          const usingKinds = kinds.some((k) => USING_LABELS.has(k));
          const checkKinds = kinds.some((k) => !USING_LABELS.has(k));
          const clauses = [
            ...(usingKinds || (checkKinds && policy.withCheck === null) ? [`USING ${policy.using}`] : []),
            ...(checkKinds && policy.withCheck !== null ? [`WITH CHECK ${policy.withCheck}`] : []),
          ];
          this.#add(
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

  #policiesOf(id: string): CatalogPolicy[] {
    return this.#catalog.policies.filter((policy) => policy.table === id);
  }

  // -------------------------------------------------------------------------------------------
  // TRUNCATE
  // -------------------------------------------------------------------------------------------

  #truncate(scoped: Scoped): void {
    const { relation } = scoped;
    const extra = [...(relation.app.trigger ? ['TRIGGER'] : []), ...(relation.app.references ? ['REFERENCES'] : [])];
    if (relation.app.schemaUsage && extra.length > 0 && !relation.appIsOwner) {
      this.#add(
        'TK_EXCESS_TABLE_PRIVILEGES',
        'warning',
        relation.id,
        `${this.#app} has ${list(extra)} on ${relation.id} (${describeScope(scoped)}), as GRANT ALL gives: ${relation.app.trigger ? 'TRIGGER lets it attach a trigger that runs inside every other tenant\'s writes' : ''}${relation.app.trigger && relation.app.references ? '; ' : ''}${relation.app.references ? 'REFERENCES lets it create foreign keys whose errors reveal which keys other tenants hold' : ''}. An application needs neither.`,
        `REVOKE ${extra.join(', ')} ON ${relation.qualified} FROM ${quoteIdent(this.#app)}; -- grant SELECT, INSERT, UPDATE, DELETE instead of ALL`,
      );
    }
    if (!relation.app.schemaUsage || !relation.app.truncate) return;
    this.#add(
      'TK_TRUNCATE_GRANTED',
      'error',
      relation.id,
      `${this.#app} has TRUNCATE on ${relation.id} (${describeScope(scoped)})${relation.appIsOwner ? ', as its owner or a member of the owner' : ''}. TRUNCATE ignores row level security: one tenant can erase every tenant's rows.`,
      relation.appIsOwner
        ? `ALTER TABLE ${relation.qualified} OWNER TO <migration role>;`
        : `REVOKE TRUNCATE ON ${relation.qualified} FROM ${quoteIdent(this.#app)}; -- and from PUBLIC or any role ${this.#app} is a member of, if granted there`,
    );
  }

  // -------------------------------------------------------------------------------------------
  // Columns and constraints
  // -------------------------------------------------------------------------------------------

  #nullableTenantColumn(scoped: Scoped): void {
    if (scoped.kind !== 'tenant' || !scoped.tenantColumn) return;
    const column = scoped.table.columns.find((c) => c.name === scoped.tenantColumn);
    if (!column || column.notNull) return;
    this.#add(
      'TK_NULLABLE_TENANT_COLUMN',
      'warning',
      `${scoped.relation.id}.${column.name}`,
      `${scoped.relation.id}.${column.name} is nullable. A row with a NULL tenant belongs to no tenant: equality policies hide it from everyone, "IS NULL OR" policies show it to everyone, and foreign keys through it are not checked (MATCH SIMPLE).`,
      `UPDATE ${scoped.relation.qualified} SET ${quoteIdent(column.name)} = <owner tenant> WHERE ${quoteIdent(column.name)} IS NULL; ALTER TABLE ${scoped.relation.qualified} ALTER COLUMN ${quoteIdent(column.name)} SET NOT NULL;`,
    );
  }

  #foreignKeys(scoped: Scoped): void {
    if (scoped.kind !== 'tenant' && scoped.kind !== 'indirect') return;
    const { table } = scoped;
    const root = this.#options.tenancy.root;
    for (const fk of table.foreignKeys) {
      const targetId = `${fk.references.schema}.${fk.references.table}`;
      if (root && targetId === root.id) continue;
      const target = this.#scoped.get(targetId);
      if (!target || target.child || target.kind === 'tenant-root') continue;
      // An indirect table's anchor is where its tenant comes from: it cannot point elsewhere.
      if (scoped.kind === 'indirect' && scoped.anchor && sameForeignKey(scoped.anchor, fk)) continue;
      const own = scoped.kind === 'tenant' ? scoped.tenantColumn : undefined;
      const theirs = target.kind === 'tenant' ? target.tenantColumn : undefined;
      if (own && theirs) {
        const index = fk.columns.indexOf(own);
        if (index >= 0 && fk.references.columns[index] === theirs) continue;
      }
      const object = `${table.id}.${fk.name}`;
      const cols = fk.columns.map(quoteIdent).join(', ');
      const refs = fk.references.columns.map(quoteIdent).join(', ');
      const fix =
        own && theirs
          ? `ALTER TABLE ${target.relation.qualified} ADD UNIQUE (${quoteIdent(theirs)}, ${refs}); ALTER TABLE ${table.qualified} DROP CONSTRAINT ${quoteIdent(fk.name)}, ADD FOREIGN KEY (${quoteIdent(own)}, ${cols}) REFERENCES ${target.relation.qualified} (${quoteIdent(theirs)}, ${refs});`
          : `Give ${own ? target.relation.id : table.id} the tenant column (${this.#options.tenancy.tenantColumn ?? 'tenant_id'}), then make the key composite: FOREIGN KEY (${this.#options.tenancy.tenantColumn ?? 'tenant_id'}, ${fk.columns.join(', ')}) REFERENCES ${target.relation.id} (${this.#options.tenancy.tenantColumn ?? 'tenant_id'}, ${fk.references.columns.join(', ')}).`;
      this.#add(
        'TK_CROSS_TENANT_FK',
        'warning',
        object,
        `Foreign key ${fk.name} (${fk.columns.join(', ')}) on ${table.id} references ${target.relation.id} (${fk.references.columns.join(', ')}) without the tenant column. Foreign-key checks run without row level security: a row of tenant A can point at a row of tenant B, and the error on a made-up id reveals which ids exist in other tenants.`,
        fix,
      );
    }
  }

  #uniques(scoped: Scoped): void {
    if (scoped.kind !== 'tenant' || !scoped.tenantColumn) return;
    const { table } = scoped;
    const tenant = scoped.tenantColumn;
    for (const unique of table.uniques) {
      if (unique.columns.includes(tenant) || unique.columns.length === 0) continue;
      if (unique.primaryKey && unique.columns.every((name) => isSurrogate(table.columns.find((c) => c.name === name)))) continue;
      this.#add(
        'TK_UNIQUE_WITHOUT_TENANT',
        'info',
        `${table.id}.${unique.name}`,
        `${unique.primaryKey ? 'Primary key' : 'Unique constraint'} ${unique.name} on ${table.id} (${unique.columns.join(', ')})${unique.partial ? ' (partial)' : ''} does not include ${tenant}: inserting a value another tenant already uses fails with a duplicate-key error, which tells a tenant the value exists elsewhere (an existence oracle). Usually acceptable for global identifiers such as e-mail addresses.`,
        `If the value only needs to be unique per tenant: ALTER TABLE ${table.qualified} ADD UNIQUE (${[tenant, ...unique.columns].map(quoteIdent).join(', ')}); then drop ${quoteIdent(unique.name)}.`,
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Views and materialized views
  // -------------------------------------------------------------------------------------------

  #views(): void {
    const relations = this.#catalog.relations;
    for (const view of [...relations.values()].sort((a, b) => byText(a.id, b.id))) {
      if (view.kind !== 'view' && view.kind !== 'materialized view') continue;
      const access = accessList(view, ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
      if (access.length === 0) continue;
      if (view.kind === 'materialized view') {
        const tables = this.#scopedBehind(view.id, new Set());
        if (tables.length === 0) continue;
        this.#add(
          'TK_MATVIEW_EXPOSES_TENANT_DATA',
          'error',
          view.id,
          `Materialized view ${view.id} holds rows of ${list(tables)} and ${this.#app} has SELECT on it. Materialized views have no row level security: every tenant's rows it holds are readable by any tenant (it is empty until refreshed, so probing it proves nothing).`,
          `REVOKE ALL ON ${view.qualified} FROM ${quoteIdent(this.#app)}; -- and from PUBLIC; serve tenants through a view WITH (security_invoker = true) over the tables, or a per-tenant filter in a SECURITY INVOKER function`,
        );
        continue;
      }
      const exposures: string[] = [];
      const subject: string[] = [];
      this.#walkView(view, view.securityInvoker ? null : view.owner, new Set(), exposures, subject, []);
      if (exposures.length > 0) {
        this.#add(
          'TK_VIEW_BYPASSES_RLS',
          'error',
          view.id,
          `View ${view.id} is readable by ${this.#app} (${list(access)}) and reads ${exposures.join('; ')}. A view without security_invoker = true runs with its owner's rights: it exposes every tenant's rows to any tenant.`,
          `ALTER VIEW ${view.qualified} SET (security_invoker = true); -- PostgreSQL 15+: the app's own policies then apply; or REVOKE ALL ON ${view.qualified} FROM ${quoteIdent(this.#app)};`,
        );
      } else if (subject.length > 0) {
        this.#add(
          'TK_VIEW_BYPASSES_RLS',
          'warning',
          view.id,
          `View ${view.id} is readable by ${this.#app} and reads ${subject.join('; ')} with its owner's rights, not the app's: the policies that apply are those for the owner, not for ${this.#app}. Isolation through it depends on those policies.`,
          `ALTER VIEW ${view.qualified} SET (security_invoker = true);`,
        );
      }
    }
  }

  /**
   * Follows what a view reads. `reader` is the role whose rights apply (null: the app itself, through
   * security_invoker views). Exposures are tenant tables read by a role that bypasses their RLS.
   */
  #walkView(view: CatalogRelation, reader: string | null, visited: Set<string>, exposures: string[], subject: string[], via: readonly string[]): void {
    if (visited.has(view.id)) return;
    visited.add(view.id);
    const through = via.length > 0 ? ` through ${via.join(' -> ')}` : '';
    for (const dep of view.dependsOn) {
      const target = this.#catalog.relations.get(dep);
      if (!target) continue;
      if (target.kind === 'view') {
        this.#walkView(target, target.securityInvoker ? reader : target.owner, visited, exposures, subject, [...via, target.id]);
        continue;
      }
      if (target.kind === 'materialized view') {
        const tables = this.#scopedBehind(target.id, new Set());
        if (tables.length > 0) exposures.push(`materialized view ${target.id}${through} (no row level security) over ${list(tables)}`);
        continue;
      }
      const scoped = this.#scoped.get(target.id);
      if (!scoped || reader === null) continue;
      const why = this.#bypasses(reader, target);
      // A view owned by the app itself reads with the app's own rights and policies.
      if (!why && reader === this.#app) continue;
      if (why) exposures.push(`${target.id}${through} as ${reader}, who ${why}`);
      else subject.push(`${target.id}${through} as ${reader}`);
    }
  }

  /** Why `role` ignores RLS on `table`, or undefined when it is subject to it. */
  #bypasses(role: string, table: CatalogRelation): string | undefined {
    if (!table.rlsEnabled) return 'is not restricted there (row level security is disabled on it)';
    const info = this.#catalog.roles.get(role);
    if (info?.superuser) return 'is a superuser';
    if (info?.bypassRls) return 'has BYPASSRLS';
    if (!table.rlsForced && (role === table.owner || info?.inherits.includes(table.owner))) {
      return `${role === table.owner ? 'owns it' : `inherits its owner ${table.owner}`} without FORCE ROW LEVEL SECURITY`;
    }
    return undefined;
  }

  /** Tenant-scoped tables a view or materialized view reads, through other views too. */
  #scopedBehind(id: string, visited: Set<string>): string[] {
    if (visited.has(id)) return [];
    visited.add(id);
    const relation = this.#catalog.relations.get(id);
    if (!relation) return [];
    const found = new Set<string>();
    for (const dep of relation.dependsOn) {
      if (this.#scoped.has(dep)) found.add(dep);
      const target = this.#catalog.relations.get(dep);
      if (target && (target.kind === 'view' || target.kind === 'materialized view')) {
        for (const inner of this.#scopedBehind(dep, visited)) found.add(inner);
      }
    }
    return [...found].sort(byText);
  }

  // -------------------------------------------------------------------------------------------
  // SECURITY DEFINER functions
  // -------------------------------------------------------------------------------------------

  /**
   * Every SECURITY DEFINER function the app role (or PUBLIC) can run: a search_path it does not pin
   * lets the caller shadow what it reads (a temp table or function of the same name); one that sets
   * the tenant context and never reads one of its parameters sets it without checking it.
   */
  #definerHygiene(): void {
    for (const fn of this.#catalog.functions) {
      if (!fn.securityDefiner || fn.owner === this.#app || (!fn.appCanExecute && !fn.publicExecute)) continue;
      const source = fn.source.replace(/--[^\n]*/g, ' ');
      const setsContext = /\bset_config\s*\(/i.test(source) || /\bset\s+(?:local\s+)?"?[a-z_]+\.[a-z_]+"?\s*(?:=|to\b)/i.test(source);
      const readsContext = /\bcurrent_setting\s*\(/i.test(source);
      if (!fn.searchPathPinned) {
        const context = setsContext || readsContext;
        this.#add(
          'TK_SECURITY_DEFINER_SEARCH_PATH',
          context ? 'error' : 'warning',
          fn.id,
          `SECURITY DEFINER function ${fn.id} runs as ${fn.owner} without a pinned search_path${context ? `, and it ${setsContext ? 'sets' : 'reads'} the tenant context` : ''}: a caller can put a temporary table or a function of the same name first on the path (pg_temp comes first unless it is named last), and the function then ${context ? 'trusts a tenant the caller chose' : 'acts on what the caller made'} with ${fn.owner}'s rights.`,
          `ALTER FUNCTION ${fn.qualified} SET search_path = pg_catalog, ${quoteIdent(fn.schema)}, pg_temp;`,
        );
      }
      if (fn.publicExecute) {
        this.#add(
          'TK_SECURITY_DEFINER_PUBLIC_EXECUTE',
          setsContext ? 'error' : 'warning',
          fn.id,
          `SECURITY DEFINER function ${fn.id} is executable by PUBLIC (the default for a new function): every role on the server, not only ${this.#app}, runs it with ${fn.owner}'s rights${setsContext ? ', and it sets the tenant context' : ''}.`,
          `REVOKE EXECUTE ON FUNCTION ${fn.qualified} FROM PUBLIC; GRANT EXECUTE ON FUNCTION ${fn.qualified} TO ${quoteIdent(this.#app)};`,
        );
      }
      if (setsContext) {
        const unread = fn.argNames
          .map((name, index) => ({ name, index }))
          .filter(({ name, index }) => !new RegExp(`\\$${index + 1}(?![0-9])`).test(source) && (name === '' || !new RegExp(`\\b${name.replace(/[^A-Za-z0-9_]/g, '')}\\b`, 'i').test(source)));
        if (unread.length > 0) {
          this.#add(
            'TK_CONTEXT_SETTER_IGNORES_ARGUMENT',
            'error',
            fn.id,
            `SECURITY DEFINER function ${fn.id} sets the tenant context but never reads its parameter${unread.length === 1 ? '' : 's'} ${unread.map(({ name, index }) => name || `$${index + 1}`).join(', ')}: a signature or token passed to it is not checked, so any caller that can run it enters any tenant.`,
            `Check every parameter inside ${fn.qualified} before set_config (for a signature: compare it with the one computed from the tenant and a secret ${this.#app} cannot read), or drop the parameter.`,
          );
        }
      }
    }
  }

  #functions(): void {
    this.#definerHygiene();
    const candidates = [...this.#catalog.relations.values()].filter(
      (relation) => this.#scoped.has(relation.id) || ((relation.kind === 'view' || relation.kind === 'materialized view') && this.#scopedBehind(relation.id, new Set()).length > 0),
    );
    for (const fn of this.#catalog.functions) {
      // Owned by the app itself, SECURITY DEFINER grants nothing the app does not have.
      if (!fn.securityDefiner || !fn.appCanExecute || fn.owner === this.#app) continue;
      const named = new Set([...relationsNamedIn(fn.source, candidates), ...fn.dependsOn.filter((id) => candidates.some((c) => c.id === id))]);
      if (named.size === 0) continue;
      const bypass = fn.ownerSuperuser ? 'a superuser' : fn.ownerBypassRls ? 'BYPASSRLS' : undefined;
      const owned = [...named].filter((id) => this.#catalog.relations.get(id)?.owner === fn.owner && !this.#catalog.relations.get(id)?.rlsForced);
      const rights = bypass
        ? `its owner ${fn.owner} is ${bypass}, so it reads every tenant's rows`
        : owned.length > 0
          ? `its owner ${fn.owner} owns ${list(owned)} without FORCE ROW LEVEL SECURITY, so it reads every tenant's rows there`
          : `the policies for ${fn.owner} apply instead of those for ${this.#app}`;
      this.#add(
        'TK_SECURITY_DEFINER_READS_TENANT_TABLE',
        'warning',
        fn.id,
        `SECURITY DEFINER function ${fn.id} is executable by ${this.#app} and its body refers to ${list([...named].sort(byText))}: it runs with its owner's rights, and ${rights}. Unless it filters by the caller's tenant itself, it hands other tenants' rows to any tenant.`,
        `ALTER FUNCTION ${fn.qualified} SECURITY INVOKER; -- or keep it definer, filter on current_setting(${quoteLiteral(this.#setting)}, true) inside, SET search_path, and REVOKE EXECUTE ON FUNCTION ${fn.qualified} FROM PUBLIC;`,
      );
    }
  }

  // -------------------------------------------------------------------------------------------
  // Hint SQL
  // -------------------------------------------------------------------------------------------

  /** The tenant predicate for a table, e.g. `"tenant_id" = current_setting('app.tenant_id', true)::uuid`. */
  #policyExpression(scoped: Scoped): string {
    const setting = `current_setting(${quoteLiteral(this.#setting)}, true)`;
    const column = scoped.tenantColumn;
    if (column && scoped.kind !== 'indirect') {
      const model = scoped.table.columns.find((c) => c.name === column);
      return `${quoteIdent(column)} = ${castSetting(setting, model)}`;
    }
    const anchor = scoped.anchor;
    if (anchor) {
      const parent = this.#tables.get(`${anchor.references.schema}.${anchor.references.table}`);
      const parentRef = parent?.qualified ?? `${quoteIdent(anchor.references.schema)}.${quoteIdent(anchor.references.table)}`;
      const join = anchor.columns.map((c, i) => `p.${quoteIdent(anchor.references.columns[i]!)} = ${scoped.table.qualified}.${quoteIdent(c)}`).join(' AND ');
      return `EXISTS (SELECT 1 FROM ${parentRef} p WHERE ${join})`;
    }
    return `<tenant predicate on ${setting}>`;
  }

  #policySql(scoped: Scoped): string {
    const expression = this.#policyExpression(scoped);
    return `CREATE POLICY tenant_isolation ON ${scoped.relation.qualified} TO ${quoteIdent(this.#app)} USING (${expression}) WITH CHECK (${expression});`;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Privilege = 'select' | 'insert' | 'update' | 'delete';

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

/** The current_setting() name the policies use most (ties: first in code-point order). */
function settingInUse(policies: readonly CatalogPolicy[]): string | undefined {
  const counts = new Map<string, number>();
  for (const policy of policies) {
    for (const text of [policy.using, policy.withCheck]) {
      for (const match of (text ?? '').matchAll(/current_setting\('((?:[^']|'')+)'/g)) {
        const name = match[1]!.replaceAll("''", "'");
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
    }
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || byText(a[0], b[0]))[0]?.[0];
}

function accessList(relation: CatalogRelation, which: readonly ('SELECT' | 'INSERT' | 'UPDATE' | 'DELETE')[]): string[] {
  if (!relation.app.schemaUsage) return [];
  return which.filter((privilege) => relation.app[privilege.toLowerCase() as Privilege]);
}

function describeScope(scoped: Scoped): string {
  if (scoped.kind === 'tenant-root') return 'the tenants table';
  if (scoped.kind === 'tenant') return `tenant table, column ${scoped.tenantColumn}`;
  const anchor = scoped.anchor;
  return anchor ? `tenant-scoped through ${anchor.columns.join(', ')} -> ${anchor.references.schema}.${anchor.references.table}` : 'tenant-scoped through foreign keys';
}

function list(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function sameForeignKey(a: ForeignKeyModel, b: ForeignKeyModel): boolean {
  return a.name === b.name && a.columns.join('\0') === b.columns.join('\0');
}

function isSurrogate(column: ColumnModel | undefined): boolean {
  if (!column) return false;
  if (column.baseType === 'uuid' || column.identity !== null) return true;
  return column.category === 'N' && /^nextval\(/i.test(column.defaultExpr ?? '');
}

/** NULLIF: a setting that was set and ended ('') then matches nothing instead of failing the cast. */
function castSetting(setting: string, column: ColumnModel | undefined): string {
  const present = `NULLIF(${setting}, '')`;
  if (!column || column.category === 'S') return present;
  return `${present}::${column.type}`;
}

// ---------------------------------------------------------------------------------------------
// Policy expressions: a small parser for pg_get_expr() output and a three-valued evaluator
// ---------------------------------------------------------------------------------------------

/**
 * How the tenant context looks to the evaluator: `set` to some tenant (unknown which: only
 * expressions true whatever it is come out TRUE), `unset` (never set in this session:
 * current_setting(x, true) is NULL, current_setting(x) raises), `empty` (set once, then ended:
 * '').
 */
export type Scenario = 'set' | 'unset' | 'empty';

export type Expr =
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'null' }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'num'; readonly v: string }
  | { readonly t: 'col'; readonly name: string }
  | { readonly t: 'call'; readonly name: string; readonly args: readonly Expr[] }
  | { readonly t: 'cast'; readonly arg: Expr; readonly type: string }
  | { readonly t: 'cmp'; readonly op: string; readonly l: Expr; readonly r: Expr }
  /** Any other binary operator (arithmetic, ||, ->>, @>...): strict, NULL in gives NULL out. */
  | { readonly t: 'op'; readonly op: string; readonly l: Expr; readonly r: Expr }
  | { readonly t: 'and' | 'or'; readonly args: readonly Expr[] }
  | { readonly t: 'not'; readonly arg: Expr }
  | { readonly t: 'is'; readonly arg: Expr; readonly test: 'null' | 'true' | 'false'; readonly negated: boolean }
  | { readonly t: 'opaque' };

export type Value =
  | { readonly k: 'bool'; readonly v: boolean }
  | { readonly k: 'null' }
  | { readonly k: 'lit'; readonly v: string }
  | { readonly k: 'col'; readonly name: string }
  /** The tenant setting's value when set: not null, not empty, otherwise unknown. */
  | { readonly k: 'ctx' }
  | { readonly k: 'err' }
  | { readonly k: 'unknown' };

const TRUE: Value = { k: 'bool', v: true };

export function isTrue(value: Value): boolean {
  return value.k === 'bool' && value.v;
}
const FALSE: Value = { k: 'bool', v: false };
const NULL: Value = { k: 'null' };
const ERR: Value = { k: 'err' };
const UNKNOWN: Value = { k: 'unknown' };

/** Types whose input accepts ''; a cast of '' to anything else raises (fail closed). */
const TEXT_TYPES = new Set(['text', 'character varying', 'varchar', 'character', 'char', 'bpchar', 'name', 'citext', 'unknown', '"char"']);

/**
 * Evaluates a policy expression for a row whose columns are unknown but not null. TRUE means the
 * expression holds for every such row in that scenario.
 */
export function evaluate(expr: Expr, scenario: Scenario, columns?: ReadonlySet<string>): Value {
  const ev = (e: Expr) => evaluate(e, scenario, columns);
  switch (expr.t) {
    case 'bool':
      return expr.v ? TRUE : FALSE;
    case 'null':
      return NULL;
    case 'str':
    case 'num':
      return { k: 'lit', v: expr.v };
    case 'col':
      return columns && !columns.has(expr.name) ? UNKNOWN : { k: 'col', name: expr.name };
    case 'call':
      return evaluateCall(expr.name, expr.args, scenario, ev);
    case 'cast': {
      const value = ev(expr.arg);
      const type = expr.type.toLowerCase().replace(/\(.*\)$/, '').trim();
      if (value.k === 'lit') {
        if (type === 'boolean' || type === 'bool') {
          const text = value.v.trim().toLowerCase();
          if (['t', 'true', 'y', 'yes', 'on', '1'].includes(text)) return TRUE;
          if (['f', 'false', 'n', 'no', 'off', '0'].includes(text)) return FALSE;
          return ERR;
        }
        if (value.v === '' && !TEXT_TYPES.has(type) && !type.endsWith('[]')) return ERR;
        return value;
      }
      return value;
    }
    case 'cmp': {
      const l = ev(expr.l);
      const r = ev(expr.r);
      if (l.k === 'err' || r.k === 'err') return ERR;
      if (l.k === 'null' || r.k === 'null') return expr.op === 'IS DISTINCT FROM' || expr.op === 'IS NOT DISTINCT FROM' ? UNKNOWN : NULL;
      const equal = sameValue(l, r);
      if (equal === undefined) return UNKNOWN;
      if (expr.op === '=' || expr.op === 'IS NOT DISTINCT FROM') return equal ? TRUE : FALSE;
      if (expr.op === '<>' || expr.op === '!=' || expr.op === 'IS DISTINCT FROM') return equal ? FALSE : TRUE;
      return UNKNOWN;
    }
    case 'op': {
      const l = ev(expr.l);
      const r = ev(expr.r);
      if (l.k === 'err' || r.k === 'err') return ERR;
      if (l.k === 'null' || r.k === 'null') return NULL;
      return UNKNOWN;
    }
    case 'and': {
      const values = expr.args.map(ev);
      if (values.some((v) => v.k === 'bool' && !v.v)) return FALSE;
      if (values.some((v) => v.k === 'err')) return ERR;
      if (values.every((v) => v.k === 'bool' && v.v)) return TRUE;
      return values.some((v) => v.k === 'null') ? NULL : UNKNOWN;
    }
    case 'or': {
      const values = expr.args.map(ev);
      if (values.some((v) => v.k === 'bool' && v.v)) return TRUE;
      if (values.some((v) => v.k === 'err')) return ERR;
      if (values.every((v) => v.k === 'bool' && !v.v)) return FALSE;
      return values.some((v) => v.k === 'null') ? NULL : UNKNOWN;
    }
    case 'not': {
      const value = ev(expr.arg);
      if (value.k === 'bool') return value.v ? FALSE : TRUE;
      return value.k === 'null' || value.k === 'err' ? value : UNKNOWN;
    }
    case 'is': {
      const value = ev(expr.arg);
      if (value.k === 'err') return ERR;
      let result: boolean | undefined;
      if (expr.test === 'null') {
        if (value.k === 'null') result = true;
        // Columns are taken as not null: a NULL tenant column is reported on its own.
        else if (value.k === 'lit' || value.k === 'bool' || value.k === 'ctx' || value.k === 'col') result = false;
      } else if (value.k === 'bool') result = value.v === (expr.test === 'true');
      else if (value.k === 'null') result = false;
      if (result === undefined) return UNKNOWN;
      return result !== expr.negated ? TRUE : FALSE;
    }
    case 'opaque':
      return UNKNOWN;
  }
}

function sameValue(l: Value, r: Value): boolean | undefined {
  if (l.k === 'col' && r.k === 'col') return l.name === r.name ? true : undefined;
  if (l.k === 'lit' && r.k === 'lit') return l.v === r.v;
  if (l.k === 'bool' && r.k === 'bool') return l.v === r.v;
  return undefined;
}

function evaluateCall(name: string, args: readonly Expr[], scenario: Scenario, ev: (e: Expr) => Value): Value {
  const fn = name.toLowerCase().replace(/^pg_catalog\./, '');
  if (fn === 'current_setting') {
    const missingOk = args[1] ? ev(args[1]) : FALSE;
    if (scenario === 'set') return { k: 'ctx' };
    if (scenario === 'empty') return { k: 'lit', v: '' };
    if (missingOk.k === 'bool' && missingOk.v) return NULL;
    return missingOk.k === 'bool' ? ERR : UNKNOWN;
  }
  if (fn === 'coalesce') {
    for (const arg of args) {
      const value = ev(arg);
      if (value.k === 'null') continue;
      return value;
    }
    return NULL;
  }
  if (fn === 'nullif' && args.length === 2) {
    const a = ev(args[0]!);
    const b = ev(args[1]!);
    if (a.k === 'null' || a.k === 'err') return a;
    if (b.k === 'err') return ERR;
    if (b.k === 'null') return a;
    // The setting of a tenant is never the empty string or a sentinel literal.
    if (a.k === 'ctx' && b.k === 'lit') return a;
    const equal = sameValue(a, b);
    if (equal === undefined) return UNKNOWN;
    return equal ? NULL : a;
  }
  return UNKNOWN;
}

// Tokenizer -------------------------------------------------------------------------------------

type Token =
  | { readonly k: 'ident'; readonly v: string; readonly quoted: boolean }
  | { readonly k: 'str'; readonly v: string }
  | { readonly k: 'num'; readonly v: string }
  | { readonly k: 'op'; readonly v: string }
  | { readonly k: 'punct'; readonly v: string };

const OPERATOR_CHARS = '+-*/<>=~!@#%^&|`?';

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'" || ((c === 'E' || c === 'e') && text[i + 1] === "'")) {
      const escapes = c !== "'";
      i += escapes ? 2 : 1;
      let value = '';
      for (;;) {
        if (i >= text.length) throw new SyntaxError('unterminated string');
        const ch = text[i]!;
        if (escapes && ch === '\\') {
          value += text[i + 1] ?? '';
          i += 2;
          continue;
        }
        if (ch === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += ch;
        i++;
      }
      tokens.push({ k: 'str', v: value });
      continue;
    }
    if (c === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new SyntaxError('unterminated identifier');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i];
        i++;
      }
      tokens.push({ k: 'ident', v: value, quoted: true });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const match = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i))!;
      tokens.push({ k: 'num', v: match[0] });
      i += match[0].length;
      continue;
    }
    if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const match = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(text.slice(i))!;
      tokens.push({ k: 'ident', v: match[0], quoted: false });
      i += match[0].length;
      continue;
    }
    if (c === ':' && text[i + 1] === ':') {
      tokens.push({ k: 'punct', v: '::' });
      i += 2;
      continue;
    }
    if ('(),[].;:'.includes(c)) {
      tokens.push({ k: 'punct', v: c });
      i++;
      continue;
    }
    if (OPERATOR_CHARS.includes(c)) {
      let j = i;
      while (j < text.length && OPERATOR_CHARS.includes(text[j]!)) j++;
      tokens.push({ k: 'op', v: text.slice(i, j) });
      i = j;
      continue;
    }
    throw new SyntaxError(`unexpected character ${c}`);
  }
  return tokens;
}

// Parser ----------------------------------------------------------------------------------------

/** Words that end a type name after `::` or cannot start an operand. */
const KEYWORDS = new Set([
  'and', 'or', 'not', 'is', 'in', 'like', 'ilike', 'similar', 'between', 'escape', 'collate', 'then', 'else', 'end', 'when',
  'case', 'from', 'as', 'any', 'all', 'some', 'distinct', 'null', 'true', 'false', 'select', 'exists', 'array', 'isnull', 'notnull', 'at',
]);

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

/** Parses pg_get_expr() output; undefined when there is no expression. Unreadable parts become opaque. */
export function parseExpression(text: string | null | undefined): Expr | undefined {
  if (text === null || text === undefined || text.trim() === '') return undefined;
  try {
    const parser = new Parser(tokenize(text));
    const expr = parser.expression();
    return parser.done() ? expr : { t: 'opaque' };
  } catch {
    return { t: 'opaque' };
  }
}

class Parser {
  #pos = 0;
  constructor(readonly tokens: readonly Token[]) {}

  done(): boolean {
    return this.#pos >= this.tokens.length;
  }

  #peek(offset = 0): Token | undefined {
    return this.tokens[this.#pos + offset];
  }

  #word(offset = 0): string | undefined {
    const token = this.#peek(offset);
    return token?.k === 'ident' && !token.quoted ? token.v.toLowerCase() : undefined;
  }

  #isPunct(value: string, offset = 0): boolean {
    const token = this.#peek(offset);
    return token?.k === 'punct' && token.v === value;
  }

  #expect(value: string): void {
    if (!this.#isPunct(value)) throw new SyntaxError(`expected ${value}`);
    this.#pos++;
  }

  expression(): Expr {
    return this.#or();
  }

  #or(): Expr {
    const args = [this.#and()];
    while (this.#word() === 'or') {
      this.#pos++;
      args.push(this.#and());
    }
    return args.length === 1 ? args[0]! : { t: 'or', args: args.flatMap((a) => (a.t === 'or' ? a.args : [a])) };
  }

  #and(): Expr {
    const args = [this.#not()];
    while (this.#word() === 'and') {
      this.#pos++;
      args.push(this.#not());
    }
    return args.length === 1 ? args[0]! : { t: 'and', args: args.flatMap((a) => (a.t === 'and' ? a.args : [a])) };
  }

  #not(): Expr {
    if (this.#word() === 'not') {
      this.#pos++;
      return { t: 'not', arg: this.#not() };
    }
    return this.#is();
  }

  #is(): Expr {
    let left = this.#comparison();
    for (;;) {
      const word = this.#word();
      if (word === 'isnull' || word === 'notnull') {
        this.#pos++;
        left = { t: 'is', arg: left, test: 'null', negated: word === 'notnull' };
        continue;
      }
      if (word !== 'is') return left;
      this.#pos++;
      let negated = false;
      if (this.#word() === 'not') {
        negated = true;
        this.#pos++;
      }
      const test = this.#word();
      if (test === 'null' || test === 'true' || test === 'false') {
        this.#pos++;
        left = { t: 'is', arg: left, test, negated };
      } else if (test === 'distinct' && this.#word(1) === 'from') {
        this.#pos += 2;
        left = { t: 'cmp', op: negated ? 'IS NOT DISTINCT FROM' : 'IS DISTINCT FROM', l: left, r: this.#comparison() };
      } else {
        throw new SyntaxError('unsupported IS form');
      }
    }
  }

  #comparison(): Expr {
    const left = this.#additive();
    const token = this.#peek();
    if (token?.k === 'op' && COMPARISONS.has(token.v)) {
      this.#pos++;
      if (this.#word() === 'any' || this.#word() === 'all' || this.#word() === 'some') {
        this.#pos++;
        this.#skipGroup();
        return { t: 'opaque' };
      }
      const right = this.#additive();
      return { t: 'cmp', op: token.v, l: left, r: right };
    }
    const word = this.#word();
    if (word === 'in' || word === 'like' || word === 'ilike' || word === 'similar' || word === 'between' || (word === 'not' && ['in', 'like', 'ilike', 'similar', 'between'].includes(this.#word(1) ?? ''))) {
      // Set membership and pattern matching: unknown, the operands are skipped.
      this.#skipOperand();
      return { t: 'opaque' };
    }
    if (token?.k === 'op') {
      // Any other operator (~, @>, ->>, &&, ...): strict, otherwise unknown.
      this.#pos++;
      if (this.#word() === 'any' || this.#word() === 'all') {
        this.#pos++;
        this.#skipGroup();
        return { t: 'opaque' };
      }
      return { t: 'op', op: token.v, l: left, r: this.#additive() };
    }
    return left;
  }

  #additive(): Expr {
    let left = this.#postfix();
    for (;;) {
      const token = this.#peek();
      if (token?.k === 'op' && ['+', '-', '*', '/', '%', '||', '^'].includes(token.v)) {
        this.#pos++;
        left = { t: 'op', op: token.v, l: left, r: this.#postfix() };
        continue;
      }
      return left;
    }
  }

  #postfix(): Expr {
    let expr = this.#primary();
    for (;;) {
      if (this.#isPunct('::')) {
        this.#pos++;
        expr = { t: 'cast', arg: expr, type: this.#typeName() };
        continue;
      }
      if (this.#isPunct('[')) {
        this.#skipBracket();
        expr = { t: 'opaque' };
        continue;
      }
      if (this.#word() === 'collate') {
        this.#pos++;
        this.#qualifiedName();
        continue;
      }
      if (this.#word() === 'at' && this.#word(1) === 'time') {
        this.#pos += 3;
        this.#postfix();
        expr = { t: 'opaque' };
        continue;
      }
      return expr;
    }
  }

  #typeName(): string {
    const parts: string[] = [];
    for (;;) {
      const token = this.#peek();
      if (token?.k !== 'ident') break;
      if (!token.quoted && KEYWORDS.has(token.v.toLowerCase())) break;
      parts.push(token.quoted ? `"${token.v}"` : token.v);
      this.#pos++;
      if (this.#isPunct('.')) {
        parts.push('.');
        this.#pos++;
      }
    }
    if (parts.length === 0) throw new SyntaxError('expected a type name');
    let name = parts.join(' ').replace(/ \. /g, '.');
    if (this.#isPunct('(')) {
      this.#skipGroup();
      name += '(n)';
    }
    while (this.#isPunct('[')) {
      this.#skipBracket();
      name += '[]';
    }
    return name;
  }

  #qualifiedName(): string[] {
    const parts: string[] = [];
    for (;;) {
      const token = this.#peek();
      if (token?.k !== 'ident') throw new SyntaxError('expected a name');
      parts.push(token.v);
      this.#pos++;
      if (!this.#isPunct('.')) return parts;
      this.#pos++;
    }
  }

  #primary(): Expr {
    const token = this.#peek();
    if (!token) throw new SyntaxError('unexpected end');
    if (token.k === 'str') {
      this.#pos++;
      return { t: 'str', v: token.v };
    }
    if (token.k === 'num') {
      this.#pos++;
      return { t: 'num', v: token.v };
    }
    if (token.k === 'op' && (token.v === '-' || token.v === '+')) {
      this.#pos++;
      const operand = this.#postfix();
      return operand.t === 'num' ? { t: 'num', v: token.v === '-' ? `-${operand.v}` : operand.v } : { t: 'opaque' };
    }
    if (token.k === 'punct' && token.v === '(') {
      const start = this.#pos;
      this.#pos++;
      if (this.#word() === 'select' || this.#word() === 'with' || this.#word() === 'values') {
        this.#pos = start;
        this.#skipGroup();
        return { t: 'opaque' };
      }
      try {
        const inner = this.expression();
        this.#expect(')');
        return inner;
      } catch {
        this.#pos = start;
        this.#skipGroup();
        return { t: 'opaque' };
      }
    }
    if (token.k !== 'ident') throw new SyntaxError('unexpected token');
    const word = token.quoted ? undefined : token.v.toLowerCase();
    if (word === 'true' || word === 'false') {
      this.#pos++;
      return { t: 'bool', v: word === 'true' };
    }
    if (word === 'null') {
      this.#pos++;
      return { t: 'null' };
    }
    if (word === 'exists' || word === 'array' || word === 'row') {
      this.#pos++;
      if (this.#isPunct('[')) this.#skipBracket();
      else this.#skipGroup();
      return { t: 'opaque' };
    }
    if (word === 'case') {
      this.#skipCase();
      return { t: 'opaque' };
    }
    if (word !== undefined && KEYWORDS.has(word)) throw new SyntaxError(`unexpected ${word}`);
    const parts = this.#qualifiedName();
    if (this.#isPunct('(')) {
      const start = this.#pos;
      try {
        return { t: 'call', name: parts.join('.'), args: this.#arguments() };
      } catch {
        this.#pos = start;
        this.#skipGroup();
        return { t: 'opaque' };
      }
    }
    return { t: 'col', name: parts[parts.length - 1]! };
  }

  #arguments(): Expr[] {
    this.#expect('(');
    const args: Expr[] = [];
    if (this.#isPunct(')')) {
      this.#pos++;
      return args;
    }
    for (;;) {
      if (this.#word() === 'variadic' || this.#word() === 'distinct') throw new SyntaxError('unsupported argument form');
      args.push(this.expression());
      if (this.#isPunct(',')) {
        this.#pos++;
        continue;
      }
      this.#expect(')');
      return args;
    }
  }

  /** Skips a parenthesized group, nested groups included. */
  #skipGroup(): void {
    this.#skipBalanced('(', ')');
  }

  #skipBracket(): void {
    this.#skipBalanced('[', ']');
  }

  #skipBalanced(open: string, close: string): void {
    if (!this.#isPunct(open)) throw new SyntaxError(`expected ${open}`);
    let depth = 0;
    while (this.#pos < this.tokens.length) {
      if (this.#isPunct(open)) depth++;
      else if (this.#isPunct(close)) depth--;
      this.#pos++;
      if (depth === 0) return;
    }
    throw new SyntaxError(`unbalanced ${open}`);
  }

  #skipCase(): void {
    let depth = 0;
    while (this.#pos < this.tokens.length) {
      const word = this.#word();
      if (word === 'case') depth++;
      else if (word === 'end') depth--;
      this.#pos++;
      if (depth === 0) return;
    }
    throw new SyntaxError('unterminated CASE');
  }

  /** Skips the right side of IN / LIKE / BETWEEN up to the next boolean connective or closing paren. */
  #skipOperand(): void {
    this.#betweenPending = false;
    while (this.#pos < this.tokens.length) {
      const word = this.#word();
      if (word === 'and' && !this.#betweenPending) return;
      if (word === 'or' || word === 'then' || word === 'else' || word === 'end' || word === 'when') return;
      if (this.#isPunct(')') || this.#isPunct(',')) return;
      if (this.#isPunct('(')) {
        this.#skipGroup();
        continue;
      }
      if (this.#isPunct('[')) {
        this.#skipBracket();
        continue;
      }
      if (word === 'between') this.#betweenPending = true;
      else if (word === 'and') this.#betweenPending = false;
      this.#pos++;
    }
  }

  #betweenPending = false;
}
