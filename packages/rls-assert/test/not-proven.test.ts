import { type BackendKind, type Kit, TenantkitError, startKit } from '@tenantkit/testkit';
import { afterEach, describe, expect, test } from 'vitest';
import { checkIsolation } from '../src/check.js';
import type { IsolationReport } from '../src/types.js';

process.env.TENANTKIT_QUIET ??= '1';
delete process.env.TENANTKIT_BACKEND;

/**
 * A green must mean isolated: every way the kit could fail to demonstrate something ends as
 * not proven (or failed), never as a pass, on PGlite and on a real server alike.
 */
const WORKSPACES = `
CREATE TABLE workspaces (workspace_id uuid PRIMARY KEY, name text NOT NULL);
CREATE TABLE boards (
  board_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  workspace_id uuid NOT NULL REFERENCES workspaces,
  title text NOT NULL,
  position int NOT NULL DEFAULT 0
);
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
ALTER TABLE boards ENABLE ROW LEVEL SECURITY;
ALTER TABLE boards FORCE ROW LEVEL SECURITY;
CREATE POLICY own ON workspaces USING (workspace_id = NULLIF(current_setting('app.workspace', true), '')::uuid);
CREATE POLICY own ON boards USING (workspace_id = NULLIF(current_setting('app.workspace', true), '')::uuid);
`;
const GRANTS = 'GRANT SELECT, INSERT, UPDATE, DELETE ON workspaces, boards TO tk_app;';

function cells(report: IsolationReport, table: string): Record<string, string> {
  return Object.fromEntries(report.tables.find((entry) => entry.table === table)!.checks.map((check) => [check.check, check.status]));
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return error instanceof TenantkitError ? error.code : error === undefined ? undefined : `not a TenantkitError: ${String(error)}`;
}

