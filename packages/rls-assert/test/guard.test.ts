import { InvalidOptionError, type Kit, type TestDatabase, TenantkitError, startKit } from '@tenantkit/testkit';
import { connectPg } from '@tenantkit/testkit/internal';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BypassingIdentityError, isRlsAssertError } from '../src/errors.js';
import { assertProvingIdentity } from '../src/guard.js';

const PASSWORD = 'guard-secret';

const TABLES = `
CREATE TABLE public.notes (id int PRIMARY KEY, tenant_id text NOT NULL, body text);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_tenant ON public.notes USING (tenant_id = current_setting('app.tenant_id', true));

CREATE TABLE public.forced_notes (id int PRIMARY KEY, tenant_id text NOT NULL, body text);
ALTER TABLE public.forced_notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.forced_notes FORCE ROW LEVEL SECURITY;
CREATE POLICY forced_notes_tenant ON public.forced_notes USING (tenant_id = current_setting('app.tenant_id', true));

CREATE TABLE public.plain (id int PRIMARY KEY, tenant_id text NOT NULL);
`;

const SERVER_SCHEMA = `${TABLES}
ALTER TABLE public.notes OWNER TO tk_owner;
ALTER TABLE public.forced_notes OWNER TO tk_owner;
ALTER TABLE public.plain OWNER TO tk_owner;

CREATE ROLE rls_guard_bypasser LOGIN NOSUPERUSER BYPASSRLS PASSWORD '${PASSWORD}';
CREATE ROLE rls_guard_bypass_group NOLOGIN NOSUPERUSER BYPASSRLS;
CREATE ROLE rls_guard_inheritor LOGIN NOSUPERUSER NOBYPASSRLS INHERIT PASSWORD '${PASSWORD}';
GRANT rls_guard_bypass_group TO rls_guard_inheritor;
CREATE ROLE rls_guard_setter LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT PASSWORD '${PASSWORD}';
GRANT rls_guard_bypass_group TO rls_guard_setter;
CREATE ROLE rls_guard_super_group NOLOGIN SUPERUSER;
CREATE ROLE rls_guard_super_member LOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT PASSWORD '${PASSWORD}';
GRANT rls_guard_super_group TO rls_guard_super_member;
CREATE ROLE rls_guard_owner_member LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '${PASSWORD}';
GRANT tk_owner TO rls_guard_owner_member;
CREATE ROLE rls_guard_bare LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '${PASSWORD}';
`;

const notes = { schema: 'public', name: 'notes' };
const forcedNotes = { schema: 'public', name: 'forced_notes' };
const plain = { schema: 'public', name: 'plain' };

function urlAs(db: TestDatabase, user: string, password = PASSWORD): string {
  const url = new URL(db.url!);
  url.username = user;
  url.password = password;
  return url.toString();
}

async function asRole<T>(db: TestDatabase, user: string, fn: (session: Awaited<ReturnType<typeof connectPg>>) => Promise<T>): Promise<T> {
  const session = await connectPg(urlAs(db, user));
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

async function refusal(promise: Promise<unknown>): Promise<BypassingIdentityError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BypassingIdentityError);
  const refused = error as BypassingIdentityError;
  expect(refused).toBeInstanceOf(TenantkitError);
  expect(refused.code).toBe('TENANTKIT_BYPASSING_IDENTITY');
  expect(isRlsAssertError(refused, 'TENANTKIT_BYPASSING_IDENTITY')).toBe(true);
  expect(refused.message).toContain('meaningless');
  return refused;
}

