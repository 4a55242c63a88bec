import { createHash } from 'node:crypto';
import { quoteIdent } from '../sql/ident.js';
import { SUPABASE_STAND_INS } from './stand-ins.js';

/**
 * What a stock Supabase database has before a project's own migrations run, as far as those
 * migrations and their policies rely on it. Everything is created only when missing and nothing is
 * ever dropped (the roles belong to the whole server).
 *
 * - roles `anon` and `authenticated` (NOLOGIN, obey row level security), `service_role` (BYPASSRLS)
 *   and `authenticator` (LOGIN without a password, member of the three), as on the platform;
 * - schemas `auth` and `extensions`, usable by the three API roles, as is `public`;
 * - `auth.users` with the columns migrations and triggers usually read (id, email, phone, role,
 *   raw_user_meta_data, raw_app_meta_data, created_at, ...);
 * - `auth.uid()`, `auth.role()`, `auth.email()` and `auth.jwt()` reading the request's JWT claims from
 *   `request.jwt.claims` (and the older `request.jwt.claim.*` settings), as PostgREST sets them;
 * - the platform's default privileges: every table, sequence and function the migrations create in
 *   `public` is granted (ALL, TRUNCATE included) to anon, authenticated and service_role;
 * - stand-ins for the platform extensions no test server has (pg_cron, pg_net, supabase_vault,
 *   pg_graphql), created where a migration creates the extension (see SUPABASE_STAND_INS).
 *
 * The kit's app login plays `authenticator`: it may SET ROLE to anon and authenticated, never to
 * service_role, so code under test cannot reach an identity that bypasses row level security.
 */
export const SUPABASE_API_ROLES = ['anon', 'authenticated', 'service_role'] as const;

/** Schemas that are the platform's, not the project's: auth and those of the extension stand-ins. */
export const SUPABASE_PLATFORM_SCHEMAS: readonly string[] = ['auth', ...SUPABASE_STAND_INS.map((entry) => entry.schema)];

export interface SupabasePresetRoles {
  /** The role the migrations run as (the kit's owner, or the admin with migrateAs 'admin'). */
  readonly owner: string;
  /** The kit's app login. */
  readonly app: string;
}

const CREATE_ROLES: readonly [string, string][] = [
  ['anon', 'NOLOGIN NOINHERIT'],
  ['authenticated', 'NOLOGIN NOINHERIT'],
  ['service_role', 'NOLOGIN NOINHERIT BYPASSRLS'],
  ['authenticator', 'LOGIN NOINHERIT'],
];

/** The claims of the current request: request.jwt.claims, or the older per-claim settings. */
const CLAIM = (name: string) =>
  `coalesce(nullif(pg_catalog.current_setting('request.jwt.claim.${name}', true), ''), (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb ->> '${name}'))`;

/** Part of the preset's text, so a changed stand-in changes the template key. */
const standInsHash = createHash('sha256')
  .update(SUPABASE_STAND_INS.map((entry) => entry.sql).join('\0'))
  .digest('hex')
  .slice(0, 12);

export function supabasePresetSql(roles: SupabasePresetRoles): string {
  const api = SUPABASE_API_ROLES.join(', ');
  const owner = quoteIdent(roles.owner);
  return `-- tenantkit preset: supabase (the platform a Supabase project's migrations expect)
DO $tenantkit$
BEGIN
${CREATE_ROLES.map(([name, options]) => `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '${name}') THEN CREATE ROLE ${name} ${options}; END IF;`).join('\n')}
END
$tenantkit$;
GRANT ${api} TO authenticator;
GRANT anon, authenticated TO ${quoteIdent(roles.app)};

CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS extensions;
GRANT USAGE ON SCHEMA public, auth, extensions TO ${api};

CREATE TABLE IF NOT EXISTS auth.users (
  instance_id uuid,
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  phone text,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  is_anonymous boolean NOT NULL DEFAULT false,
  last_sign_in_at timestamptz,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  deleted_at timestamptz
);
GRANT SELECT ON auth.users TO service_role;
-- The migrations' role is the project's postgres: it references auth.users and adds triggers to it.
GRANT USAGE ON SCHEMA auth TO ${owner};
GRANT ALL ON SCHEMA extensions TO ${owner};
GRANT ALL ON auth.users TO ${owner};

CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
  AS $fn$ SELECT nullif(${CLAIM('sub')}, '')::uuid $fn$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE
  AS $fn$ SELECT ${CLAIM('role')} $fn$;
CREATE OR REPLACE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE
  AS $fn$ SELECT ${CLAIM('email')} $fn$;
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE
  AS $fn$ SELECT coalesce(nullif(pg_catalog.current_setting('request.jwt.claim', true), ''), nullif(pg_catalog.current_setting('request.jwt.claims', true), ''))::jsonb $fn$;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.email(), auth.jwt() TO ${api};

ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT ALL ON TABLES TO ${api};
ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT ALL ON SEQUENCES TO ${api};
ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT ALL ON FUNCTIONS TO ${api};
-- and for the admin, when the migrations run as the admin
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO ${api};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO ${api};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO ${api};
-- stand-ins: ${SUPABASE_STAND_INS.map((entry) => entry.extension).join(', ')} (${standInsHash})
`;
}
