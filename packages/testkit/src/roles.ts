import { createHash } from 'node:crypto';
import type { ResolvedRoles } from './config.js';
import { RoleConflictError } from './errors.js';
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
    if ((error as { code?: string }).code !== '42501') throw error;
  }
}

/**
 * Creates the owner and app roles when missing and checks that existing ones are what they claim:
 * the app role must not bypass RLS, or every isolation result would be meaningless.
 */
export async function ensureRoles(session: Session, roles: ResolvedRoles, options: EnsureRolesOptions): Promise<void> {
  const { rows } = await session.query<RoleRow>(
    `SELECT rolname, rolsuper, rolbypassrls, rolcanlogin, shobj_description(oid, 'pg_authid') AS comment
       FROM pg_roles WHERE rolname = ANY($1::text[])`,
    [[roles.owner, roles.app]],
  );
  for (const which of ['owner', 'app'] as const) {
    const name = roles[which];
    const existing = rows.find((row) => row.rolname === name);
    const password = options.passwordFor?.(which);
    const passwordClause = password === undefined ? '' : ` PASSWORD ${quoteLiteral(password)}`;
    if (!existing) {
      if (options.createOnlyPrefixed && !name.startsWith(KIT_PREFIX)) {
        throw new RoleConflictError(
          name,
          `Role "${name}" (the ${which} role) does not exist on this server, and the kit only creates roles named ${KIT_PREFIX}* on a server it does not own. Create it yourself (CREATE ROLE ${name} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '...') and pass roles.passwords.${which}, or use a ${KIT_PREFIX} name.`,
        );
      }
      try {
        await session.exec(
          `CREATE ROLE ${quoteIdent(name)} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION${passwordClause}`,
        );
      } catch (error) {
        // Another process created it first: fine, it is checked below on the next run.
        if ((error as { code?: string }).code !== '42710' && (error as { code?: string }).code !== '23505') throw error;
      }
      await session.exec(`COMMENT ON ROLE ${quoteIdent(name)} IS ${quoteLiteral(`${KIT_MARK}${which} role`)}`);
      continue;
    }
    if (existing.rolsuper || existing.rolbypassrls) {
      throw new RoleConflictError(
        name,
        `Role "${name}" is configured as the ${which} role but is ${existing.rolsuper ? 'a SUPERUSER' : 'BYPASSRLS'}: it would ignore row level security and prove nothing. Use a role that is NOSUPERUSER NOBYPASSRLS (ALTER ROLE ${name} NOSUPERUSER NOBYPASSRLS) or another name.`,
      );
    }
    if (existing.comment?.startsWith(KIT_MARK)) {
      // Ours: keep it usable for login with the password this server's runs share.
      await session.exec(`ALTER ROLE ${quoteIdent(name)} LOGIN${passwordClause}`);
    } else if (!existing.rolcanlogin && options.passwordFor) {
      throw new RoleConflictError(
        name,
        `Role "${name}" exists but cannot log in, so tests cannot connect as it. ALTER ROLE ${name} LOGIN, or choose another name.`,
      );
    }
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
