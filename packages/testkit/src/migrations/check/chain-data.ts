import { messageOf } from '../../errors.js';
import type { Session } from '../../queryable.js';
import { quoteQualified } from '../../sql/ident.js';
import { type MigrationInfo, type Migrator, stateTablesOf } from '../migrator.js';
import { nullGate } from './null-gate.js';
import type { MigrationStepReport, StairwayOptions } from './stairway.js';

/**
 * Fills the database with rows as it stands after a migration (the schema-derived seeder, or the
 * user's); may say which tenant columns it found, for the NULL gate.
 */
export type SeedStep = (session: Session, migration: MigrationInfo, index: number) => Promise<{ readonly tenantColumns?: readonly string[] } | void>;

export interface ChainDataOptions extends StairwayOptions {
  readonly seed: SeedStep;
  /**
   * Tenant columns that must hold no NULL at the head (the NULL gate); default: those the last seed
   * named, else tenant_id. Empty: no gate, for schemas where a NULL tenant means a row every tenant shares.
   */
  readonly tenantColumns?: readonly string[];
}

export const CHAIN_DATA_STEP = { version: 'data', name: 'seeded rows carried through base -> head' } as const;

/** Rows per table, as the inspecting (bypassing) identity sees them, state tables left out. */
async function rowCounts(session: Session, ignore: ReadonlySet<string>): Promise<Map<string, number>> {
  const { rows: tables } = await session.query<{ schema: string; table: string }>(
    `SELECT n.nspname AS schema, c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
      ORDER BY 1, 2`,
  );
  const counts = new Map<string, number>();
  for (const { schema, table } of tables) {
    const name = `${schema}.${table}`;
    if (ignore.has(name)) continue;
    const { rows } = await session.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${quoteQualified(schema, table)}`);
    counts.set(name, Number(rows[0]?.n ?? 0));
  }
  return counts;
}

/**
 * The chain's data, on one fresh database: after each migration's up the database is seeded, and
 * the next up must apply on them. A step that adds a NOT NULL column with no default fails (it fails on
 * any rows); a step that fails on the seeded rows' values stops the check as not proven (the rows are
 * made up); rows a step deletes and tables it drops are named as warnings. At the head, the NULL gate:
 * no tenant column is left NULL on rows that existed before the column did. Up-only chains get this
 * instead of a down they do not have; no rows seeded at all is "not checked", never a pass.
 */
export async function checkChainData(migrator: Migrator, options: ChainDataOptions): Promise<MigrationStepReport> {
  const ignore = new Set(stateTablesOf(migrator, options.ignoreTables));
  const problems: string[] = [];
  const report = (status: MigrationStepReport['status']): MigrationStepReport => ({ ...CHAIN_DATA_STEP, status, problems });
  const migrations = await migrator.list();
  let counts = new Map<string, number>();
  let seeded = 0;
  let failed = false;
  let found: readonly string[] | undefined;
  for (const [index, migration] of migrations.entries()) {
    const label = `${migration.version} ${migration.name}`;
    try {
      await migrator.up(options.target, migration.version);
    } catch (caught) {
      const added = await addedNotNullColumn(options.inspect, messageOf(caught));
      if (added) {
        problems.push(`${label} adds the NOT NULL column ${added} with no default: it fails on any table that holds rows (an empty database hides this). Give it a default, or add it nullable, backfill, then SET NOT NULL.`);
        return report('fail');
      }
      problems.push(`not checked past ${label}: it fails on the rows seeded from the schema (${firstLine(caught)}). Real rows may differ; if they can look like these, it fails in production too.`);
      return report('skip');
    }
    const after = await rowCounts(options.inspect, ignore);
    for (const [table, before] of counts) {
      const now = after.get(table);
      if (now === undefined) {
        if (before > 0) problems.push(`warning: after ${label}, ${table} is gone (dropped or renamed) with the ${before} row(s) it held: check that their data was meant to go or was moved.`);
      } else if (now < before) {
        problems.push(`warning: ${label} deletes rows of ${table}: ${before} before it, ${now} after. Check that a clean-up was meant (real rows like these would go too).`);
      }
    }
    try {
      found = (await options.seed(options.inspect, migration, index))?.tenantColumns ?? found;
    } catch (caught) {
      problems.push(`not checked past ${label}: its schema could not be seeded (${firstLine(caught)}); rows seeded before it were checked up to here.`);
      return report('skip');
    }
    counts = await rowCounts(options.inspect, ignore);
    seeded += [...counts].reduce((sum, [table, n]) => sum + n - (after.get(table) ?? 0), 0);
  }
  if (seeded === 0) {
    problems.push('not checked: the seeder put no rows in any table, so no data could be carried through the chain');
    return report('skip');
  }
  for (const column of options.tenantColumns ?? found ?? ['tenant_id']) {
    const gate = await nullGate(options.inspect, { column });
    for (const table of gate.tables.filter((entry) => entry.nulls > 0)) {
      failed = true;
      problems.push(`NULL gate: ${table.table} has ${table.nulls} row(s) with NULL ${column} at the head: rows that existed before the column were never backfilled. Backfill them in the migration that adds it (or, if a NULL ${column} means a row all tenants share, leave the gate off).`);
    }
  }
  return report(failed ? 'fail' : 'pass');
}

function firstLine(caught: unknown): string {
  return messageOf(caught).split('\n')[0]!;
}

/**
 * `column "x" of relation "t" contains null values` (23502) for a column the table does not have
 * yet: the step adds a NOT NULL column with no default, which fails on any row whatever its values.
 * The same error on an existing column (SET NOT NULL after a backfill) depends on the rows.
 */
async function addedNotNullColumn(inspect: Session, message: string): Promise<string | undefined> {
  const match = /column "((?:[^"]|"")+)" of relation "((?:[^"]|"")+)" contains null values/.exec(message);
  if (!match) return undefined;
  const [column, table] = [match[1]!, match[2]!];
  const { rows } = await inspect.query(
    `SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid WHERE c.relname = $1 AND a.attname = $2 AND NOT a.attisdropped`,
    [table, column],
  );
  return rows.length === 0 ? `${table}.${column}` : undefined;
}
