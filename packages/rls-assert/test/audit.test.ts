import { discoverTenancy, introspectSchema } from '@tenantkit/fixtures';
import { type BackendKind, type Kit, type TestDatabase, startKit } from '@tenantkit/testkit';
import { beforeAll, describe, expect, test } from 'vitest';
import { readCatalog, relationsNamedIn } from '../src/audit/catalog.js';
import { type Scenario, evaluate, settingsReadBy } from '../src/audit/policy-expression.js';
import { parseExpression } from '../src/audit/policy-parser.js';
import { auditCatalog, sortFindings } from '../src/audit/rules.js';
import type { AuditCode, Finding, Severity } from '../src/types.js';
import { readCorpus } from './corpus.js';
import { shareNativeServer } from './shared-server.js';

const CORPUS = readCorpus();

/** Findings per backend and corpus file, for the cross-backend comparison at the end. */
const results = new Map<BackendKind, Map<string, Finding[]>>();

async function auditSchema(kit: Kit, also?: (db: TestDatabase) => Promise<void>): Promise<Finding[]> {
  await using db = await kit.acquire();
  await also?.(db);
  const model = await introspectSchema(db);
  const tenancy = discoverTenancy(model);
  return await auditCatalog(db, { appRole: 'tk_app', tenancy, model });
}

const summary = (findings: readonly Finding[]) => findings.map((f) => `${f.severity} ${f.code} ${f.object}`);

function find(findings: readonly Finding[], code: string, object: string): Finding {
  const found = findings.find((f) => f.code === code && f.object === object);
  if (!found) throw new Error(`no ${code} on ${object}; found:\n${summary(findings).join('\n')}`);
  return found;
}

function expectNone(findings: readonly Finding[], code: string, object?: string): void {
  expect(summary(findings.filter((f) => f.code === code && (object === undefined || f.object === object)))).toEqual([]);
}

