import { InvalidOptionError, MigrationsInvalidError } from '../errors.js';
import type { Session } from '../queryable.js';
import { quoteIdent, quoteQualified } from '../sql/ident.js';

/** A migration tool's state table as the catalog has it: its kind and its columns' types. */
export interface StateTableShape {
  readonly relkind: string;
  readonly columns: readonly { readonly name: string; readonly type: string }[];
}

/** Reads the state table's shape, or undefined when it does not exist yet; each format judges it. */
export async function readStateTable(session: Session, schema: string, table: string): Promise<StateTableShape | undefined> {
  const rel = await session.query<{ relkind: string }>(
    `SELECT c.relkind::text AS relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
    [schema, table],
  );
  const relkind = rel.rows[0]?.relkind;
  if (relkind === undefined) return undefined;
  const columns = await session.query<{ name: string; type: string }>(
    `SELECT a.attname::text AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, table],
  );
  return { relkind, columns: columns.rows };
}

/** Postgres truncates identifiers longer than this many bytes. */
const MAX_IDENT_BYTES = 63;

/** Refuses a state table or schema name that Postgres would not keep as given. */
export function checkIdentOption(option: string, value: string): void {
  if (value.length === 0) throw new InvalidOptionError(option, 'must not be empty. Leave it out to use the default.');
  if (value.includes('\0')) throw new InvalidOptionError(option, 'must not contain a NUL character.');
  if (Buffer.byteLength(value, 'utf8') > MAX_IDENT_BYTES) {
    throw new InvalidOptionError(
      option,
      `"${value}" is longer than ${MAX_IDENT_BYTES} bytes, and Postgres would silently truncate it. Use a shorter name.`,
    );
  }
}

/** The state table's columns as found, for the message that refuses it. */
export function describeShape(shape: StateTableShape): string {
  const columns = shape.columns.map((r) => `${r.name} ${r.type}`).join(', ');
  return `${isTable(shape) ? '' : `relkind ${shape.relkind} with `}columns: ${columns || 'none'}`;
}

/** A plain or partitioned table, not a view or anything else of that name. */
export function isTable(shape: StateTableShape): boolean {
  return shape.relkind === 'r' || shape.relkind === 'p';
}

/** What golang-migrate's state table holds: the last version applied, and whether its step failed halfway. */
export interface VersionState {
  /** null at base (golang-migrate writes -1 for a dirty base). */
  readonly version: bigint | null;
  readonly dirty: boolean;
}

/** golang-migrate's state table, `(version bigint not null primary key, dirty boolean not null)`, one row at most. */
export interface VersionStateTable {
  readonly qualified: string;
  /** Creates it (and its schema) when missing. */
  ensure(session: Session): Promise<void>;
  /** The state, or null when there is no table or no row. */
  read(session: Session): Promise<VersionState | null>;
  /** Records the state as golang-migrate does: one row, or none at a clean base. */
  write(session: Session, version: bigint | null, dirty: boolean): Promise<void>;
}

/** `fix` ends the message that refuses a table of that name with another shape. */
export function versionStateTable(schema: string, table: string, fix: string): VersionStateTable {
  const qualified = quoteQualified(schema, table);

  async function exists(session: Session): Promise<boolean> {
    const shape = await readStateTable(session, schema, table);
    if (shape === undefined) return false;
    const typeOf = (name: string): string | undefined => shape.columns.find((r) => r.name === name)?.type;
    if (!isTable(shape) || typeOf('version') !== 'bigint' || typeOf('dirty') !== 'boolean') {
      throw new MigrationsInvalidError(
        qualified,
        `${qualified} exists but is not a migrations state table of the expected shape (a table with version bigint and dirty boolean; found ${describeShape(shape)}). ${fix}`,
      );
    }
    return true;
  }

  return {
    qualified,
    async ensure(session) {
      if (await exists(session)) return;
      const ns = await session.query(`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [schema]);
      if (ns.rows.length === 0) await session.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      await session.exec(`CREATE TABLE IF NOT EXISTS ${qualified} (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)`);
    },
    async read(session) {
      if (!(await exists(session))) return null;
      const result = await session.query<{ version: string; dirty: boolean | string }>(`SELECT version::text AS version, dirty FROM ${qualified} LIMIT 1`);
      const row = result.rows[0];
      if (!row) return null;
      const version = BigInt(row.version);
      const dirty = row.dirty === true || row.dirty === 't' || row.dirty === 'true';
      return { version: version < 0n ? null : version, dirty };
    },
    async write(session, version, dirty) {
      await session.exec('BEGIN');
      try {
        await session.query(`DELETE FROM ${qualified}`);
        if (version !== null || dirty) {
          await session.query(`INSERT INTO ${qualified} (version, dirty) VALUES ($1, $2)`, [String(version ?? -1n), dirty]);
        }
        await session.exec('COMMIT');
      } catch (error) {
        try {
          await session.exec('ROLLBACK');
        } catch {
          // Keep the original error.
        }
        throw error;
      }
    },
  };
}
