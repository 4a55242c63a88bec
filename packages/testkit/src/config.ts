import type { ContainerBackendOptions } from './backends/container/container-endpoint.js';
import type { NativeServerOptions } from './backends/native/native-config.js';
import type { Migrator } from './migrations/migrator.js';
import type { Session } from './queryable.js';

export const BACKEND_KINDS = ['pglite', 'native', 'url', 'container'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/**
 * How a test is kept apart from the others:
 * - database: a fresh clone of the template per test (server default);
 * - transaction: one database per worker, each test inside a transaction rolled back at its end
 *   (PGlite default); BEGIN/COMMIT/ROLLBACK from tested code become savepoints;
 * - truncate: one database per worker, tables emptied (and rows the migrations put there restored)
 *   after each test;
 * - none: one database per worker, nothing reset.
 */
export type IsolationMode = 'database' | 'transaction' | 'truncate' | 'none';

export interface RoleOptions {
  /** Owns the schema and runs the migrations. NOSUPERUSER. Default tk_owner. */
  readonly owner?: string;
  /** What tests act as: LOGIN NOSUPERUSER NOBYPASSRLS, owns nothing. Default tk_app. */
  readonly app?: string;
  /**
   * Privileges given to the app role after migrations: 'crud' grants USAGE on every schema the
   * migrations made and SELECT/INSERT/UPDATE/DELETE on their tables, sequences and functions;
   * 'none' keeps exactly the grants the migrations wrote (test those when they are part of the product).
   */
  readonly appGrants?: 'crud' | 'none';
  /**
   * Which identity runs migrations. Default 'owner', which may create roles (CREATEROLE) so that
   * migrations creating and granting to roles run as in their projects, and keeps tables owned by
   * a non-superuser so FORCE ROW LEVEL SECURITY is judged as in production; 'admin' for migrations
   * that need a superuser (an untrusted extension, ALTER SYSTEM, ...).
   */
  readonly migrateAs?: 'owner' | 'admin';
  /** Passwords for roles that already exist on a `url` server and were not created by the kit. */
  readonly passwords?: { readonly owner?: string; readonly app?: string };
}

export interface TenantContextOptions {
  /** The setting policies read with current_setting(...). Default app.tenant_id. */
  readonly setting?: string;
  /** Replace the SET LOCAL of the setting, e.g. to call a function; runs inside the transaction. */
  readonly apply?: (session: Session, tenant: string) => Promise<void>;
}

/** `native` backend: every option of the throwaway server (binaries, port, osUser, settings, ...). */
export type NativeBackendOptions = NativeServerOptions;

export interface PgliteBackendSettings {
  /**
   * Extensions (as CREATE EXTENSION names: "uuid-ossp", "pgcrypto", ...) to load into every PGlite
   * instance. Those the migrations create while the template is built are found on their own; list
   * here the ones created later, by code under test or by migrations run in a test.
   */
  readonly extensions?: readonly string[];
  /**
   * Size cap of the snapshot cache in MB (default TENANTKIT_CACHE_MAX_MB, else 256): after a new
   * snapshot is written, the least recently used ones are removed until the cache fits, except those
   * this process uses and any used in the last ten minutes.
   */
  readonly cacheMaxMb?: number;
}

/** Platforms a project's migrations can expect to exist (KitOptions.preset). */
export const PRESETS = ['supabase'] as const;
export type Preset = (typeof PRESETS)[number];

export interface KitOptions {
  /** A Migrator, a directory of golang-migrate style SQL files, or nothing with `schema`. */
  readonly migrations?: Migrator | string | URL;
  /**
   * SQL run as the admin before the schema or the migrations, as file path(s)/URL(s) or SQL text:
   * what a project expects to exist already (login roles its README says to create, extensions,
   * grants). Part of the template key.
   */
  readonly setup?: string | URL | readonly (string | URL)[];
  /**
   * A platform the migrations expect, created before `setup`: 'supabase' makes the roles anon,
   * authenticated, service_role and authenticator, the auth schema with auth.users and auth.uid(),
   * auth.jwt(), auth.role(), auth.email(), the extensions schema and the platform's default
   * privileges (see supabasePresetSql). Part of the template key.
   */
  readonly preset?: Preset;
  /**
   * An SQL file applied on top of the migrations, as the identity that ran them, when the template
   * is built: a mutant of the RLS set-up (`tenantkit mutate` writes them). Part of the template key.
   * Default TENANTKIT_MUTANT; false ignores that variable (a kit that builds an unrelated schema).
   */
  readonly mutant?: string | false;
  /** A schema as SQL file path(s)/URL(s) or SQL text (used when there are no migrations). */
  readonly schema?: string | URL | readonly (string | URL)[];
  /** Default 'pglite'; TENANTKIT_BACKEND overrides. */
  readonly backend?: BackendKind;
  readonly isolation?: IsolationMode;
  readonly roles?: RoleOptions;
  readonly tenant?: TenantContextOptions;
  /** `url` backend: the server (default DATABASE_URL). */
  readonly url?: string;
  /** `url` backend: allow a non-loopback host. */
  readonly allowRemote?: boolean;
  readonly native?: NativeBackendOptions;
  readonly pglite?: PgliteBackendSettings;
  /** `container` backend: the image (default TENANTKIT_CONTAINER_IMAGE, else postgres:17-alpine) and more. */
  readonly container?: ContainerBackendOptions;
  /** Clones kept ready in the background (server backends, database isolation). Default 2. */
  readonly poolSize?: number;
  /** Keep a failing test's database and print its URL (server backends). Default false. */
  readonly keepFailed?: boolean;
  /**
   * Where PGlite snapshots are cached. Default TENANTKIT_CACHE_DIR, else node_modules/.cache/tenantkit
   * of the nearest project, else $XDG_CACHE_HOME/tenantkit (~/.cache/tenantkit).
   */
  readonly cacheDir?: string;
  /** How long to wait for another process building the same template. Default 120 s. */
  readonly templateLockTimeoutMs?: number;
  /**
   * How long one of the kit's own statements on a server (creating and dropping databases) may wait
   * for a lock another session holds before it fails with TENANTKIT_LOCK_WAIT_TIMEOUT. Default 30 s.
   */
  readonly lockTimeoutMs?: number;
}

export interface ResolvedRoles {
  readonly owner: string;
  readonly app: string;
  readonly appGrants: 'crud' | 'none';
  readonly migrateAs: 'owner' | 'admin';
  readonly passwords: { readonly owner?: string; readonly app?: string };
}

export interface ResolvedTenantContext {
  readonly setting: string;
  readonly apply?: (session: Session, tenant: string) => Promise<void>;
}