describe.each(['pglite', 'native'] as const)('auditCatalog on %s', (backend) => {
  const findingsOf = new Map<string, Finding[]>();
  results.set(backend, findingsOf);

  // One server for every schema of this file: each kit only builds a template and clones it.
  shareNativeServer(backend);

  describe.each(CORPUS)('$file', (corpusCase) => {
    let findings: Finding[];

    beforeAll(async () => {
      const kit = await startKit({
        backend,
        schema: corpusCase.path,
        roles: { appGrants: 'none', migrateAs: corpusCase.migrateAs },
        poolSize: 0,
      });
      try {
        findings = await auditSchema(kit);
      } finally {
        await kit.stop();
      }
      findingsOf.set(corpusCase.file, findings);
    });

    if (corpusCase.correct) {
      test('no error or warning finding', () => {
        expect(summary(findings.filter((f) => f.severity !== 'info'))).toEqual([]);
      });
    } else {
      test(`finds ${corpusCase.expected.join(', ')}`, () => {
        const codes = new Set<string>(findings.map((f) => f.code));
        for (const code of corpusCase.expected) expect(codes.has(code), `${code} in\n${summary(findings).join('\n')}`).toBe(true);
      });
    }

    test('every finding is complete, sorted by severity, code and object', () => {
      for (const finding of findings) {
        expect(finding.code).toMatch(/^TK_[A-Z_]+$/);
        expect(['error', 'warning', 'info']).toContain(finding.severity);
        expect(finding.object.length).toBeGreaterThan(0);
        expect(finding.message.length).toBeGreaterThan(40);
        expect(finding.hint.length).toBeGreaterThan(10);
      }
      expect(findings).toEqual(sortFindings(findings));
    });
  });

  describe('precise findings', () => {
    const of = (file: string) => {
      const found = findingsOf.get(file);
      if (!found) throw new Error(`${file} was not audited`);
      return found;
    };

    test('RLS disabled: tenant, indirect and tenants tables, with the policy to add', () => {
      const tenant = find(of('leak-01-rls-disabled.sql'), 'TK_RLS_DISABLED', 'public.documents');
      expect(tenant.severity).toBe('error');
      expect(tenant.hint).toContain('ALTER TABLE "public"."documents" ENABLE ROW LEVEL SECURITY');
      expect(tenant.hint).toContain(`"tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::uuid`);
      // The tenants table is protected there, so only documents is reported.
      expectNone(of('leak-01-rls-disabled.sql'), 'TK_RLS_DISABLED', 'public.tenants');

      const indirect = find(of('leak-02-rls-disabled-indirect.sql'), 'TK_RLS_DISABLED', 'public.comments');
      expect(indirect.hint).toContain('EXISTS (SELECT 1 FROM "public"."documents" p WHERE p."id" = "public"."comments"."document_id")');
      expect(find(of('leak-03-tenants-root-readable.sql'), 'TK_RLS_DISABLED', 'public.tenants').severity).toBe('error');
    });

    test('RLS not forced: an error when the app owns the table, a warning for a migration owner', () => {
      const owned = find(of('leak-04-app-owns-table.sql'), 'TK_RLS_NOT_FORCED', 'public.documents');
      expect(owned.severity).toBe('error');
      expect(owned.message).toContain('owns it');
      expect(find(of('leak-04-app-owns-table.sql'), 'TK_TRUNCATE_GRANTED', 'public.documents').severity).toBe('error');

      const migration = of('leak-05-not-forced-migration-owner.sql');
      for (const table of ['public.documents', 'public.tenants']) {
        const finding = find(migration, 'TK_RLS_NOT_FORCED', table);
        expect(finding.severity).toBe('warning');
        expect(finding.message).toContain('tk_owner');
        expect(finding.hint).toBe(`ALTER TABLE ${table.replace(/(\w+)\.(\w+)/, '"$1"."$2"')} FORCE ROW LEVEL SECURITY;`);
      }
      expect(migration.filter((f) => f.severity === 'error')).toEqual([]);
    });

    test('no permissive policy for the app: none, restrictive only, or written for another role', () => {
      for (const file of ['leak-06-no-policy.sql', 'leak-07-restrictive-only.sql', 'leak-08-policy-for-other-role.sql']) {
        const finding = find(of(file), 'TK_NO_POLICY_FOR_APP', 'public.documents');
        expect(finding.severity).toBe('warning');
        expect(finding.hint).toContain('CREATE POLICY tenant_isolation ON "public"."documents" TO "tk_app"');
      }
      expect(find(of('leak-08-policy-for-other-role.sql'), 'TK_NO_POLICY_FOR_APP', 'public.documents').message).toContain('TO tk_owner');
    });

    test('always-true USING and WITH CHECK name the policy, not its scoped neighbours', () => {
      const select = of('leak-09-select-using-true.sql');
      expect(find(select, 'TK_POLICY_ALWAYS_TRUE', 'public.documents.documents_read').severity).toBe('error');
      expectNone(select, 'TK_WITH_CHECK_ALWAYS_TRUE');

      const update = of('leak-10-update-using-true.sql');
      const hole = find(update, 'TK_POLICY_ALWAYS_TRUE', 'public.documents.documents_update');
      expect(hole.message).toContain('UPDATE t SET c = constant');
      expect(hole.hint).toBe(
        `ALTER POLICY "documents_update" ON "public"."documents" USING ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::uuid) WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::uuid);`,
      );
      expectNone(update, 'TK_POLICY_ALWAYS_TRUE', 'public.documents.documents_read');
      expectNone(update, 'TK_WITH_CHECK_ALWAYS_TRUE');

      find(of('leak-11-delete-one-equals-one.sql'), 'TK_POLICY_ALWAYS_TRUE', 'public.documents.documents_delete');

      const insert = find(of('leak-12-insert-check-true.sql'), 'TK_WITH_CHECK_ALWAYS_TRUE', 'public.documents.documents_insert');
      expect(insert.hint).toBe(`ALTER POLICY "documents_insert" ON "public"."documents" WITH CHECK ("tenant_id" = NULLIF(current_setting('app.tenant_id', true), '')::uuid);`);
      const moved = find(of('leak-13-update-check-true.sql'), 'TK_WITH_CHECK_ALWAYS_TRUE', 'public.documents.documents_update');
      expect(moved.message).toContain('WITH CHECK');
      expectNone(of('leak-13-update-check-true.sql'), 'TK_POLICY_ALWAYS_TRUE');
    });

    test('a switch the app can set itself: a bypass setting and a magic tenant value, warnings naming the setting', () => {
      const switches = of('leak-32-setting-switch.sql');
      const bypass = find(switches, 'TK_POLICY_SETTING_SWITCH', 'public.invoices.invoices_bypass');
      expect(bypass.severity).toBe('warning');
      expect(bypass.message).toContain("a value of 'app.bypass_rls' that a session can choose");
      expect(bypass.message).toContain('can read, insert, update and delete every tenant');
      expect(bypass.hint).toContain('DROP POLICY "invoices_bypass" ON "public"."invoices";');
      const magic = find(switches, 'TK_POLICY_SETTING_SWITCH', 'public.members.members_isolation');
      expect(magic.message).toContain("a value of 'app.workspace_id'");
      // Its WITH CHECK holds the tenant: only reading and changing are opened, not writing in.
      expect(magic.message).toContain('can read, update and delete every');
      expectNone(switches, 'TK_POLICY_SETTING_SWITCH', 'public.invoices.invoices_isolation');
      expectNone(switches, 'TK_POLICY_SETTING_SWITCH', 'public.workspaces.workspace_self');
      expectNone(switches, 'TK_POLICY_FAILS_OPEN');
      expectNone(switches, 'TK_POLICY_ALWAYS_TRUE');
      // A fail-open policy is reported as that alone, not also as a switch.
      expectNone(of('leak-14-fails-open-is-null.sql'), 'TK_POLICY_SETTING_SWITCH');
    });

    test('fail-open policies, permissive and restrictive, with bigint ids', () => {
      const isNull = find(of('leak-14-fails-open-is-null.sql'), 'TK_POLICY_FAILS_OPEN', 'public.documents.tenant_isolation');
      expect(isNull.severity).toBe('error');
      expect(isNull.message).toContain('never set (NULL)');
      expect(find(of('leak-15-fails-open-coalesce.sql'), 'TK_POLICY_FAILS_OPEN', 'public.documents.tenant_isolation').message).toContain('COALESCE');
      const empty = find(of('leak-16-fails-open-empty-string-bigint.sql'), 'TK_POLICY_FAILS_OPEN', 'public.orders.account_isolation');
      expect(empty.message).toContain("empty ('', after RESET");
      expect(empty.hint).toContain(`"account_id" = NULLIF(current_setting('app.tenant_id', true), '')::bigint`);
      const restrictive = find(of('leak-17-fails-open-nullif-restrictive.sql'), 'TK_POLICY_FAILS_OPEN', 'public.documents.tenant_only');
      expect(restrictive.message).toContain('restrictive');
      // The permissive USING (true) is narrowed by the restrictive policy when a tenant is set.
      expectNone(of('leak-17-fails-open-nullif-restrictive.sql'), 'TK_POLICY_ALWAYS_TRUE');
    });

    test('views: superuser or non-forced owner is an error, an owner subject to RLS a warning', () => {
      const notForced = find(of('leak-18-view-owner-not-forced.sql'), 'TK_VIEW_BYPASSES_RLS', 'public.document_titles');
      expect(notForced.severity).toBe('error');
      expect(notForced.message).toContain('without FORCE ROW LEVEL SECURITY');
      expect(notForced.hint).toContain('ALTER VIEW "public"."document_titles" SET (security_invoker = true)');
      const superuser = find(of('leak-19-view-superuser-owner.sql'), 'TK_VIEW_BYPASSES_RLS', 'public.recent_documents');
      expect(superuser.severity).toBe('error');
      expect(superuser.message).toContain('is a superuser');
      expect(find(of('leak-20-view-owner-subject.sql'), 'TK_VIEW_BYPASSES_RLS', 'public.document_titles').severity).toBe('warning');
      const chain = of('leak-30-view-chain.sql');
      expect(find(chain, 'TK_VIEW_BYPASSES_RLS', 'public.invoice_report').severity).toBe('error');
      expectNone(chain, 'TK_VIEW_BYPASSES_RLS', 'public.invoice_base');
    });

    test('materialized views, SECURITY DEFINER functions (prosrc and BEGIN ATOMIC bodies), TRUNCATE', () => {
      const matview = find(of('leak-21-matview.sql'), 'TK_MATVIEW_EXPOSES_TENANT_DATA', 'public.document_counts');
      expect(matview.message).toContain('public.documents');
      const definer = of('leak-22-security-definer.sql');
      expect(find(definer, 'TK_SECURITY_DEFINER_READS_TENANT_TABLE', 'public.search_documents(term text)').severity).toBe('warning');
      find(definer, 'TK_SECURITY_DEFINER_READS_TENANT_TABLE', 'public.count_documents()');
      expectNone(definer, 'TK_SECURITY_DEFINER_READS_TENANT_TABLE', 'public.tenant_name()');
      const truncate = find(of('leak-23-truncate.sql'), 'TK_TRUNCATE_GRANTED', 'public.documents');
      expect(truncate.hint).toBe('REVOKE TRUNCATE ON "public"."documents" FROM "tk_app"; -- and from PUBLIC or any role tk_app is a member of, if granted there');
    });

    test('partitions and inheritance children without RLS', () => {
      const partitions = of('leak-24-partition-without-rls.sql');
      for (const partition of ['public.events_p0', 'public.events_p1']) {
        const finding = find(partitions, 'TK_PARTITION_WITHOUT_RLS', partition);
        expect(finding.message).toContain('partition of public.events');
      }
      expectNone(partitions, 'TK_RLS_DISABLED');
      const child = find(of('leak-25-inheritance-child.sql'), 'TK_PARTITION_WITHOUT_RLS', 'public.measurements_2024');
      expect(child.message).toContain('inheritance child');
      expectNone(of('leak-25-inheritance-child.sql'), 'TK_RLS_DISABLED');
    });

    test('nullable tenant column, cross-tenant foreign keys, oracles and bypass policies', () => {
      const nullable = find(of('leak-26-nullable-tenant-column.sql'), 'TK_NULLABLE_TENANT_COLUMN', 'public.audit_logs.tenant_id');
      expect(nullable.hint).toContain('ALTER COLUMN "tenant_id" SET NOT NULL');
      const fk = find(of('leak-27-cross-tenant-fk.sql'), 'TK_CROSS_TENANT_FK', 'public.documents.documents_project_id_fkey');
      expect(fk.severity).toBe('warning');
      expect(fk.hint).toContain('ADD FOREIGN KEY ("tenant_id", "project_id") REFERENCES "public"."projects" ("tenant_id", "id")');
      const saas = of('leak-28-saas-documents-naive.sql');
      // Hints use the setting the schema's policies read.
      expect(find(saas, 'TK_RLS_DISABLED', 'public.tenants').hint).toContain(`"tenant_id" = NULLIF(current_setting('app.current_tenant_id', true), '')::uuid`);
      find(saas, 'TK_CROSS_TENANT_FK', 'public.documents.documents_user_id_fkey');
      expect(find(saas, 'TK_UNIQUE_WITHOUT_TENANT', 'public.users.users_email_key').severity).toBe('info');
      expect(find(saas, 'TK_BYPASS_POLICY_FOR_OTHER_ROLE', 'public.documents.uber_admin').severity).toBe('info');
      expect(find(saas, 'TK_NULLABLE_TENANT_COLUMN', 'public.audit_logs.tenant_id').severity).toBe('warning');
      // Global tables produce nothing of their own.
      expect(summary(saas.filter((f) => f.object.startsWith('public.templates')))).toEqual([]);
      // Surrogate primary keys (uuid) are not oracles.
      expectNone(saas, 'TK_UNIQUE_WITHOUT_TENANT', 'public.users.users_pkey');
      const info = of('leak-31-info-oracles.sql');
      expect(info.filter((f) => f.severity !== 'info')).toEqual([]);
      expect(find(info, 'TK_BYPASS_POLICY_FOR_OTHER_ROLE', 'public.users.support_access').message).toContain('tk_owner');
    });

    test('quoted names in their own schema', () => {
      const crm = of('leak-29-everything-wrong.sql');
      expect(find(crm, 'TK_RLS_DISABLED', 'Crm.Contacts').hint).toContain('ALTER TABLE "Crm"."Contacts" ENABLE ROW LEVEL SECURITY');
      find(crm, 'TK_TRUNCATE_GRANTED', 'Crm.Contacts');
      find(crm, 'TK_TRUNCATE_GRANTED', 'Crm.Deals');
      expect(find(crm, 'TK_VIEW_BYPASSES_RLS', 'Crm.Contact List').hint).toContain('ALTER VIEW "Crm"."Contact List" SET (security_invoker = true)');
      find(crm, 'TK_MATVIEW_EXPOSES_TENANT_DATA', 'Crm.Deal Totals');
      find(crm, 'TK_SECURITY_DEFINER_READS_TENANT_TABLE', 'Crm.Find Contact(needle text)');
      find(crm, 'TK_CROSS_TENANT_FK', 'Crm.Deals.Deals_contact_id_fkey');
    });

    test('the info findings of correct schemas are the admin policy and nothing else', () => {
      const admin = of('ok-06-admin-bypass-policy.sql');
      expect(summary(admin)).toEqual(['info TK_BYPASS_POLICY_FOR_OTHER_ROLE public.documents.uber_admin']);
    });
  });

  test('membership: policies TO a group and tables owned by a group the app belongs to', async () => {
    const kit = await startKit({
      backend,
      schema: `
DO $$ BEGIN CREATE ROLE tk_audit_members NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT tk_audit_members TO tk_app;
CREATE TABLE tenants (tenant_id uuid PRIMARY KEY);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON tenants USING (tenant_id = current_setting('app.tenant_id', true)::uuid);
CREATE TABLE documents (id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants);
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY members_read ON documents FOR SELECT TO tk_audit_members USING (true);
CREATE TABLE notes (id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes USING (tenant_id = current_setting('app.tenant_id', true)::uuid);
ALTER TABLE notes OWNER TO tk_audit_members;
GRANT SELECT ON tenants, documents TO tk_audit_members;
`,
      roles: { appGrants: 'none', migrateAs: 'admin' },
      poolSize: 0,
    });
    let findings: Finding[];
    try {
      findings = await auditSchema(kit, async (db) => {
        await expect(readCatalog(db, 'tk_no_such_role')).rejects.toMatchObject({ code: 'TENANTKIT_UNKNOWN_ROLE', object: 'tk_no_such_role', message: expect.stringContaining('What exists: ') });
      });
    } finally {
      await kit.stop();
    }
    const policy = find(findings, 'TK_POLICY_ALWAYS_TRUE', 'public.documents.members_read');
    expect(policy.message).toContain('TO tk_audit_members');
    const owner = find(findings, 'TK_RLS_NOT_FORCED', 'public.notes');
    expect(owner.severity).toBe('error');
    expect(owner.message).toContain('member of its owner tk_audit_members');
    expect(owner.hint).toContain('REVOKE "tk_audit_members" FROM "tk_app"');
  });
});

