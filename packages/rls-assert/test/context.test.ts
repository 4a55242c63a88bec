import { type Kit, type TestDatabase, startKit } from '@tenantkit/testkit';
import { type OpenSession, connectPg } from '@tenantkit/testkit/internal';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type TenantContext,
  assertNoLeak,
  contextFor,
  customContext,
  detectTenantContext,
  detectTenantSetting,
  gucContext,
  jwtClaimsContext,
  rolePerTenantContext,
} from '../src/context.js';
import { ContextLeakError } from '@tenantkit/testkit';
import { TenantContextError, isRlsAssertError } from '../src/errors.js';

const SCHEMA = `
CREATE ROLE authenticated NOLOGIN;
GRANT authenticated TO tk_app;

CREATE SCHEMA guc;
CREATE TABLE guc.notes (id int PRIMARY KEY, tenant_id text NOT NULL);
CREATE TABLE guc.tasks (id int PRIMARY KEY, tenant_id text NOT NULL, owner_id text);
CREATE TABLE guc.comments (id int PRIMARY KEY, tenant_id uuid NOT NULL);
ALTER TABLE guc.notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE guc.tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE guc.comments ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_tenant ON guc.notes USING (tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY tasks_tenant ON guc.tasks USING (tenant_id = current_setting('app.tenant_id'))
  WITH CHECK (tenant_id = current_setting('app.tenant_id'));
CREATE POLICY tasks_owner ON guc.tasks AS RESTRICTIVE USING (owner_id = current_setting('app.user_id', true));
CREATE POLICY comments_tenant ON guc.comments USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
INSERT INTO guc.notes VALUES (1, 'a'), (2, 'b'), (3, 'a');

CREATE SCHEMA jwt;
CREATE TABLE jwt.docs (id int PRIMARY KEY, tenant_id text NOT NULL);
CREATE TABLE jwt.items (id int PRIMARY KEY, org_id text NOT NULL);
ALTER TABLE jwt.docs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jwt.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_tenant ON jwt.docs
  USING (tenant_id = (current_setting('request.jwt.claims', true)::json ->> 'tenant_id'));
CREATE POLICY items_org ON jwt.items
  USING (org_id = (current_setting('request.jwt.claims', true)::jsonb -> 'app_metadata' ->> 'org_id'));
INSERT INTO jwt.docs VALUES (1, 'a'), (2, 'b');
INSERT INTO jwt.items VALUES (1, 'a'), (2, 'b');

CREATE SCHEMA auth;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''), nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
CREATE SCHEMA supa;
CREATE TABLE supa.projects (id int PRIMARY KEY, tenant_id text NOT NULL);
ALTER TABLE supa.projects ENABLE ROW LEVEL SECURITY;
CREATE POLICY projects_tenant ON supa.projects TO authenticated USING (tenant_id = (auth.jwt() ->> 'tenant_id'));
INSERT INTO supa.projects VALUES (1, 'a'), (2, 'b');

CREATE SCHEMA fn;
CREATE FUNCTION fn.current_org() RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN nullif(current_setting('app.org_id', true), '');
END
$$;
CREATE TABLE fn.accounts (id int PRIMARY KEY, org_id text NOT NULL);
ALTER TABLE fn.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY accounts_org ON fn.accounts USING (org_id = fn.current_org());
INSERT INTO fn.accounts VALUES (1, 'a'), (2, 'b');

CREATE SCHEMA roles;
CREATE ROLE rls_ctx_tenant_a NOLOGIN;
CREATE ROLE rls_ctx_tenant_b NOLOGIN;
GRANT rls_ctx_tenant_a, rls_ctx_tenant_b TO tk_app;
CREATE TABLE roles.docs (id int PRIMARY KEY, owner_role name NOT NULL);
ALTER TABLE roles.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_role ON roles.docs USING (owner_role = current_user);
INSERT INTO roles.docs VALUES (1, 'rls_ctx_tenant_a'), (2, 'rls_ctx_tenant_b');
GRANT USAGE ON SCHEMA roles TO rls_ctx_tenant_a, rls_ctx_tenant_b;
GRANT SELECT ON roles.docs TO rls_ctx_tenant_a, rls_ctx_tenant_b;

GRANT USAGE ON SCHEMA jwt, supa, auth TO authenticated;
GRANT SELECT ON ALL TABLES IN SCHEMA jwt, supa TO authenticated;
GRANT EXECUTE ON FUNCTION auth.jwt() TO authenticated;
`;