describe.each(['system', 'embedded'] as const)('guard on a real server (%s binaries)', (binaries) => {
  let kit: Kit;

  beforeAll(async () => {
    kit = await startKit({
      backend: 'native',
      native: { binaries },
      schema: SERVER_SCHEMA,
      roles: { migrateAs: 'admin' },
      poolSize: 0,
    });
  });

  afterAll(async () => {
    await kit?.stop();
  });

  test('passes for the app role and reports what it checked', async () => {
    await using db = await kit.acquire();
    const facts = await assertProvingIdentity(db.app, { tenantTables: [notes, forcedNotes, plain] });
    expect(facts).toMatchObject({
      currentUser: 'tk_app',
      sessionUser: 'tk_app',
      superuser: false,
      bypassRls: false,
      memberOfBypassing: [],
      ownsTables: [],
      singleSession: false,
      sessionUserIsSuperuser: false,
      rowSecurity: true,
    });
    const major = Number.parseInt(/\d+/.exec(kit.backend.serverVersion)![0], 10);
    expect(Math.floor(facts.serverVersionNum / 10000)).toBe(major);
  });

  test('refuses a superuser', async () => {
    await using db = await kit.acquire();
    const error = await refusal(assertProvingIdentity(db.admin, { tenantTables: [notes] }));
    expect(error.reasons).toEqual([{ kind: 'superuser', role: 'tk_admin', user: 'current_user' }]);
    expect(error.facts.superuser).toBe(true);
    expect(error.object).toBe('tk_admin');
    expect(error.message).toContain('SUPERUSER');
    expect(error.message).toContain('ALTER ROLE tk_admin NOSUPERUSER');
  });

  test('refuses a superuser session that switched to the app role with SET ROLE', async () => {
    await using db = await kit.acquire();
    const session = await connectPg(db.url!);
    try {
      await session.exec('SET ROLE tk_app');
      const error = await refusal(assertProvingIdentity(session, { tenantTables: [notes] }));
      expect(error.reasons).toEqual([{ kind: 'superuser', role: 'tk_admin', user: 'session_user' }]);
      expect(error.facts).toMatchObject({ currentUser: 'tk_app', sessionUser: 'tk_admin', sessionUserIsSuperuser: true });
      expect(error.message).toContain('RESET ROLE');
    } finally {
      await session.close();
    }
  });

  test('refuses a BYPASSRLS role', async () => {
    await using db = await kit.acquire();
    const error = await asRole(db, 'rls_guard_bypasser', (session) => refusal(assertProvingIdentity(session, { tenantTables: [notes] })));
    expect(error.reasons).toEqual([{ kind: 'bypassrls', role: 'rls_guard_bypasser', user: 'current_user' }]);
    expect(error.facts.bypassRls).toBe(true);
    expect(error.message).toContain('ALTER ROLE rls_guard_bypasser NOBYPASSRLS');
  });

  test('refuses a member that inherits from a BYPASSRLS role', async () => {
    await using db = await kit.acquire();
    const error = await asRole(db, 'rls_guard_inheritor', (session) => refusal(assertProvingIdentity(session, { tenantTables: [notes] })));
    expect(error.reasons).toHaveLength(1);
    expect(error.reasons[0]).toMatchObject({
      kind: 'member-of-bypassing',
      role: 'rls_guard_inheritor',
      bypassing: 'rls_guard_bypass_group',
      bypassingIs: 'bypassrls',
    });
    expect(error.reasons[0]).toHaveProperty('via', expect.arrayContaining(['inherit', 'set']));
    expect(error.facts.memberOfBypassing).toEqual(['rls_guard_bypass_group']);
    expect(error.message).toContain('REVOKE rls_guard_bypass_group FROM rls_guard_inheritor');
  });

  test('refuses a NOINHERIT member that can SET ROLE to a BYPASSRLS role', async () => {
    await using db = await kit.acquire();
    const error = await asRole(db, 'rls_guard_setter', (session) => refusal(assertProvingIdentity(session, { tenantTables: [notes] })));
    expect(error.reasons).toEqual([
      {
        kind: 'member-of-bypassing',
        role: 'rls_guard_setter',
        user: 'current_user',
        bypassing: 'rls_guard_bypass_group',
        bypassingIs: 'bypassrls',
        via: ['set'],
      },
    ]);
    expect(error.message).toContain('can SET ROLE to it');
    // What the guard protects against: the member really can leave RLS behind.
    await asRole(db, 'rls_guard_setter', async (session) => {
      await session.exec('SET ROLE rls_guard_bypass_group');
      const { rows } = await session.query<{ bypass: boolean }>('SELECT rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user');
      expect(rows[0]?.bypass).toBe(true);
    });
  });

  test('refuses a member of a superuser role', async () => {
    await using db = await kit.acquire();
    const error = await asRole(db, 'rls_guard_super_member', (session) => refusal(assertProvingIdentity(session, { tenantTables: [] })));
    expect(error.reasons).toEqual([
      expect.objectContaining({ kind: 'member-of-bypassing', bypassing: 'rls_guard_super_group', bypassingIs: 'superuser' }),
    ]);
    expect(error.message).toContain('REVOKE rls_guard_super_group FROM rls_guard_super_member');
  });

  test('refuses a membership that grants neither INHERIT nor SET (PostgreSQL 16+)', async () => {
    await using db = await kit.acquire();
    const { rows } = await db.query<{ version: number }>(`SELECT current_setting('server_version_num')::int AS version`);
    if (rows[0]!.version < 160000) return;
    await db.exec('GRANT rls_guard_bypass_group TO rls_guard_bare WITH INHERIT FALSE, SET FALSE');
    try {
      const error = await asRole(db, 'rls_guard_bare', (session) => refusal(assertProvingIdentity(session, { tenantTables: [] })));
      expect(error.reasons).toEqual([expect.objectContaining({ kind: 'member-of-bypassing', bypassing: 'rls_guard_bypass_group', via: ['member'] })]);
    } finally {
      await db.exec('REVOKE rls_guard_bypass_group FROM rls_guard_bare');
    }
  });

  test('refuses the owner of a tenant table without FORCE ROW LEVEL SECURITY', async () => {
    await using db = await kit.acquire();
    const error = await refusal(assertProvingIdentity(db.owner, { tenantTables: [notes, forcedNotes] }));
    expect(error.reasons).toEqual([
      {
        kind: 'owns-unforced-table',
        role: 'tk_owner',
        user: 'current_user',
        table: 'public.notes',
        schema: 'public',
        name: 'notes',
        owner: 'tk_owner',
        rlsEnabled: true,
      },
    ]);
    expect(error.facts.ownsTables.sort()).toEqual(['public.forced_notes', 'public.notes']);
    expect(error.message).toContain('ALTER TABLE public.notes FORCE ROW LEVEL SECURITY');
  });

  test('refuses the owner of a tenant table without row level security at all', async () => {
    await using db = await kit.acquire();
    const error = await refusal(assertProvingIdentity(db.owner, { tenantTables: [plain] }));
    expect(error.reasons).toEqual([expect.objectContaining({ kind: 'owns-unforced-table', table: 'public.plain', rlsEnabled: false })]);
    expect(error.message).toContain('ALTER TABLE public.plain ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY');
  });

  test('passes the owner once its tenant tables have FORCE ROW LEVEL SECURITY', async () => {
    await using db = await kit.acquire();
    const facts = await assertProvingIdentity(db.owner, { tenantTables: [forcedNotes] });
    expect(facts.ownsTables).toEqual(['public.forced_notes']);

    await db.exec('ALTER TABLE public.notes FORCE ROW LEVEL SECURITY');
    const after = await assertProvingIdentity(db.owner, { tenantTables: [notes, forcedNotes] });
    expect(after).toMatchObject({ currentUser: 'tk_owner', superuser: false, bypassRls: false });
    expect(after.ownsTables.sort()).toEqual(['public.forced_notes', 'public.notes']);
  });

  test('refuses a member of the owner of a table without FORCE', async () => {
    await using db = await kit.acquire();
    const error = await asRole(db, 'rls_guard_owner_member', (session) => refusal(assertProvingIdentity(session, { tenantTables: [notes, forcedNotes] })));
    expect(error.reasons).toEqual([
      expect.objectContaining({ kind: 'owns-unforced-table', role: 'rls_guard_owner_member', table: 'public.notes', owner: 'tk_owner' }),
    ]);
    expect(error.message).toContain('is a member of "tk_owner"');
    expect(error.message).toContain('REVOKE tk_owner FROM rls_guard_owner_member');
  });

  test('reports row_security = off without calling it a bypass: the queries fail instead', async () => {
    await using db = await kit.acquire();
    const session = await connectPg(db.app.url!);
    try {
      await session.exec('SET row_security = off');
      const facts = await assertProvingIdentity(session, { tenantTables: [notes] });
      expect(facts).toMatchObject({ currentUser: 'tk_app', rowSecurity: false });
      await expect(session.query('SELECT * FROM public.notes')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await session.close();
    }
  });

  test('fails closed on a tenant table that does not exist', async () => {
    await using db = await kit.acquire();
    const error = await assertProvingIdentity(db.app, { tenantTables: [{ schema: 'public', name: 'Notes' }] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toContain('public.Notes');
  });
});

describe('guard on a single-session backend (PGlite)', () => {
  let kit: Kit;

  beforeAll(async () => {
    kit = await startKit({ backend: 'pglite', schema: TABLES });
  });

  afterAll(async () => {
    await kit?.stop();
  });

  test('refuses the app role unless the single session is declared: its session user is a superuser', async () => {
    await using db = await kit.acquire();
    expect(db.capabilities.realLoginRoles).toBe(false);
    const error = await refusal(assertProvingIdentity(db.app, { tenantTables: [notes] }));
    expect(error.reasons).toEqual([expect.objectContaining({ kind: 'superuser', user: 'session_user' })]);
    expect(error.facts.currentUser).toBe('tk_app');
  });

  test('with singleSession checks current_user only and records the superuser session user', async () => {
    await using db = await kit.acquire();
    const facts = await assertProvingIdentity(db.app, { tenantTables: [notes, forcedNotes], singleSession: true });
    expect(facts).toMatchObject({
      currentUser: 'tk_app',
      superuser: false,
      bypassRls: false,
      memberOfBypassing: [],
      ownsTables: [],
      singleSession: true,
      sessionUserIsSuperuser: true,
    });
    expect(facts.sessionUser).not.toBe('tk_app');
  });

  test('with singleSession still refuses the superuser itself and the owner of a table without FORCE', async () => {
    await using db = await kit.acquire();
    const admin = await refusal(assertProvingIdentity(db.admin, { tenantTables: [notes], singleSession: true }));
    expect(admin.reasons).toEqual([expect.objectContaining({ kind: 'superuser', user: 'current_user' })]);
    const owner = await refusal(assertProvingIdentity(db.owner, { tenantTables: [notes], singleSession: true }));
    expect(owner.reasons).toEqual([expect.objectContaining({ kind: 'owns-unforced-table', role: 'tk_owner', table: 'public.notes' })]);
    expect(owner.message).toContain('FORCE ROW LEVEL SECURITY');
  });
});
