import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { ResolvedRoles } from './config.js';
import { AdminMembershipError, RoleConflictError, sqlStateOf } from './errors.js';
import type { Session } from './queryable.js';
import { quoteIdent, quoteLiteral } from './sql/ident.js';

/** Every database and role the kit creates starts with this. */
export const KIT_PREFIX = 'tk_';
/** Marks objects the kit created; the kit drops nothing without it. */
export const KIT_MARK = 'tenantkit:';

interface RoleRow {
  rolname: string;
  rolsuper: boolean;
  rolbypassrls: boolean;
  rolcanlogin: boolean;
  comment: string | null;
}

/** Every role of the cluster, to tell which ones some SQL created. */
export async function roleNames(session: Session): Promise<Set<string>> {
  const { rows } = await session.query<{ rolname: string }>('SELECT rolname FROM pg_catalog.pg_roles');
  return new Set(rows.map((row) => row.rolname));
}

/** Deterministic per server, so every process of a run can log in as the roles it shares. */
export function derivePassword(secret: string, role: string): string {
  return createHash('sha256').update(`tenantkit-role\0${secret}\0${role}`).digest('hex').slice(0, 32);
}

/** Iterations PostgreSQL itself uses for SCRAM-SHA-256 (scram_iterations' default). */
const SCRAM_ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL would store for `password` (RFC 5802/7677), computed here so
 * that CREATE/ALTER ROLE ... PASSWORD never carries the password itself: statements end up in the
 * server log (log_statement = ddl), verifiers are useless for logging in. The kit's passwords are
 * hex, for which SASLprep changes nothing.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = SCRAM_ITERATIONS): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const storedKey = createHash('sha256').update(createHmac('sha256', salted).update('Client Key').digest()).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export interface EnsureRolesOptions {
  /** Passwords for login roles (servers); undefined on single-session backends. */
  readonly passwordFor?: (role: 'owner' | 'app') => string;
  /** Only roles with the kit prefix may be created (shared servers). */
  readonly createOnlyPrefixed: boolean;
}

/**
 * Lets the kit's own owner role (marked by the kit, never a role the user made) create roles, so
 * migrations that create a login role and grant to it run as they do in their projects. From
 * PostgreSQL 16 the creator also gets SET and INHERIT on what it creates, so it may hand tables
 * to those roles. Where the admin may not give this (a `url` server), nothing changes and such a
 * migration fails with its own error.
 */
export async function letOwnerCreateRoles(session: Session, owner: string): Promise<void> {
  const { rows } = await session.query<{ createrole: boolean; comment: string | null; num: string }>(
    `SELECT rolcreaterole AS createrole, shobj_description(oid, 'pg_authid') AS comment,
            current_setting('server_version_num') AS num
       FROM pg_roles WHERE rolname = $1`,
    [owner],
  );
  const row = rows[0];
  if (!row || !row.comment?.startsWith(KIT_MARK)) return;
  try {
    if (!row.createrole) await session.exec(`ALTER ROLE ${quoteIdent(owner)} CREATEROLE`);
    if (Number(row.num) >= 160000) await session.exec(`ALTER ROLE ${quoteIdent(owner)} SET createrole_self_grant = 'set, inherit'`);
  } catch (error) {
    if (sqlStateOf(error) !== '42501') throw error;
  }
}

/**
 * Creates the owner and app roles when missing and checks that existing ones are what they claim:
 * the app role must not bypass RLS, or every isolation result would be meaningless. Only roles the
 * kit marked as its own are adopted (and their password reset); a role with a kit name that the kit
 * did not make is someone else's, whatever its attributes. Roles created here are dropped again if
 * anything after their creation fails, so a refused run leaves nothing behind.
 */
export async function ensureRoles(session: Session, roles: ResolvedRoles, options: EnsureRolesOptions): Promise<void> {
  const { rows } = await session.query<RoleRow>(
    `SELECT rolname, rolsuper, rolbypassrls, rolcanlogin, shobj_description(oid, 'pg_authid') AS comment
       FROM pg_roles WHERE rolname = ANY($1::text[])`,
    [[roles.owner, roles.app]],
  );
  for (const which of ['owner', 'app'] as const) checkRole(roles, which, rows.find((row) => row.rolname === roles[which]), options);
  const created: string[] = [];
  try {
    for (const which of ['owner', 'app'] as const) {
      const name = roles[which];
      const existing = rows.find((row) => row.rolname === name);
      const password = options.passwordFor?.(which);
      const passwordClause = password === undefined ? '' : ` PASSWORD ${quoteLiteral(scramVerifier(password))}`;
      if (!existing) {
        try {
          await session.exec(
            `CREATE ROLE ${quoteIdent(name)} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION${passwordClause}`,
          );
          created.push(name);
        } catch (error) {
          // Another process created it first: fine, it is checked below on the next run.
          if (sqlStateOf(error) !== '42710' && sqlStateOf(error) !== '23505') throw error;
        }
        await session.exec(`COMMENT ON ROLE ${quoteIdent(name)} IS ${quoteLiteral(`${KIT_MARK}${which} role`)}`);
      } else if (existing.comment?.startsWith(KIT_MARK)) {
        // Ours: keep it usable for login with the password this server's runs share.
        await session.exec(`ALTER ROLE ${quoteIdent(name)} LOGIN${passwordClause}`);
      }
    }
    await actAsKitRoles(session, [roles.owner, roles.app]);
  } catch (error) {
    for (const name of created.reverse()) await session.exec(`DROP ROLE IF EXISTS ${quoteIdent(name)}`).catch(() => {});
    throw error;
  }
}

