/**
 * The audit rules about tables and the app role: who the app role is, the RLS flags of each
 * tenant-scoped table, TRUNCATE and other excess privileges, and the columns and constraints
 * (nullable tenant columns, cross-tenant foreign keys, unique constraints without the tenant).
 */
import type { ColumnModel, ForeignKeyModel } from '@tenantkit/fixtures';
import { quoteIdent } from '@tenantkit/testkit';
import { type AuditContext, type Scoped, accessList, describeScope, list } from './audit-context.js';

/** Who the app role is: a superuser, BYPASSRLS, or a member of a role that is. */
export function auditAppRole(audit: AuditContext): void {
  const role = audit.catalog.roles.get(audit.app);
  if (!role) return;
  const q = quoteIdent(audit.app);
  if (role.superuser || role.bypassRls) {
    audit.add(
      'TK_APP_ROLE_BYPASSES_RLS',
      'error',
      audit.app,
      `The app role ${audit.app} is ${role.superuser ? 'a superuser' : 'BYPASSRLS'}: row level security is ignored for every query it runs, even on tables with FORCE ROW LEVEL SECURITY, so every tenant's rows are readable and writable.`,
      `ALTER ROLE ${q} NOSUPERUSER NOBYPASSRLS;`,
    );
    return;
  }
  const bypassing = role.memberOf.filter((name) => {
    const other = audit.catalog.roles.get(name);
    return name !== audit.app && other !== undefined && (other.superuser || other.bypassRls);
  });
  if (bypassing.length > 0) {
    audit.add(
      'TK_APP_ROLE_BYPASSES_RLS',
      'error',
      audit.app,
      `The app role ${audit.app} is a member of ${list(bypassing)}, which ${bypassing.length > 1 ? 'bypass' : 'bypasses'} row level security: after SET ROLE it reads and writes every tenant's rows.`,
      bypassing.map((name) => `REVOKE ${quoteIdent(name)} FROM ${q};`).join(' '),
    );
  }
}