test('both backends report the same codes on the same objects', () => {
  const pglite = results.get('pglite');
  const native = results.get('native');
  if (!pglite?.size || !native?.size) return;
  for (const { file } of CORPUS) {
    const key = (findings: Finding[] | undefined) => (findings ?? []).map((f) => `${f.severity} ${f.code} ${f.object}`);
    expect(key(native.get(file)), file).toEqual(key(pglite.get(file)));
  }
});

describe('policy expressions', () => {
  const verdict = (text: string) => {
    const expr = parseExpression(text)!;
    const result: Record<Scenario, string> = { set: '', unset: '', empty: '', chosen: '' };
    for (const scenario of ['set', 'unset', 'empty', 'chosen'] as const) {
      const value = evaluate(expr, scenario, new Set(['tenant_id', 'owner_id']));
      result[scenario] = value.k === 'bool' ? String(value.v) : value.k;
    }
    return result;
  };

  test.each([
    ['true'],
    ['(1 = 1)'],
    ["('a'::text = 'a'::text)"],
    ["'t'::boolean"],
    ['(NOT false)'],
    ['(true OR (tenant_id = (current_setting(\'app.tenant_id\'::text, true))::uuid))'],
    ["(current_setting('app.tenant_id'::text, true) IS NOT NULL)"],
    // A request may set several settings: any one read as merely present opens the policy.
    ["((tenant_id = (current_setting('app.tenant_id'::text, true))::uuid) OR (NULLIF(current_setting('app.user_id'::text, true), ''::text) IS NOT NULL))"],
  ])('always true: %s', (text) => {
    expect(verdict(text).set).toBe('true');
  });

  test.each([
    ["(tenant_id = (current_setting('app.tenant_id'::text, true))::uuid)"],
    ["(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)"],
    ["(tenant_id = (current_setting('app.tenant_id'::text))::uuid)"],
    ["(tenant_id = (current_setting('app.tenant_id'::text, true))::bigint)"],
    ["(tenant_id = current_setting('app.tenant_id'::text, true))"],
    ["(tenant_id = COALESCE(current_setting('app.tenant_id'::text, true), '<none>'::text))"],
    ["(EXISTS ( SELECT 1 FROM projects p WHERE ((p.id = tasks.project_id) AND (p.tenant_id = (current_setting('app.tenant_id'::text, true))::uuid))))"],
    ["(tenant_id = ANY (ARRAY[(current_setting('app.tenant_id'::text, true))::uuid]))"],
    ["(tenant_id IN ( SELECT m.tenant_id FROM memberships m WHERE (m.user_id = (current_setting('app.user_id'::text, true))::uuid)))"],
    ["CASE WHEN (current_setting('app.tenant_id'::text, true) IS NULL) THEN false ELSE (tenant_id = (current_setting('app.tenant_id'::text, true))::uuid) END"],
    ["((owner_id)::text = current_setting('app.user_id'::text, true))"],
    ["(tenant_id = (((current_setting('request.jwt.claims'::text, true))::json ->> 'tenant_id'::text))::uuid)"],
    ["((current_setting('app.tenant_id'::text, true) <> ''::text) AND (tenant_id = (current_setting('app.tenant_id'::text, true))::uuid))"],
    ["(tenant_id = (current_setting('app.tenant_id'::text, true))::uuid) AND (current_setting('app.mode'::text, true) = 'on'::text)"],
  ])('fails closed: %s', (text) => {
    const notTrue = expect.not.stringMatching(/^true$/);
    expect(verdict(text)).toEqual({ set: notTrue, unset: notTrue, empty: notTrue, chosen: notTrue });
  });

  test.each([
    ["((current_setting('app.role'::text, true) = 'admin'::text) OR (tenant_id = (current_setting('app.tenant_id'::text, true))::uuid))"],
    ["(current_setting('app.bypass_rls'::text, true) = 'on'::text)"],
    ["(current_setting('app.bypass_rls'::text))::boolean"],
    ["((tenant_id = (current_setting('app.tenant_id'::text, true))::uuid) OR (current_setting('app.tenant_id'::text, true) = '*'::text))"],
    ["((tenant_id = (current_setting('app.tenant_id'::text))::uuid) OR ((current_setting('app.tenant_id'::text))::uuid = '00000000-0000-0000-0000-000000000000'::uuid))"],
    ["((tenant_id = (current_setting('app.tenant_id'::text, true))::uuid) OR (current_setting('app.support'::text, true) IS DISTINCT FROM 'off'::text))"],
  ])('a switch the session can set: %s', (text) => {
    const result = verdict(text);
    expect(result.set).not.toBe('true');
    expect(result.unset).not.toBe('true');
    expect(result.chosen).toBe('true');
  });

  test('the settings an expression reads, each once, casts looked through', () => {
    const expr = parseExpression("((tenant_id = (current_setting('app.tenant_id'::text, true))::uuid) OR (current_setting('app.bypass_rls'::text, true) = 'on'::text) OR (NULLIF(current_setting('app.tenant_id'::text), ''::text) IS NULL))")!;
    expect(settingsReadBy(expr)).toEqual(['app.tenant_id', 'app.bypass_rls']);
  });

  test.each([
    ["((current_setting('app.tenant_id'::text, true) IS NULL) OR (tenant_id = (current_setting('app.tenant_id'::text, true))::uuid))", 'unset'],
    ["(tenant_id = COALESCE((current_setting('app.tenant_id'::text, true))::uuid, tenant_id))", 'unset'],
    ["(tenant_id = COALESCE((NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid, tenant_id))", 'empty'],
    ["((NULLIF(current_setting('app.tenant_id'::text, true), ''::text) IS NULL) OR (tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid))", 'empty'],
    ["((current_setting('app.tenant_id'::text, true) = ''::text) OR (tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::bigint))", 'empty'],
    ["((COALESCE(current_setting('app.tenant_id'::text, true), ''::text) = ''::text) OR (tenant_id = (current_setting('app.tenant_id'::text, true))::uuid))", 'unset'],
    ["(tenant_id = COALESCE((((current_setting('request.jwt.claims'::text, true))::json ->> 'tenant_id'::text))::uuid, tenant_id))", 'unset'],
  ])('fails open: %s', (text, scenario) => {
    const result = verdict(text);
    expect(result.set).not.toBe('true');
    expect(result[scenario as Scenario]).toBe('true');
  });

  test('unreadable text is opaque, never true', () => {
    for (const text of ['(tenant_id = $1)', 'tenant_id = (', "f(VARIADIC ARRAY['a'])", '']) {
      const expr = parseExpression(text);
      if (expr) expect(evaluate(expr, 'set').k).not.toBe('bool');
    }
  });
});