describe.each(['pglite', 'native'] as BackendKind[])('nothing vacuous on %s', (backend) => {
  const kits: Kit[] = [];
  // Each test's kit stops when the test ends: a PGlite instance holds ~190 MB, a native kit a server.
  afterEach(async () => {
    for (const kit of kits.splice(0)) await kit.stop();
  });
  const open = async (schema: string) => {
    const kit = await startKit({ backend, schema, poolSize: 0, roles: { appGrants: 'none' } });
    kits.push(kit);
    return kit.acquire();
  };

  test('migrations that grant the app role nothing are not proven, and the report names both ways out', async () => {
    await using db = await open(WORKSPACES);
    const report = await checkIsolation(db, { seed: 2 });
    expect(report.ok).toBe(false);
    expect(report.tables.filter((table) => table.kind !== 'global').map((table) => table.status)).toEqual(['not-proven', 'not-proven']);
    expect(cells(report, 'public.boards')['read-own']).toBe('not-proven');
    const finding = report.findings.find((entry) => entry.code === 'TK_APP_ROLE_REACHES_NO_TENANT_TABLE');
    expect(finding?.severity).toBe('error');
    expect(finding?.hint).toMatch(/--app-grants crud[\s\S]*--app-role/);
  });

  test('with a USING (true) policy added, still not proven; with the grants, the leak fails', async () => {
    await using bare = await open(`${WORKSPACES} CREATE POLICY peek ON boards FOR SELECT USING (true);`);
    expect((await checkIsolation(bare, { seed: 2 })).ok).toBe(false);
    await using granted = await open(`${WORKSPACES} CREATE POLICY peek ON boards FOR SELECT USING (true); ${GRANTS}`);
    const report = await checkIsolation(granted, { seed: 2 });
    expect(report.ok).toBe(false);
    expect(cells(report, 'public.boards')['read-foreign']).toBe('fail');
  });

  test('a schema with no policy at all needs no tenant context: its tenant tables fail', async () => {
    await using db = await open(`CREATE TABLE notes (id int PRIMARY KEY, tenant_id uuid NOT NULL, body text);\n${'GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO tk_app;'}`);
    const report = await checkIsolation(db, { seed: 2 });
    expect(report.ok).toBe(false);
    expect(report.tables.find((table) => table.table === 'public.notes')?.status).toBe('failed');
    expect(cells(report, 'public.notes')['read-foreign']).toBe('fail');
  });

  test('the correct schema with the grants is proven, every cell pass or n/a', async () => {
    await using db = await open(`${WORKSPACES} ${GRANTS}`);
    const report = await checkIsolation(db, { seed: 2 });
    expect(report.ok).toBe(true);
    expect(Object.values(cells(report, 'public.boards')).every((status) => status === 'pass')).toBe(true);
    expect(cells(report, 'public.workspaces')).toMatchObject({ 'insert-foreign': 'n/a', move: 'n/a', 'read-own': 'pass' });
    expect(report.setup).toEqual({ appRole: 'tk_app', context: 'SET LOCAL app.workspace = <tenant>', backend });
  });

  test('inputs that name nothing are named errors', async () => {
    await using db = await open(`${WORKSPACES} ${GRANTS}`);
    expect(await codeOf(checkIsolation(db, { tenantColumns: ['workspaceid'] }))).toBe('TENANTKIT_UNKNOWN_TENANT_COLUMN');
    expect(await codeOf(checkIsolation(db, { globalTables: ['public.bords'] }))).toBe('TENANTKIT_UNKNOWN_TABLE');
    expect(await codeOf(checkIsolation(db, { tenantSetting: 'app.workspace_id' }))).toBe('TENANTKIT_UNKNOWN_TENANT_SETTING');
    expect(await codeOf(checkIsolation(db, { allowNotProven: ['boards:read-own'] }))).toBe('TENANTKIT_UNKNOWN_CHECK');
    expect(await codeOf(checkIsolation(db, { allowNotProven: ['cards:move'] }))).toBe('TENANTKIT_UNKNOWN_TABLE');
  });

  test('a schema with no tenant-scoped table is not proven, saying which columns were looked for', async () => {
    await using db = await open(`${WORKSPACES} ${GRANTS}`);
    const report = await checkIsolation(db, { globalTables: ['workspaces', 'boards'] });
    expect(report.ok).toBe(false);
    expect(report.findings.find((finding) => finding.code === 'TK_NO_TENANT_TABLE')?.message).toContain('tenant_id');
  });

  test('a probe whose statement errors for another reason is not proven, never a pass; an accepted gap is listed', async () => {
    // A trigger that refuses every UPDATE and DELETE: nothing about the policies is learnt from them.
    await using db = await open(`${WORKSPACES} ${GRANTS}
      CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boards are append-only'; END $$;
      CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON boards FOR EACH ROW EXECUTE FUNCTION refuse();`);
    const report = await checkIsolation(db, { seed: 2 });
    expect(report.ok).toBe(false);
    const gaps = report.tables.flatMap((table) => table.checks.filter((check) => check.status === 'not-proven').map((check) => `${table.table}:${check.check}`));
    // The trigger stops every write that reaches a row, the tenant's own included; the tenants table's
    // unfiltered DELETE cannot clear the tenant's own boards first.
    expect(gaps.sort()).toEqual(['public.boards:delete-unfiltered', 'public.boards:move', 'public.boards:update-unfiltered', 'public.workspaces:delete-unfiltered']);
    expect(report.tables.flatMap((table) => table.checks).some((check) => check.status === 'fail')).toBe(false);
    // A database of its own: on PGlite the first run has set the tenant on the one session.
    await using again = await open(`${WORKSPACES} ${GRANTS}
      CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boards are append-only'; END $$;
      CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON boards FOR EACH ROW EXECUTE FUNCTION refuse();`);
    const accepted = await checkIsolation(again, { seed: 2, allowNotProven: gaps });
    const unproven = accepted.tables.flatMap((table) => table.checks.filter((check) => check.status === 'not-proven').map((check) => [table.table, check.check, Boolean(check.allowed)]));
    expect(unproven.length).toBeGreaterThan(0);
    expect(unproven.every(([, , allowed]) => allowed)).toBe(true);
    expect(accepted.ok).toBe(true);
  });

  test('a COALESCE(setting, column) policy fails no-context: a session that never set the tenant sees every row', async () => {
    await using db = await open(`${WORKSPACES} ${GRANTS}
      DROP POLICY own ON boards;
      CREATE POLICY own ON boards USING (workspace_id::text = COALESCE(current_setting('app.workspace', true), workspace_id::text));`);
    const report = await checkIsolation(db, { seed: 2, skipAudit: true });
    const noContext = report.tables.find((table) => table.table === 'public.boards')!.checks.find((check) => check.check === 'no-context')!;
    expect(noContext.status).toBe('fail');
    expect(noContext.detail).toContain('never set a tenant');
  });

  test('findings and details name the role given as appRole, not the kit\'s login', async () => {
    await using db = await open(`${WORKSPACES}`);
    const report = await checkIsolation(db, { seed: 2, appRole: 'web_user' });
    expect(report.setup.appRole).toBe('web_user');
    const text = JSON.stringify(report);
    expect(text).toContain('web_user');
    expect(text).not.toMatch(/\btk_app\b/);
  });
});

test('on PGlite, once the tenant setting was set on the one session, no-context is not proven rather than passed', async () => {
  await using kit = await startKit({ backend: 'pglite', schema: `${WORKSPACES} ${GRANTS}`, poolSize: 0, roles: { appGrants: 'none' } });
  await using db = await kit.acquire();
  await db.app.transaction(async (tx) => {
    await tx.query("SELECT set_config('app.workspace', '00000000-0000-4000-8000-000000000001', true)");
    await tx.query('SELECT count(*) FROM boards');
    // Emptied again, as the end of a transaction would leave it: '' from now on, never NULL.
    await tx.query("SELECT set_config('app.workspace', '', true)");
  });
  const report = await checkIsolation(db, { seed: 2 });
  const noContext = report.tables.find((table) => table.table === 'public.boards')!.checks.find((check) => check.check === 'no-context')!;
  expect(noContext.status).toBe('not-proven');
  expect(noContext.detail).toContain('app.workspace was already set');
  expect(report.ok).toBe(false);
});