/** RLS flags: disabled, not forced, no policy for the app, partitions and children. */
export function auditRlsFlags(audit: AuditContext, scoped: Scoped): void {
  const { relation } = scoped;
  const access = accessList(relation, scoped.kind === 'tenant-root' && !scoped.child ? ['SELECT', 'UPDATE', 'DELETE'] : ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
  const what = describeScope(scoped);
  if (!relation.rlsEnabled) {
    if (access.length === 0) return;
    if (scoped.child) {
      audit.add(
        'TK_PARTITION_WITHOUT_RLS',
        'error',
        relation.id,
        `${relation.id} is ${relation.isPartition ? 'a partition' : 'an inheritance child'} of ${scoped.parentId} (${what}) with row level security disabled, and ${audit.app} has ${list(access)} on it directly. Partitions and children do not inherit the parent's RLS flags or policies: queried by name, it returns and accepts every tenant's rows.`,
        `ALTER TABLE ${relation.qualified} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${relation.qualified} FORCE ROW LEVEL SECURITY; -- with no policy of its own, direct access is denied and the parent's policies still apply through ${audit.catalog.relations.get(scoped.parentId!)?.qualified ?? scoped.table.qualified}; or: REVOKE ALL ON ${relation.qualified} FROM ${quoteIdent(audit.app)};`,
      );
      return;
    }
    audit.add(
      'TK_RLS_DISABLED',
      'error',
      relation.id,
      `${relation.id} (${what}) has row level security disabled, and ${audit.app} has ${list(access)} on it: every tenant's rows are ${access.includes('SELECT') ? 'readable' : 'writable'} by any tenant.`,
      `ALTER TABLE ${relation.qualified} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${relation.qualified} FORCE ROW LEVEL SECURITY; ${audit.policySql(scoped)}`,
    );
    return;
  }
  if (!relation.rlsForced) {
    if (relation.appIsOwner && !relation.ownerSuperuser && !relation.ownerBypassRls) {
      audit.add(
        'TK_RLS_NOT_FORCED',
        'error',
        relation.id,
        `${relation.id} (${what}) has row level security enabled but not forced, and ${audit.app} ${relation.owner === audit.app ? 'owns it' : `is a member of its owner ${relation.owner}`}: a table's owner ignores RLS unless FORCE ROW LEVEL SECURITY is set, so the app reads and writes every tenant's rows.`,
        `ALTER TABLE ${relation.qualified} FORCE ROW LEVEL SECURITY; -- better: the app role should own nothing: ALTER TABLE ${relation.qualified} OWNER TO <migration role>;${relation.owner === audit.app ? '' : ` REVOKE ${quoteIdent(relation.owner)} FROM ${quoteIdent(audit.app)};`}`,
      );
    } else if (!scoped.child) {
      audit.add(
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
  const applicable = audit.policiesOf(relation.id).filter((policy) => policy.appliesToApp && policy.permissive);
  const any = accessList(relation, ['SELECT', 'INSERT', 'UPDATE', 'DELETE']);
  if (applicable.length === 0 && any.length > 0 && !(relation.appIsOwner && !relation.rlsForced)) {
    const others = audit.policiesOf(relation.id);
    audit.add(
      'TK_NO_POLICY_FOR_APP',
      'warning',
      relation.id,
      `${relation.id} (${what}) has row level security enabled but no permissive policy applies to ${audit.app}${others.length > 0 ? ` (its policies: ${others.map((p) => `${p.name} ${p.permissive ? 'permissive' : 'restrictive'} TO ${p.roles.join(', ')}`).join('; ')})` : ''}: every row is hidden from the app, its own tenant's included (deny-all). Restrictive policies only narrow permissive ones.`,
      audit.policySql(scoped),
    );
  }
}

/** TRUNCATE ignores RLS; TRIGGER and REFERENCES are more than an application needs. */
export function auditTruncate(audit: AuditContext, scoped: Scoped): void {
  const { relation } = scoped;
  const extra = [...(relation.app.trigger ? ['TRIGGER'] : []), ...(relation.app.references ? ['REFERENCES'] : [])];
  if (relation.app.schemaUsage && extra.length > 0 && !relation.appIsOwner) {
    audit.add(
      'TK_EXCESS_TABLE_PRIVILEGES',
      'warning',
      relation.id,
      `${audit.app} has ${list(extra)} on ${relation.id} (${describeScope(scoped)}), as GRANT ALL gives: ${relation.app.trigger ? 'TRIGGER lets it attach a trigger that runs inside every other tenant\'s writes' : ''}${relation.app.trigger && relation.app.references ? '; ' : ''}${relation.app.references ? 'REFERENCES lets it create foreign keys whose errors reveal which keys other tenants hold' : ''}. An application needs neither.`,
      `REVOKE ${extra.join(', ')} ON ${relation.qualified} FROM ${quoteIdent(audit.app)}; -- grant SELECT, INSERT, UPDATE, DELETE instead of ALL`,
    );
  }
  if (!relation.app.schemaUsage || !relation.app.truncate) return;
  audit.add(
    'TK_TRUNCATE_GRANTED',
    'error',
    relation.id,
    `${audit.app} has TRUNCATE on ${relation.id} (${describeScope(scoped)})${relation.appIsOwner ? ', as its owner or a member of the owner' : ''}. TRUNCATE ignores row level security: one tenant can erase every tenant's rows.`,
    relation.appIsOwner
      ? `ALTER TABLE ${relation.qualified} OWNER TO <migration role>;`
      : `REVOKE TRUNCATE ON ${relation.qualified} FROM ${quoteIdent(audit.app)}; -- and from PUBLIC or any role ${audit.app} is a member of, if granted there`,
  );
}

export function auditNullableTenantColumn(audit: AuditContext, scoped: Scoped): void {
  if (scoped.kind !== 'tenant' || !scoped.tenantColumn) return;
  const column = scoped.table.columns.find((c) => c.name === scoped.tenantColumn);
  if (!column || column.notNull) return;
  audit.add(
    'TK_NULLABLE_TENANT_COLUMN',
    'warning',
    `${scoped.relation.id}.${column.name}`,
    `${scoped.relation.id}.${column.name} is nullable. A row with a NULL tenant belongs to no tenant: equality policies hide it from everyone, "IS NULL OR" policies show it to everyone, and foreign keys through it are not checked (MATCH SIMPLE).`,
    `UPDATE ${scoped.relation.qualified} SET ${quoteIdent(column.name)} = <owner tenant> WHERE ${quoteIdent(column.name)} IS NULL; ALTER TABLE ${scoped.relation.qualified} ALTER COLUMN ${quoteIdent(column.name)} SET NOT NULL;`,
  );
}

export function auditForeignKeys(audit: AuditContext, scoped: Scoped): void {
  if (scoped.kind !== 'tenant' && scoped.kind !== 'indirect') return;
  const { table } = scoped;
  const root = audit.options.tenancy.root;
  for (const fk of table.foreignKeys) {
    const targetId = `${fk.references.schema}.${fk.references.table}`;
    if (root && targetId === root.id) continue;
    const target = audit.scopedById.get(targetId);
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
        : `Give ${own ? target.relation.id : table.id} the tenant column (${audit.options.tenancy.tenantColumn ?? 'tenant_id'}), then make the key composite: FOREIGN KEY (${audit.options.tenancy.tenantColumn ?? 'tenant_id'}, ${fk.columns.join(', ')}) REFERENCES ${target.relation.id} (${audit.options.tenancy.tenantColumn ?? 'tenant_id'}, ${fk.references.columns.join(', ')}).`;
    audit.add(
      'TK_CROSS_TENANT_FK',
      'warning',
      object,
      `Foreign key ${fk.name} (${fk.columns.join(', ')}) on ${table.id} references ${target.relation.id} (${fk.references.columns.join(', ')}) without the tenant column. Foreign-key checks run without row level security: a row of tenant A can point at a row of tenant B, and the error on a made-up id reveals which ids exist in other tenants.`,
      fix,
    );
  }
}

export function auditUniques(audit: AuditContext, scoped: Scoped): void {
  if (scoped.kind !== 'tenant' || !scoped.tenantColumn) return;
  const { table } = scoped;
  const tenant = scoped.tenantColumn;
  for (const unique of table.uniques) {
    if (unique.columns.includes(tenant) || unique.columns.length === 0) continue;
    if (unique.primaryKey && unique.columns.every((name) => isSurrogate(table.columns.find((c) => c.name === name)))) continue;
    audit.add(
      'TK_UNIQUE_WITHOUT_TENANT',
      'info',
      `${table.id}.${unique.name}`,
      `${unique.primaryKey ? 'Primary key' : 'Unique constraint'} ${unique.name} on ${table.id} (${unique.columns.join(', ')})${unique.partial ? ' (partial)' : ''} does not include ${tenant}: inserting a value another tenant already uses fails with a duplicate-key error, which tells a tenant the value exists elsewhere (an existence oracle). Usually acceptable for global identifiers such as e-mail addresses.`,
      `If the value only needs to be unique per tenant: ALTER TABLE ${table.qualified} ADD UNIQUE (${[tenant, ...unique.columns].map(quoteIdent).join(', ')}); then drop ${quoteIdent(unique.name)}.`,
    );
  }
}

function sameForeignKey(a: ForeignKeyModel, b: ForeignKeyModel): boolean {
  return a.name === b.name && a.columns.join('\0') === b.columns.join('\0');
}

function isSurrogate(column: ColumnModel | undefined): boolean {
  if (!column) return false;
  if (column.baseType === 'uuid' || column.identity !== null) return true;
  return column.category === 'N' && /^nextval\(/i.test(column.defaultExpr ?? '');
}
