import type { Session } from '../queryable.js';
import { quoteLiteral } from '../sql/ident.js';

/** Schemas the migrations own: everything but the system's. */
export const USER_SCHEMAS = `n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'`;

/** Where a sequence stood after migrations: nextval() is not undone by ROLLBACK, so it is put back. */
export interface SequenceState {
  readonly oid: number;
  readonly sequence: string;
  /** last_value, or null when nextval() was never called. */
  readonly lastValue: string | null;
  readonly startValue: string;
}

export async function captureSequences(admin: Session): Promise<SequenceState[]> {
  const { rows } = await admin.query<{ oid: number; sequence: string; last_value: string | null; start_value: string }>(`
    SELECT c.oid::int AS oid, format('%I.%I', s.schemaname, s.sequencename) AS sequence,
           s.last_value::text AS last_value, s.start_value::text AS start_value
      FROM pg_sequences s
      JOIN pg_namespace n ON n.nspname = s.schemaname
      JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.sequencename
     WHERE ${USER_SCHEMAS}
     ORDER BY 2`);
  return rows.map((row) => ({ oid: Number(row.oid), sequence: row.sequence, lastValue: row.last_value, startValue: row.start_value }));
}

/** One statement that puts these sequences back where they stood (empty when there are none). */
export function restoreSequencesSql(sequences: readonly SequenceState[]): string {
  if (sequences.length === 0) return '';
  const calls = sequences.map(
    (entry) => `setval(${quoteLiteral(entry.sequence)}::regclass, ${BigInt(entry.lastValue ?? entry.startValue)}, ${entry.lastValue !== null})`,
  );
  return `SELECT ${calls.join(', ')}`;
}

/**
 * Puts back only the sequences that moved: reading them is several times cheaper than writing
 * them all, and a test usually touches a few.
 */
export async function restoreMovedSequences(admin: Session, sequences: readonly SequenceState[]): Promise<void> {
  if (sequences.length === 0) return;
  const { rows } = await admin.query<{ moved: number[] | null }>(
    `SELECT ARRAY(SELECT x.i::int FROM unnest($1::oid[], $2::bigint[]) WITH ORDINALITY AS x(seq, value, i)
                   WHERE pg_sequence_last_value(x.seq) IS DISTINCT FROM x.value) AS moved`,
    [sequences.map((entry) => entry.oid), sequences.map((entry) => entry.lastValue)],
  );
  const moved = (rows[0]?.moved ?? []).map((index) => sequences[index - 1]!);
  if (moved.length > 0) await admin.exec(restoreSequencesSql(moved));
}
