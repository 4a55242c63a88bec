import { type BackendKind, type Kit, startKit } from '@tenantkit/testkit';
import { afterEach, describe, expect, test } from 'vitest';
import { autoFactories, fixtureContext } from '@tenantkit/fixtures';
import { checkIsolation } from '../src/check.js';
import { handPickedWorld } from '../src/world.js';
import type { IsolationReport } from '../src/types.js';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

const TENANTS = `
CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_self ON tenants USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE TABLE notes (
  note_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants,
  body text NOT NULL,
  pinned boolean NOT NULL DEFAULT false
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
`;
const OWN = `tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid`;

/** Each schema and the checks that must fail on notes (empty: isolation must be proven). */
const SCHEMAS: { name: string; sql: string; failing: string[]; notProven?: string[] }[] = [
  { name: 'one correct policy', sql: `${TENANTS} CREATE POLICY p ON notes USING (${OWN});`, failing: [] },
  {
    name: 'per-command policies, all correct',
    sql: `${TENANTS}
      CREATE POLICY s ON notes FOR SELECT USING (${OWN});
      CREATE POLICY i ON notes FOR INSERT WITH CHECK (${OWN});
      CREATE POLICY u ON notes FOR UPDATE USING (${OWN}) WITH CHECK (${OWN});
      CREATE POLICY d ON notes FOR DELETE USING (${OWN});`,
    failing: [],
  },
  { name: 'RLS switched off', sql: `${TENANTS} ALTER TABLE notes DISABLE ROW LEVEL SECURITY;`, failing: ['read-foreign', 'insert-foreign', 'update-foreign', 'update-unfiltered', 'move', 'delete-foreign', 'delete-unfiltered', 'no-context'] },
  {
    name: 'UPDATE USING (true) behind a correct SELECT policy',
    sql: `${TENANTS}
      CREATE POLICY s ON notes FOR SELECT USING (${OWN});
      CREATE POLICY i ON notes FOR INSERT WITH CHECK (${OWN});
      CREATE POLICY u ON notes FOR UPDATE USING (true) WITH CHECK (${OWN});
      CREATE POLICY d ON notes FOR DELETE USING (${OWN});`,
    failing: ['update-unfiltered'],
  },
  {
    name: 'DELETE USING (true) behind a correct SELECT policy',
    sql: `${TENANTS}
      CREATE POLICY s ON notes FOR SELECT USING (${OWN});
      CREATE POLICY i ON notes FOR INSERT WITH CHECK (${OWN});
      CREATE POLICY u ON notes FOR UPDATE USING (${OWN});
      CREATE POLICY d ON notes FOR DELETE USING (true);`,
    failing: ['delete-unfiltered'],
  },
  { name: 'WITH CHECK (true)', sql: `${TENANTS} CREATE POLICY p ON notes USING (${OWN}) WITH CHECK (true);`, failing: ['insert-foreign', 'move'] },
  {
    name: 'fails open without a tenant',
    sql: `${TENANTS} CREATE POLICY p ON notes USING (NULLIF(current_setting('app.tenant_id', true), '') IS NULL OR ${OWN});`,
    failing: ['no-context'],
  },
  { name: 'deny-all: no policy for the app role', sql: `${TENANTS} CREATE POLICY p ON notes TO tk_owner USING (true);`, failing: [], notProven: ['read-own'] },
];

function failingOn(report: IsolationReport, table: string): string[] {
  return (report.tables.find((entry) => entry.table === table)?.checks ?? []).filter((check) => check.status === 'fail').map((check) => check.check);
}

/** Other ways to a tenant table's rows, each with the relation that must fail read-foreign. */
const EXPOSURES: { name: string; sql: string; migrateAs?: 'admin'; leaking: string; safe: string[] }[] = [
  {
    name: 'a view owned by a superuser, without security_invoker',
    sql: `${TENANTS} CREATE POLICY p ON notes USING (${OWN});
      CREATE VIEW all_notes AS SELECT * FROM notes;
      CREATE VIEW own_notes WITH (security_invoker = true) AS SELECT * FROM notes;`,
    migrateAs: 'admin',
    leaking: 'public.all_notes',
    safe: ['public.own_notes'],
  },
  {
    name: 'a partition without RLS, queried directly',
    sql: `${TENANTS} CREATE POLICY p ON notes USING (${OWN});
      CREATE TABLE events (event_id bigint GENERATED ALWAYS AS IDENTITY, tenant_id uuid NOT NULL REFERENCES tenants, kind text NOT NULL,
        PRIMARY KEY (tenant_id, event_id)) PARTITION BY HASH (tenant_id);
      CREATE TABLE events_0 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 0);
      CREATE TABLE events_1 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 1);
      ALTER TABLE events ENABLE ROW LEVEL SECURITY;
      ALTER TABLE events FORCE ROW LEVEL SECURITY;
      CREATE POLICY p ON events USING (${OWN});`,
    leaking: 'public.events_',
    safe: ['public.events'],
  },
];

