import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Kit, startKit } from '@tenantkit/testkit';
import { COVERAGE_ENV, readCoverageRecords } from '@tenantkit/testkit/internal';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { coverageJson, renderCoverage, renderCoverageHtml } from '../src/coverage/coverage-render.js';
import { policyCoverage } from '../src/coverage/policy-coverage.js';

const TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid";
const ACME = '00000000-0000-4000-8000-00000000000a';

const SCHEMA = `
CREATE TABLE tenants (tenant_id uuid PRIMARY KEY);
CREATE TABLE invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, total int NOT NULL);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY invoices_tenant ON invoices USING (tenant_id = ${TENANT});
-- Policies written, row level security never enabled: the policies are never applied.
CREATE TABLE drafts (id bigint PRIMARY KEY, tenant_id uuid NOT NULL);
CREATE POLICY drafts_tenant ON drafts USING (tenant_id = ${TENANT});
CREATE TABLE events (tenant_id uuid NOT NULL, kind text NOT NULL) PARTITION BY LIST (kind);
CREATE TABLE events_login PARTITION OF events FOR VALUES IN ('login');
CREATE TABLE events_other PARTITION OF events DEFAULT;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_tenant ON events USING (tenant_id = ${TENANT});
`;

describe('policy coverage report', () => {
  let kit: Kit;
  let dir: string;

  beforeAll(async () => {
    kit = await startKit({ schema: SCHEMA });
    dir = await mkdtemp(join(tmpdir(), 'tenantkit-policy-coverage-'));
  });
  afterAll(async () => {
    delete process.env[COVERAGE_ENV];
    await kit?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('cells are the tables with row level security or policies (partitions as their table); the rest is listed apart', async () => {
    process.env[COVERAGE_ENV] = dir;
    const db = await kit.acquire();
    try {
      await db.query('INSERT INTO tenants VALUES ($1)', [ACME]);
      await db.app.withTenant(ACME, async (tx) => {
        await tx.query('INSERT INTO invoices (tenant_id, total) VALUES ($1, 10)', [ACME]);
        await tx.query('SELECT i.total FROM invoices i JOIN tenants t USING (tenant_id)');
        await tx.query(`INSERT INTO events VALUES ($1, 'login')`, [ACME]);
        await tx.query('SELECT * FROM drafts');
        await tx.query(
          `MERGE INTO invoices i USING (SELECT $1::uuid AS tenant_id) s ON i.tenant_id = s.tenant_id WHEN MATCHED THEN UPDATE SET total = i.total + 1`,
          [ACME],
        );
      });
      // Refused (the app role has no TRUNCATE privilege), and still an attempt.
      const refused = await db.app.withTenant(ACME, (tx) => tx.query('TRUNCATE ONLY public.drafts, "events"')).catch((error: { code?: string }) => error.code);
      expect(refused).toBe('42501');
    } finally {
      await db.release();
      delete process.env[COVERAGE_ENV];
    }

    const catalog = await kit.acquire();
    try {
      const report = await policyCoverage(catalog, readCoverageRecords(dir), { appRole: catalog.app.role });
      expect([...new Set(report.cells.map((cell) => cell.table))]).toEqual(['public.drafts', 'public.events', 'public.invoices']);
      expect(report.cells.filter((cell) => cell.covered).map((cell) => `${cell.table} ${cell.command}`)).toEqual([
        'public.drafts SELECT',
        'public.events INSERT',
        'public.invoices SELECT',
        'public.invoices INSERT',
      ]);
      expect(report).toMatchObject({ verdict: 'gaps', coverage: 33.3, appRole: 'tk_app' });
      expect(report.truncates).toEqual([
        { table: 'public.drafts', statements: 1 },
        { table: 'public.events', statements: 1 },
        { table: 'public.invoices', statements: 0 },
      ]);
      expect(renderCoverage(report)).toContain('TRUNCATE as the app role (it ignores row level security; not in the figure): attempted on public.drafts (1), public.events (1); never on public.invoices.');
      expect(report.otherTables).toEqual([{ table: 'public.tenants', commands: ['SELECT'] }]);
      expect(report.policies.find((policy) => policy.name === 'drafts_tenant')?.gap).toBe('row level security is not enabled on public.drafts, so the policy is never applied');
      expect(report.policies.find((policy) => policy.name === 'invoices_tenant')).toMatchObject({ statements: 2 });
      expect(report.notAnalysed).toEqual([
        expect.objectContaining({ count: 1, reason: expect.stringMatching(/^MERGE into public\.invoices: which of INSERT, UPDATE and DELETE it runs is not in the plan/) }),
      ]);
      expect(report.uncovered).toContain('public.invoices: UPDATE never run as the app role with a tenant context');
      expect(renderCoverage(report)).toContain('Policy coverage 33.3%: 4 of 12 table x command cells ran as the app role with a tenant context; 2 of 3 policies exercised.');
      expect(renderCoverageHtml(report)).toContain('<li>public.events: SELECT never run as the app role with a tenant context</li>');
      expect(coverageJson(report)).toMatchObject({ verdict: 'gaps', coverage: 33.3 });

      // Nothing recorded: not proven, never a figure.
      const empty = await policyCoverage(catalog, readCoverageRecords(join(dir, 'none')), { appRole: catalog.app.role });
      expect(empty).toMatchObject({ verdict: 'not-proven', coverage: 0 });
      expect(empty.reason).toMatch(/^the tests recorded nothing/);
    } finally {
      await catalog.release();
    }
  });
});