const t = (schema: string, name: string) => ({ schema, name });

async function ids(session: OpenSession, table: string): Promise<number[]> {
  const { rows } = await session.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`);
  return rows.map((row) => row.id);
}

async function state(session: OpenSession, setting: string): Promise<{ value: string | null; role: string }> {
  const { rows } = await session.query<{ value: string | null; role: string }>(
    'SELECT current_setting($1, true) AS value, current_user::text AS role',
    [setting],
  );
  return rows[0]!;
}

describe.each(['system', 'embedded'] as const)('tenant context on a real server (%s binaries)', (binaries) => {
  let kit: Kit;
  let db: TestDatabase;
  let app: OpenSession;

  beforeAll(async () => {
    kit = await startKit({ backend: 'native', native: { binaries }, schema: SCHEMA, roles: { migrateAs: 'admin' }, poolSize: 0 });
    db = await kit.acquire();
  });

  afterAll(async () => {
    await db?.release();
    await kit?.stop();
  });

  /** A fresh login connection as the app role for each test: the one whose state is inspected. */
  async function withApp(fn: () => Promise<void>): Promise<void> {
    app = await connectPg(db.app.url!);
    try {
      await fn();
    } finally {
      await app.close();
    }
  }

  /** Applies the context in a transaction ended by `end`, then checks the same connection is clean. */
  async function roundTrip(context: TenantContext, tenant: string, end: 'COMMIT' | 'ROLLBACK', inside: () => Promise<void>): Promise<void> {
    await app.exec('BEGIN');
    try {
      await context.apply(app, tenant);
      await inside();
    } finally {
      await app.exec(end);
    }
    await assertNoLeak(app, context);
  }

  describe.each(['COMMIT', 'ROLLBACK'] as const)('each strategy lasts only for its transaction (%s)', (end) => {
    test('gucContext', () =>
      withApp(async () => {
        const context = gucContext('app.tenant_id');
        expect(context.description).toContain('SET LOCAL app.tenant_id');
        await roundTrip(context, 'a', end, async () => {
          expect((await state(app, 'app.tenant_id')).value).toBe('a');
          expect(await ids(app, 'guc.notes')).toEqual([1, 3]);
        });
        expect(await state(app, 'app.tenant_id')).toEqual({ value: '', role: 'tk_app' });
        expect(await ids(app, 'guc.notes')).toEqual([]);
        await assertNoLeak(app, 'app.tenant_id');
      }));

    test('rolePerTenantContext', () =>
      withApp(async () => {
        const context = rolePerTenantContext((tenant) => `rls_ctx_tenant_${tenant}`);
        await roundTrip(context, 'b', end, async () => {
          expect((await state(app, 'role')).role).toBe('rls_ctx_tenant_b');
          expect(await ids(app, 'roles.docs')).toEqual([2]);
        });
        expect((await state(app, 'role')).role).toBe('tk_app');
      }));

    test('jwtClaimsContext', () =>
      withApp(async () => {
        const context = jwtClaimsContext({ extraClaims: { sub: 'user-1' } });
        await roundTrip(context, 'a', end, async () => {
          const inside = await state(app, 'request.jwt.claims');
          expect(inside.role).toBe('authenticated');
          expect(JSON.parse(inside.value!)).toEqual({ role: 'authenticated', sub: 'user-1', tenant_id: 'a' });
          expect(await ids(app, 'jwt.docs')).toEqual([1]);
          expect(await ids(app, 'supa.projects')).toEqual([1]);
        });
        expect(await state(app, 'request.jwt.claims')).toEqual({ value: '', role: 'tk_app' });
      }));

    test('jwtClaimsContext with a nested claim', () =>
      withApp(async () => {
        const context = jwtClaimsContext({ claim: ['app_metadata', 'org_id'], extraClaims: { app_metadata: { plan: 'pro' } } });
        await roundTrip(context, 'b', end, async () => {
          expect(JSON.parse((await state(app, 'request.jwt.claims')).value!)).toEqual({
            role: 'authenticated',
            app_metadata: { plan: 'pro', org_id: 'b' },
          });
          expect(await ids(app, 'jwt.items')).toEqual([2]);
        });
      }));

    test('customContext', () =>
      withApp(async () => {
        const context = customContext(
          async (tx, tenant) => {
            await tx.query(`SELECT set_config('app.org_id', $1, true)`, [tenant]);
          },
          { description: 'app.org_id through set_config', settings: ['app.org_id'] },
        );
        await roundTrip(context, 'b', end, async () => {
          expect(await ids(app, 'fn.accounts')).toEqual([2]);
        });
        expect((await state(app, 'app.org_id')).value).toBe('');
      }));
  });

  test('the cleared value sets an explicitly empty context that shows nothing', () =>
    withApp(async () => {
      for (const [context, table] of [
        [gucContext('app.tenant_id'), 'guc.notes'],
        [jwtClaimsContext(), 'jwt.docs'],
      ] as const) {
        expect(context.clearedValue).toBe('');
        await app.exec('BEGIN');
        try {
          await context.apply(app, context.clearedValue!);
          const rows = await ids(app, table).catch((error: { code?: string }) => error.code);
          // Either nothing is visible, or the policy fails closed on the empty JSON (22P02).
          expect(rows === '22P02' || (Array.isArray(rows) && rows.length === 0)).toBe(true);
        } finally {
          await app.exec('ROLLBACK');
        }
      }
      expect(rolePerTenantContext((tenant) => tenant).clearedValue).toBeUndefined();
    }));

  test('a context error reads as sentences: no doubled full stop when what happened ends with one', () => {
    const error = new TenantContextError('policies', 'the kit cannot tell how a tenant is chosen.', 'Pass tenantSetting.');
    expect(error.message).toBe('Tenant context policies: the kit cannot tell how a tenant is chosen. Pass tenantSetting.');
    expect(new TenantContextError('x', 'no setting', 'Fix it.').message).toBe('Tenant context x: no setting. Fix it.');
  });

  test('a setting name Postgres would refuse (42602 at the first probe) is refused when the context is made', () => {
    for (const bad of ['bad name;', 'tenant', 'app.tenant-id']) {
      expect(() => gucContext(bad), bad).toThrow(TenantContextError);
      expect(() => gucContext(bad)).toThrow(/is not a name Postgres accepts for a custom setting .*e\.g\. app\.tenant_id/);
    }
    expect(gucContext('app.tenant_id').settings).toEqual(['app.tenant_id']);
  });

  test('applying outside a transaction is refused: the LOCAL context would already be gone', () =>
    withApp(async () => {
      const guc = await gucContext('app.tenant_id').apply(app, 'a').catch((error: unknown) => error);
      expect(guc).toBeInstanceOf(TenantContextError);
      expect(isRlsAssertError(guc, 'TENANTKIT_TENANT_CONTEXT')).toBe(true);
      expect((guc as Error).message).toContain('inside a transaction');
      const role = await rolePerTenantContext((tenant) => `rls_ctx_tenant_${tenant}`).apply(app, 'a').catch((error: unknown) => error);
      expect(role).toBeInstanceOf(TenantContextError);
      expect((await state(app, 'app.tenant_id')).role).toBe('tk_app');
    }));

  test('a tenant role that does not exist is a TenantContextError naming the fix', () =>
    withApp(async () => {
      await app.exec('BEGIN');
      try {
        const error = await rolePerTenantContext((tenant) => `rls_ctx_tenant_${tenant}`).apply(app, 'zz').catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(TenantContextError);
        expect((error as TenantContextError).object).toBe('rls_ctx_tenant_zz');
        expect((error as Error).message).toContain('GRANT "rls_ctx_tenant_zz" TO');
      } finally {
        await app.exec('ROLLBACK');
      }
    }));

  test('assertNoLeak catches a session-level SET, on the same connection', () =>
    withApp(async () => {
      await app.exec(`SET app.tenant_id = 'a'`);
      const error = await assertNoLeak(app, 'app.tenant_id').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ContextLeakError);
      expect(error).toMatchObject({ code: 'TENANTKIT_CONTEXT_LEAK', setting: 'app.tenant_id', value: 'a', object: 'app.tenant_id' });
      expect((error as Error).message).toContain('SET LOCAL');
      await app.exec('RESET app.tenant_id');
      await assertNoLeak(app, 'app.tenant_id');

      // The same inside a transaction: plain SET and set_config(..., false) outlive the COMMIT.
      await app.exec(`BEGIN; SET app.tenant_id = 'b'; COMMIT`);
      await expect(assertNoLeak(app, gucContext('app.tenant_id'))).rejects.toMatchObject({ value: 'b' });
      await app.exec(`BEGIN; SELECT set_config('request.jwt.claims', '{"tenant_id":"b"}', false); COMMIT`);
      await expect(assertNoLeak(app, jwtClaimsContext({ role: null }))).rejects.toBeInstanceOf(ContextLeakError);
    }));

  test('assertNoLeak catches a session-level SET ROLE for a context that switches roles', () =>
    withApp(async () => {
      const context = rolePerTenantContext((tenant) => `rls_ctx_tenant_${tenant}`);
      await app.exec('SET ROLE rls_ctx_tenant_a');
      const error = await assertNoLeak(app, context).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ContextLeakError);
      expect(error).toMatchObject({ setting: 'role', value: 'rls_ctx_tenant_a' });
      expect((error as Error).message).toContain('SET LOCAL ROLE');
      await assertNoLeak(app, context, { role: 'rls_ctx_tenant_a' });
    }));

  test('detects a GUC setting from the policies', async () => {
    expect(await detectTenantSetting(db, [t('guc', 'notes'), t('guc', 'tasks'), t('guc', 'comments')])).toEqual({
      kind: 'guc',
      setting: 'app.tenant_id',
      policies: 3,
    });
    // The restrictive owner policy reads app.user_id, but fewer policies do.
    expect(await detectTenantSetting(db, [t('guc', 'tasks')])).toMatchObject({ kind: 'guc', setting: 'app.tenant_id' });
    expect(await detectTenantSetting(db)).toMatchObject({ kind: 'guc', setting: 'app.tenant_id', policies: 3 });
  });

  test('detects JWT claims, plain and nested', async () => {
    expect(await detectTenantSetting(db, [t('jwt', 'docs')])).toEqual({
      kind: 'jwt',
      claimsSetting: 'request.jwt.claims',
      claim: 'tenant_id',
      path: ['tenant_id'],
      policies: 1,
    });
    expect(await detectTenantSetting(db, [t('jwt', 'items')])).toMatchObject({
      kind: 'jwt',
      claim: 'org_id',
      path: ['app_metadata', 'org_id'],
    });
  });

  test('detects settings read through functions the policies call', async () => {
    expect(await detectTenantSetting(db, [t('supa', 'projects')])).toMatchObject({
      kind: 'jwt',
      claimsSetting: 'request.jwt.claims',
      claim: 'tenant_id',
    });
    expect(await detectTenantSetting(db, [t('fn', 'accounts')])).toEqual({ kind: 'guc', setting: 'app.org_id', policies: 1 });
  });

  test('a detected context works as-is', () =>
    withApp(async () => {
      const jwt = await detectTenantContext(db, [t('jwt', 'docs'), t('supa', 'projects')]);
      await roundTrip(jwt, 'b', 'COMMIT', async () => {
        expect(await ids(app, 'jwt.docs')).toEqual([2]);
        expect(await ids(app, 'supa.projects')).toEqual([2]);
      });
      const detected = await detectTenantSetting(db, [t('fn', 'accounts')]);
      await roundTrip(contextFor(detected!), 'a', 'ROLLBACK', async () => {
        expect(await ids(app, 'fn.accounts')).toEqual([1]);
      });
    }));

  test('nothing to detect: undefined, and a TenantContextError explaining how to pass it', async () => {
    expect(await detectTenantSetting(db, [t('roles', 'docs')])).toBeUndefined();
    const error = await detectTenantContext(db, [t('roles', 'docs')]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TenantContextError);
    expect((error as TenantContextError).object).toBe('roles.docs');
    expect((error as Error).message).toContain("gucContext('app.tenant_id')");
    expect((error as Error).message).toContain('rolePerTenantContext');
  });
});
