/**
 * The catalog audit: reads the catalog and runs every rule over it (table-rules.ts,
 * policy-rules.ts, view-function-rules.ts), then sorts the findings. What the rules share is in
 * audit-context.ts.
 */
import type { Queryable } from '@tenantkit/testkit';
import type { Finding, Severity } from '../types.js';
import { AuditContext, type AuditOptions } from './audit-context.js';
import { byText } from '@tenantkit/testkit/internal';
import { type Catalog, readCatalog } from './catalog.js';
import { auditPolicies } from './policy-rules.js';
import { auditAppRole, auditForeignKeys, auditNullableTenantColumn, auditRlsFlags, auditTruncate, auditUniques } from './table-rules.js';
import { auditFunctions, auditViews } from './view-function-rules.js';

export { AUDIT_RULES, type AuditRuleCode, type AuditOptions } from './audit-context.js';

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

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
  const audit = new AuditContext(catalog, options);
  auditAppRole(audit);
  for (const scoped of [...audit.scopedById.values()].sort((a, b) => byText(a.relation.id, b.relation.id))) {
    auditRlsFlags(audit, scoped);
    auditPolicies(audit, scoped);
    auditTruncate(audit, scoped);
    if (!scoped.child) {
      auditNullableTenantColumn(audit, scoped);
      auditForeignKeys(audit, scoped);
      auditUniques(audit, scoped);
    }
  }
  auditViews(audit);
  auditFunctions(audit);
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
