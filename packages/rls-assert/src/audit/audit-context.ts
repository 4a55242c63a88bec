/**
 * What every rule of the catalog audit shares: the codes it reports, its options, and the
 * AuditContext a run works on (the catalog, the tenant-scoped relations, the findings so far and
 * the hint SQL that several rules suggest). The rules themselves live in table-rules.ts,
 * policy-rules.ts and view-function-rules.ts; rules.ts runs them.
 */
import type { ColumnModel, ForeignKeyModel, SchemaModel, TableModel, Tenancy } from '@tenantkit/fixtures';
import { quoteIdent, quoteLiteral } from '@tenantkit/testkit';
import type { Finding, Severity } from '../types.js';
import { byText } from '@tenantkit/testkit/internal';
import { type Catalog, type CatalogPolicy, type CatalogRelation } from './catalog.js';

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
  TK_POLICY_SETTING_SWITCH: 'warning',
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

/** The codes of the catalog rules (a subset of AuditCode, which adds the probes' codes). */
export type AuditRuleCode = keyof typeof AUDIT_RULES;

/** A tenant-scoped relation: a table of the model that is not global, or a partition/child of one. */
export interface Scoped {
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

/** One audit run: the catalog and options it reads, and the findings it has made so far. */
export class AuditContext {
  readonly findings: Finding[] = [];
  readonly catalog: Catalog;
  readonly options: AuditOptions;
  /** The role the application connects as. */
  readonly app: string;
  /** The setting policies read the tenant from, for hints. */
  readonly setting: string;
  /** Tenant-scoped relations by id (schema.name), partitions and children included. */
  readonly scopedById = new Map<string, Scoped>();
  /** The model's tables by id. */
  readonly tablesById = new Map<string, TableModel>();

  constructor(catalog: Catalog, options: AuditOptions) {
    this.catalog = catalog;
    this.options = options;
    this.app = options.appRole;
    this.setting = options.tenantSetting ?? settingInUse(catalog.policies) ?? 'app.tenant_id';
    for (const table of options.model.tables) this.tablesById.set(table.id, table);
    for (const table of options.model.tables) {
      const info = options.tenancy.tables.get(table.id);
      const relation = catalog.relations.get(table.id);
      if (!info || info.kind === 'global' || !relation) continue;
      this.scopedById.set(table.id, {
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
        const parentId = relation.parents.find((id) => this.scopedById.has(id));
        const parent = parentId === undefined ? undefined : this.scopedById.get(parentId);
        const existing = this.scopedById.get(relation.id);
        if (!parent || existing?.child) continue;
        this.scopedById.set(relation.id, {
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

  add(code: AuditRuleCode, severity: Severity, object: string, message: string, hint: string): void {
    this.findings.push({ code, severity, object, message, hint });
  }

  policiesOf(id: string): CatalogPolicy[] {
    return this.catalog.policies.filter((policy) => policy.table === id);
  }

  /** The tenant predicate for a table, e.g. `"tenant_id" = current_setting('app.tenant_id', true)::uuid`. */
  policyExpression(scoped: Scoped): string {
    const setting = `current_setting(${quoteLiteral(this.setting)}, true)`;
    const column = scoped.tenantColumn;
    if (column && scoped.kind !== 'indirect') {
      const model = scoped.table.columns.find((c) => c.name === column);
      return `${quoteIdent(column)} = ${castSetting(setting, model)}`;
    }
    const anchor = scoped.anchor;
    if (anchor) {
      const parent = this.tablesById.get(`${anchor.references.schema}.${anchor.references.table}`);
      const parentRef = parent?.qualified ?? `${quoteIdent(anchor.references.schema)}.${quoteIdent(anchor.references.table)}`;
      const join = anchor.columns.map((c, i) => `p.${quoteIdent(anchor.references.columns[i]!)} = ${scoped.table.qualified}.${quoteIdent(c)}`).join(' AND ');
      return `EXISTS (SELECT 1 FROM ${parentRef} p WHERE ${join})`;
    }
    return `<tenant predicate on ${setting}>`;
  }

  /** The policy a tenant-scoped table without one should get, for hints. */
  policySql(scoped: Scoped): string {
    const expression = this.policyExpression(scoped);
    return `CREATE POLICY tenant_isolation ON ${scoped.relation.qualified} TO ${quoteIdent(this.app)} USING (${expression}) WITH CHECK (${expression});`;
  }
}

export type Privilege = 'select' | 'insert' | 'update' | 'delete';

/** Words in a setting's name that say it holds a tenant (ties between settings go to such a name). */
export const TENANTISH = /tenant|org|account|company|workspace|team/i;

/** The current_setting() name the policies use most (ties: one that names a tenant, then code-point order). */
export function settingInUse(policies: readonly CatalogPolicy[]): string | undefined {
  const counts = new Map<string, number>();
  for (const policy of policies) {
    for (const text of [policy.using, policy.withCheck]) {
      for (const match of (text ?? '').matchAll(/current_setting\('((?:[^']|'')+)'/g)) {
        const name = match[1]!.replaceAll("''", "'");
        counts.set(name, (counts.get(name) ?? 0) + 1);
      }
    }
  }
  const tenantish = (name: string) => (TENANTISH.test(name) ? 0 : 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || tenantish(a[0]) - tenantish(b[0]) || byText(a[0], b[0]))[0]?.[0];
}

export function accessList(relation: CatalogRelation, which: readonly ('SELECT' | 'INSERT' | 'UPDATE' | 'DELETE')[]): string[] {
  if (!relation.app.schemaUsage) return [];
  return which.filter((privilege) => relation.app[privilege.toLowerCase() as Privilege]);
}

export function describeScope(scoped: Scoped): string {
  if (scoped.kind === 'tenant-root') return 'the tenants table';
  if (scoped.kind === 'tenant') return `tenant table, column ${scoped.tenantColumn}`;
  const anchor = scoped.anchor;
  return anchor ? `tenant-scoped through ${anchor.columns.join(', ')} -> ${anchor.references.schema}.${anchor.references.table}` : 'tenant-scoped through foreign keys';
}

export function list(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** NULLIF: a setting that was set and ended ('') then matches nothing instead of failing the cast. */
function castSetting(setting: string, column: ColumnModel | undefined): string {
  const present = `NULLIF(${setting}, '')`;
  if (!column || column.category === 'S') return present;
  return `${present}::${column.type}`;
}
