import { InvalidOptionError, type Queryable } from '@tenantkit/testkit';
import { type BypassReason, BypassingIdentityError, type CheckedUser, IdentityUnreadableError } from './errors.js';

/** A table by schema and name, as Postgres stores them (case-sensitive). */
export interface TableRef {
  readonly schema: string;
  readonly name: string;
}

export interface GuardOptions {
  /** The tables whose isolation is about to be probed: their owners must not be the identity. */
  readonly tenantTables: readonly TableRef[];
  /**
   * The connection is a single-session backend (PGlite): its session user is always a superuser
   * and identities are switched with SET ROLE. Only current_user is checked then; the probes can
   * be trusted only because the kit writes every statement they send (nothing runs RESET ROLE).
   * Never pass it for a real server connection: there a superuser session user is a bypass.
   */
  readonly singleSession?: boolean;
}

/** What the guard found out about the probing connection. */
export interface IdentityFacts {
  readonly currentUser: string;
  readonly sessionUser: string;
  /** A checked user (current_user, and session_user unless singleSession) is a superuser. */
  readonly superuser: boolean;
  /** A checked user has BYPASSRLS. */
  readonly bypassRls: boolean;
  /** Superuser or BYPASSRLS roles a checked user belongs to (by inheritance, SET ROLE or membership). */
  readonly memberOfBypassing: string[];
  /**
   * Tenant tables (schema.table) a checked user owns, directly or as a member of the owner. Those
   * with FORCE ROW LEVEL SECURITY are harmless; any other one makes the guard throw.
   */
  readonly ownsTables: string[];
  readonly singleSession: boolean;
  /** The session user is a superuser: always so on a single-session backend, a bypass otherwise. */
  readonly sessionUserIsSuperuser: boolean;
  /**
   * The session's row_security setting. Off is not a bypass for a non-bypassing role: its queries
   * on tables with policies then fail instead of filtering. Reported so a caller can explain errors.
   */
  readonly rowSecurity: boolean;
  /** server_version_num, e.g. 150018 or 180004. */
  readonly serverVersionNum: number;
}

interface SessionRow {
  cu: string;
  su: string;
  version: string;
  row_security: string;
}

interface RoleRow {
  name: string;
  found: boolean;
  rolsuper: boolean | null;
  rolbypassrls: boolean | null;
}

interface MembershipRow {
  member: string;
  bypassing: string;
  rolsuper: boolean;
  inherits: boolean;
  can_set: boolean;
}

interface TableRow {
  schema: string;
  name: string;
  found: boolean;
  owner: string | null;
  rls: boolean | null;
  forced: boolean | null;
  user_name: string;
  owns: boolean | null;
}

/** PostgreSQL 16 split membership into INHERIT and SET options; pg_has_role learned 'SET'. */
const PG16 = 160000;

/**
 * Refuses to go on unless the connection it is given proves something: run it on the very
 * connection the probes will use, before any probe. It reads current_user and session_user there
 * and throws BypassingIdentityError (nothing probed, nothing passed) when either
 * - is a superuser or has BYPASSRLS;
 * - is a member of a superuser or BYPASSRLS role, whether it inherits that role's attributes' effect,
 *   can SET ROLE to it, or merely holds a membership (fail closed: PG16+ options can be changed);
 * - owns one of `tenantTables` (or is a member of its owner) while that table lacks
 *   FORCE ROW LEVEL SECURITY.
 * A session user that is a superuser is a bypass on a real server even when current_user is not
 * (RESET ROLE undoes the switch); with `singleSession` only current_user is checked (see GuardOptions).
 * A missing tenant table is an error too: its ownership cannot be vouched for.
 */
