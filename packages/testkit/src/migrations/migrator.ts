import type { Session } from '../queryable.js';

/** One migration as a migrator knows it. Versions compare as the migrator orders them. */
export interface MigrationInfo {
  readonly version: string;
  readonly name: string;
  /** False when there is no down step (declared irreversible, or the tool has none). */
  readonly reversible: boolean;
  /**
   * Why a down step was expected and is not there: the down file is missing or empty and the
   * migration was not declared irreversible. The stairway fails such a migration.
   */
  readonly missingDown?: string;
  readonly upFile?: string;
  readonly downFile?: string;
}

/**
 * Where a migrator applies its steps. `session` is one connection acting as the migrating role;
 * `url` (server backends) lets external tools connect on their own.
 */
export interface MigrationTarget {
  readonly session: Session;
  readonly role: string;
  readonly url?: string;
}

export interface AppliedStep {
  readonly version: string;
  readonly name: string;
  readonly direction: 'up' | 'down';
  readonly ms: number;
}

/**
 * The contract every migration source meets (one folder each under sources/). `hash()` keys the
 * template: equal hashes mean identical schemas.
 */
export interface Migrator {
  /** Short name of the source kind, e.g. "sql-directory". */
  readonly kind: string;
  /** Where the migrations come from, for messages (a directory, a file). */
  readonly source: string;
  /**
   * The tables the source keeps its state in, as schema.table: schema comparisons (the stairway,
   * the chain's data) leave them out. Empty when the source keeps no state in the database.
   */
  readonly stateTables: readonly string[];
  /**
   * The source runs a tool that opens its own connection to the target (by URL), so it cannot run
   * on a backend without one (PGlite): startKit refuses that pairing before starting anything.
   */
  readonly connectsByUrl?: boolean;
  hash(): Promise<string>;
  list(): Promise<readonly MigrationInfo[]>;
  /** The version the target database is at, as its state records it, or null at base. */
  current(target: MigrationTarget): Promise<string | null>;
  /** Apply pending migrations up to and including `to` (default: all). */
  up(target: MigrationTarget, to?: string): Promise<readonly AppliedStep[]>;
  /** Revert applied migrations down to `to`, which stays applied (default: back to base). */
  down(target: MigrationTarget, to?: string): Promise<readonly AppliedStep[]>;
}

/** The tables a schema comparison leaves out for this source: its state, then the caller's own. */
export function stateTablesOf(migrator: Migrator, extra: readonly string[] = []): string[] {
  return [...migrator.stateTables, ...extra];
}
