import type { BackendKind, IsolationMode, ResolvedRoles } from '../config.js';
import type { Migrator } from '../migrations/migrator.js';
import type { Session } from '../queryable.js';

/**
 * What a backend can do, so the code above it asks a flag instead of testing the backend's name.
 */
export interface BackendCapabilities {
  /**
   * owner and app are genuine LOGIN connections, each on its own connection; without it they are
   * SET ROLE on the one superuser session (PGlite), which the kit watches for escapes.
   */
  readonly realLoginRoles: boolean;
  /** A failed test's database can be left in place for inspection (keepFailed). */
  readonly keepsFailedDatabases: boolean;
  /** The isolation mode startKit uses when none is given. */
  readonly defaultIsolation: IsolationMode;
}

export interface TemplateSpec {
  readonly migrator: Migrator;
  /** Run as the admin before the migrations (KitOptions.setup). */
  readonly setup?: Migrator;
  readonly roles: ResolvedRoles;
  /** Hash of the migrations and everything else that shapes the template's contents. */
  readonly key: string;
}

export interface PreparedTemplate {
  readonly name: string;
  readonly key: string;
  /** True when this process built it; false when it was already there (cache or other process). */
  readonly built: boolean;
  readonly migrations: number;
  readonly ms: number;
}

export type IdentityName = 'admin' | 'owner' | 'app';

/** A connection to one database, closable. */
export interface OpenSession extends Session {
  close(): Promise<void>;
}

/** One physical database made from the template, as the backend sees it. */
export interface PhysicalDatabase {
  readonly name: string;
  /** Connection URL for an identity (server backends). */
  urlFor(identity: IdentityName): string | undefined;
  /** Opens a connection as the identity. Backends without realLoginRoles only open 'admin'. */
  open(identity: IdentityName): Promise<OpenSession>;
  /** Removes the database; `keep` leaves it in place and returns where to find it. */
  dispose(options: { readonly keep: boolean }): Promise<string | undefined>;
}

export interface Backend extends AsyncDisposable {
  readonly kind: BackendKind;
  readonly capabilities: BackendCapabilities;
  /** e.g. "PostgreSQL 15.18" */
  readonly serverVersion: string;
  /** Builds the template for these migrations once (per server, per cache), or finds it. */
  prepare(spec: TemplateSpec): Promise<PreparedTemplate>;
  /** A fresh database cloned from the template. */
  createDatabase(template: PreparedTemplate): Promise<PhysicalDatabase>;
  /**
   * Gets databases for the template ready before the first test asks (database isolation): a server
   * fills its pool of clones; a backend with nothing to prepare returns at once.
   */
  warm(template: PreparedTemplate): Promise<void>;
  /**
   * Backends on a shared cluster: the role names now, and dropping the ones created since (roles a
   * migration under check created). Absent where roles live and die with each database (PGlite).
   */
  roleNames?(): Promise<ReadonlySet<string>>;
  dropRolesSince?(baseline: ReadonlySet<string>, why: string): Promise<string[]>;
  stop(): Promise<void>;
}