describe('function body heuristic', () => {
  const tables = [
    { id: 'public.documents', schema: 'public', name: 'documents' },
    { id: 'Crm.Contacts', schema: 'Crm', name: 'Contacts' },
    { id: 'app.users', schema: 'app', name: 'users' },
  ];

  test.each([
    ['SELECT * FROM documents', ['public.documents']],
    ['select * from PUBLIC.Documents d', ['public.documents']],
    ['SELECT * FROM "public"."documents"', ['public.documents']],
    ["EXECUTE format('SELECT * FROM %I', 'documents')", ['public.documents']],
    ['SELECT * FROM "Crm"."Contacts"', ['Crm.Contacts']],
    ['SELECT * FROM crm.contacts', []],
    ['SELECT documents_count FROM stats', []],
    ['SELECT * FROM other.documents', []],
    ['SELECT * FROM app.users JOIN documents USING (id)', ['app.users', 'public.documents']],
    ['', []],
  ])('%s', (source, expected) => {
    expect(relationsNamedIn(source, tables)).toEqual(expected);
  });
});

describe('ordering', () => {
  test('severity first, then code, then object (code-point order)', () => {
    const make = (severity: Severity, code: string, object: string): Finding => ({ code: code as AuditCode, severity, object, message: 'm', hint: 'h' });
    const sorted = sortFindings([
      make('info', 'TK_A', 'x'),
      make('warning', 'TK_B', 'b'),
      make('error', 'TK_Z', 'a'),
      make('error', 'TK_A', 'b'),
      make('error', 'TK_A', 'B'),
      make('error', 'TK_A', 'B'),
    ]);
    expect(sorted.map((f) => `${f.severity} ${f.code} ${f.object}`)).toEqual(['error TK_A B', 'error TK_A b', 'error TK_Z a', 'warning TK_B b', 'info TK_A x']);
  });
});