describe.each(['pglite', 'native'] as BackendKind[])('checkIsolation on %s', (backend) => {
  const kits: Kit[] = [];
  // Each test's kit stops when the test ends: a PGlite instance holds ~190 MB, a native kit a server.
  afterEach(async () => {
    for (const kit of kits.splice(0)) await kit.stop();
  });

  test.each(SCHEMAS)('$name', async ({ sql, failing, notProven = [] }) => {
    const kit = await startKit({ backend, schema: sql, poolSize: 0 });
    kits.push(kit);
    await using db = await kit.acquire();
    const report = await checkIsolation(db, { skipAudit: true, seed: 1 });
    expect(failingOn(report, 'public.notes').sort()).toEqual([...failing].sort());
    const unproven = report.tables.find((entry) => entry.table === 'public.notes')!.checks.filter((check) => check.status === 'not-proven').map((check) => check.check);
    expect(unproven).toEqual(notProven);
    expect(report.ok).toBe(failing.length === 0 && notProven.length === 0);
    expect(report.tables.find((entry) => entry.table === 'public.tenants')?.kind).toBe('tenant-root');
  });

  test.each(EXPOSURES)('$name', async ({ sql, migrateAs, leaking, safe }) => {
    const kit = await startKit({ backend, schema: sql, poolSize: 0, ...(migrateAs ? { roles: { migrateAs } } : {}) });
    kits.push(kit);
    await using db = await kit.acquire();
    const report = await checkIsolation(db, { skipAudit: true, seed: 2 });
    const readForeign = (table: string) => report.tables.find((entry) => entry.table === table)?.checks.find((check) => check.check === 'read-foreign')?.status;
    const failing = report.tables.filter((entry) => readForeign(entry.table) === 'fail').map((entry) => entry.table);
    // Hash partitioning may put both tenants in one partition: at least one partition must show the leak.
    expect(failing.length).toBeGreaterThan(0);
    expect(failing.every((table) => table.startsWith(leaking))).toBe(true);
    for (const table of safe) expect(readForeign(table)).toBe('pass');
    expect(report.ok).toBe(false);
  });
});

test('one table probed against rows picked by hand with the factories', async () => {
  await using kit = await startKit({ backend: 'pglite', schema: `${TENANTS} CREATE POLICY p ON notes USING (${OWN});` });
  await using db = await kit.acquire();
  const factories = await autoFactories(db);
  const fx = fixtureContext(db, { seed: 4 });
  const [a, b] = await factories.get('tenants').createList(fx, 2);
  const tenantIds = [String(a!.tenant_id), String(b!.tenant_id)] as const;
  const notes = factories.get('notes');
  const rows = {
    [tenantIds[0]]: await notes.forTenant(tenantIds[0]).createList(fx, 2, { body: 'hand-picked' }),
    [tenantIds[1]]: [await notes.forTenant(tenantIds[1]).create(fx, { body: 'the victim' })],
  };
  const world = handPickedWorld(tenantIds, [{ table: 'public.notes', primaryKey: ['note_id'], rows }]);
  const report = await checkIsolation(db, { world, tables: ['notes'], skipAudit: true });
  expect(report.ok).toBe(true);
  const checks = report.tables.find((entry) => entry.table === 'public.notes')!.checks;
  expect(checks.find((check) => check.check === 'read-own')?.detail).toContain('sees its 2 row(s)');
  const tenants = report.tables.find((entry) => entry.table === 'public.tenants')!;
  expect(tenants.status).toBe('not-selected');
  expect(tenants.checks.every((check) => check.status === 'n/a')).toBe(true);
});

test.each([
  { name: 'a single-column foreign key', fk: 'note_id bigint NOT NULL REFERENCES notes', proven: true },
  { name: 'a composite foreign key with the tenant', fk: 'note_id bigint NOT NULL, FOREIGN KEY (tenant_id, note_id) REFERENCES notes (tenant_id, note_id)', proven: false },
])('a write through $name to the other tenant\'s parent', async ({ fk, proven }) => {
  await using kit = await startKit({
    backend: 'pglite',
    schema: `${TENANTS} CREATE POLICY p ON notes USING (${OWN});
      ALTER TABLE notes ADD UNIQUE (tenant_id, note_id);
      CREATE TABLE comments (comment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, ${fk}, body text NOT NULL);
      ALTER TABLE comments ENABLE ROW LEVEL SECURITY;
      CREATE POLICY p ON comments USING (${OWN});`,
  });
  await using db = await kit.acquire();
  const report = await checkIsolation(db, { skipAudit: true, seed: 3 });
  const written = report.findings.filter((finding) => finding.code === 'TK_CROSS_TENANT_REFERENCE_WRITTEN');
  expect(written.map((finding) => finding.severity)).toEqual(proven ? ['warning'] : []);
  expect(report.ok).toBe(true);
});

test('the audit speaks of the setting the probes set, found through a wrapper, beside a bypass switch the policies read directly', async () => {
  // The policies read app.bypass_rls in their own text and the tenant only through current_tenant():
  // counted in policy text alone, the bypass switch would pass for the tenant setting.
  await using kit = await startKit({
    backend: 'pglite',
    schema: `
      CREATE FUNCTION current_tenant() RETURNS uuid LANGUAGE sql STABLE
        AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
      CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);
      ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
      ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
      CREATE POLICY tenant_self ON tenants USING (tenant_id = current_tenant());
      CREATE POLICY tenant_bypass ON tenants USING (current_setting('app.bypass_rls', true) = 'on');
      CREATE TABLE notes (note_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, body text NOT NULL);
      GRANT SELECT ON tenants TO tk_app;
      GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO tk_app;`,
    poolSize: 0,
  });
  await using db = await kit.acquire();
  const report = await checkIsolation(db, { seed: 3 });
  expect(report.setup.context).toBe('SET LOCAL app.tenant_id = <tenant>');
  const disabled = report.findings.find((finding) => finding.code === 'TK_RLS_DISABLED' && finding.object === 'public.notes');
  expect(disabled?.hint).toContain(`current_setting('app.tenant_id', true)`);
  expect(disabled?.hint).not.toContain('app.bypass_rls');
  const bypass = report.findings.find((finding) => finding.code === 'TK_POLICY_SETTING_SWITCH');
  expect(bypass?.object).toBe('public.tenants.tenant_bypass');
  expect(bypass?.message).toContain("a value of 'app.bypass_rls'");
  expect(report.ok).toBe(false);
});