/** Refuses, before anything is created, a role the kit may not use as `which`. */
function checkRole(roles: ResolvedRoles, which: 'owner' | 'app', existing: RoleRow | undefined, options: EnsureRolesOptions): void {
  const name = roles[which];
  if (!existing) {
    if (options.createOnlyPrefixed && !name.startsWith(KIT_PREFIX)) {
      throw new RoleConflictError(
        name,
        `Role "${name}" (the ${which} role) does not exist on this server, and the kit only creates roles named ${KIT_PREFIX}* on a server it does not own. Create it yourself (CREATE ROLE ${name} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '...') and pass roles.passwords.${which}, or use a ${KIT_PREFIX} name.`,
      );
    }
    return;
  }
  if (existing.rolsuper || existing.rolbypassrls) {
    throw new RoleConflictError(
      name,
      `Role "${name}" is configured as the ${which} role but is ${existing.rolsuper ? 'a SUPERUSER' : 'BYPASSRLS'}: it would ignore row level security and prove nothing. Use a role that is NOSUPERUSER NOBYPASSRLS (ALTER ROLE ${name} NOSUPERUSER NOBYPASSRLS) or another name.`,
    );
  }
  if (existing.comment?.startsWith(KIT_MARK)) return;
  if (name.startsWith(KIT_PREFIX)) {
    throw new RoleConflictError(
      name,
      `Role "${name}" (the ${which} role) exists on this server but was not created by the kit (it lacks the kit's "${KIT_MARK}" comment), so the kit will not adopt it${existing.rolcanlogin ? ' as a login it does not control' : ''}. If it is a leftover, drop it (DROP ROLE ${quoteIdent(name)};); if it is someone else's, give the kit other names (roles.${which}: 'tk_<something>').`,
    );
  }
  if (!existing.rolcanlogin && options.passwordFor) {
    throw new RoleConflictError(
      name,
      `Role "${name}" exists but cannot log in, so tests cannot connect as it. ALTER ROLE ${name} LOGIN, or choose another name.`,
    );
  }
}

/**
 * An admin that is not a superuser must be a member of the kit's roles to create databases owned by
 * the owner, drop them and end the app's sessions in them. PostgreSQL 15 gives a CREATEROLE role no
 * membership in the roles it creates (it may grant it, to itself too); 16 and later give it ADMIN
 * OPTION only, with which it grants itself SET and INHERIT.
 */
async function actAsKitRoles(session: Session, names: readonly string[]): Promise<void> {
  const { rows } = await session.query<{ admin: string; missing: string[]; num: string }>(
    `SELECT current_user AS admin, current_setting('server_version_num') AS num,
            array(SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1::text[]) AND NOT pg_has_role(oid, 'USAGE')) AS missing`,
    [names],
  );
  const { admin, missing, num } = rows[0]!;
  if (missing.length === 0) return;
  const grant = `GRANT ${missing.map(quoteIdent).join(', ')} TO ${quoteIdent(admin)}${Number(num) >= 160000 ? ' WITH INHERIT TRUE, SET TRUE' : ''};`;
  try {
    await session.exec(grant);
  } catch (error) {
    if (sqlStateOf(error) !== '42501') throw error;
    throw new AdminMembershipError(admin, missing, grant, error);
  }
}

/** Gives the app role plain CRUD on everything the migrations made (roles.appGrants = 'crud'). */
export async function grantCrud(session: Session, app: string): Promise<void> {
  await session.exec(`DO $tenantkit$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
            WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, ${quoteLiteral(app)});
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', s, ${quoteLiteral(app)});
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', s, ${quoteLiteral(app)});
    EXECUTE format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO %I', s, ${quoteLiteral(app)});
  END LOOP;
END
$tenantkit$`);
}