export async function assertProvingIdentity(session: Queryable, options: GuardOptions): Promise<IdentityFacts> {
  const singleSession = options.singleSession === true;
  const { rows: sessionRows } = await session.query<SessionRow>(
    `SELECT current_user::text AS cu, session_user::text AS su,
            current_setting('server_version_num') AS version,
            current_setting('row_security') AS row_security`,
  );
  const info = sessionRows[0];
  if (!info) throw new IdentityUnreadableError();
  const version = Number.parseInt(info.version, 10);
  const checked: { role: string; user: CheckedUser }[] = [{ role: info.cu, user: 'current_user' }];
  if (!singleSession && info.su !== info.cu) checked.push({ role: info.su, user: 'session_user' });
  const names = checked.map((entry) => entry.role);
  const userOf = new Map(checked.map((entry) => [entry.role, entry.user] as const));

  const { rows: roleRows } = await session.query<RoleRow>(
    `SELECT u.name, r.oid IS NOT NULL AS found, r.rolsuper, r.rolbypassrls
       FROM unnest($1::text[]) AS u(name)
       LEFT JOIN pg_catalog.pg_roles r ON r.rolname = u.name`,
    [[...new Set([...names, info.su])]],
  );
  const reasons: BypassReason[] = [];
  const attributes = new Map(roleRows.map((row) => [row.name, row] as const));
  for (const { role, user } of checked) {
    const row = attributes.get(role);
    // A role missing from pg_roles cannot be vouched for: treat it as the worst case.
    if (!row?.found || row.rolsuper !== false) reasons.push({ kind: 'superuser', role, user });
    else if (row.rolbypassrls !== false) reasons.push({ kind: 'bypassrls', role, user });
  }
  const sessionUserIsSuperuser = attributes.get(info.su)?.rolsuper !== false;

  // pg_has_role 'MEMBER' is any direct or indirect membership (PG15: the right to SET ROLE);
  // 'USAGE' means the role's privileges apply without SET ROLE; 'SET' exists from PG16 on.
  const canSet = version >= PG16 ? `pg_catalog.pg_has_role(u.name, b.oid, 'SET')` : 'true';
  const { rows: memberships } = await session.query<MembershipRow>(
    `SELECT u.name AS member, b.rolname AS bypassing, b.rolsuper,
            pg_catalog.pg_has_role(u.name, b.oid, 'USAGE') AS inherits,
            ${canSet} AS can_set
       FROM unnest($1::text[]) AS u(name)
       JOIN pg_catalog.pg_roles b ON (b.rolsuper OR b.rolbypassrls) AND b.rolname <> u.name
      WHERE pg_catalog.pg_has_role(u.name, b.oid, 'MEMBER')
      ORDER BY 1, 2`,
    [names],
  );
  const directlyBypassing = new Set(reasons.map((reason) => reason.role));
  const memberOfBypassing = new Set<string>();
  for (const row of memberships) {
    // A superuser "is a member" of every role; its own reason already says everything.
    if (directlyBypassing.has(row.member)) continue;
    memberOfBypassing.add(row.bypassing);
    const via: ('inherit' | 'set' | 'member')[] = [];
    if (row.inherits) via.push('inherit');
    if (row.can_set) via.push('set');
    if (via.length === 0) via.push('member');
    reasons.push({
      kind: 'member-of-bypassing',
      role: row.member,
      user: userOf.get(row.member) ?? 'current_user',
      bypassing: row.bypassing,
      bypassingIs: row.rolsuper ? 'superuser' : 'bypassrls',
      via,
    });
  }

  const ownsTables = new Set<string>();
  if (options.tenantTables.length > 0) {
    const { rows: tables } = await session.query<TableRow>(
      `SELECT t.schema, t.name, c.oid IS NOT NULL AS found, o.rolname AS owner,
              c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
              u.name AS user_name, pg_catalog.pg_has_role(u.name, c.relowner, 'MEMBER') AS owns
         FROM unnest($1::text[], $2::text[]) AS t(schema, name)
         LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema
         LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.name
         LEFT JOIN pg_catalog.pg_roles o ON o.oid = c.relowner
        CROSS JOIN unnest($3::text[]) AS u(name)
        ORDER BY 1, 2, 7`,
      [options.tenantTables.map((table) => table.schema), options.tenantTables.map((table) => table.name), names],
    );
    const missing = tables.filter((row) => !row.found).map((row) => `${row.schema}.${row.name}`);
    if (missing.length > 0) {
      throw new InvalidOptionError(
        'tenantTables',
        `${[...new Set(missing)].join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist in this database, so who owns ${missing.length === 1 ? 'it' : 'them'} cannot be checked. Fix the schema or table name (names are case-sensitive), or check that the migration creating it ran.`,
      );
    }
    for (const row of tables) {
      // A superuser "is a member" of every owner; its own reason already says everything.
      if (row.owns === false || directlyBypassing.has(row.user_name)) continue;
      const label = `${row.schema}.${row.name}`;
      ownsTables.add(label);
      if (row.forced === true) continue;
      reasons.push({
        kind: 'owns-unforced-table',
        role: row.user_name,
        user: userOf.get(row.user_name) ?? 'current_user',
        table: label,
        schema: row.schema,
        name: row.name,
        owner: row.owner ?? '(unknown)',
        rlsEnabled: row.rls === true,
      });
    }
  }

  const facts: IdentityFacts = {
    currentUser: info.cu,
    sessionUser: info.su,
    superuser: reasons.some((reason) => reason.kind === 'superuser'),
    bypassRls: reasons.some((reason) => reason.kind === 'bypassrls'),
    memberOfBypassing: [...memberOfBypassing],
    ownsTables: [...ownsTables],
    singleSession,
    sessionUserIsSuperuser,
    rowSecurity: info.row_security !== 'off',
    serverVersionNum: version,
  };
  if (reasons.length > 0) throw new BypassingIdentityError(facts, reasons);
  return facts;
}
