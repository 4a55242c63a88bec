import type { Queryable } from '../../queryable.js';
import type { SchemaSnapshot } from '../../snapshot/index.js';
import { splitStatements } from '../../sql/split.js';

const UPDATE_TARGET = /^\s*update\s+(?:only\s+)?((?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*))?)/i;
const SETS_CONTEXT = /\bset_config\s*\(|\bset\s+local\b|\bset\s+(?:session\s+)?"?[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*"?\s*(?:=|to\b)/i;

function unquote(part: string): string {
  const trimmed = part.trim();
  return trimmed.startsWith('"') ? trimmed.slice(1, -1).replaceAll('""', '"') : trimmed.toLowerCase();
}

/** `schema.table` as the snapshot names tables (each part quoted only when it needs to be). */
function snapshotName(target: string): string[] {
  const parts = target.split(/\s*\.\s*(?=(?:[^"]*"[^"]*")*[^"]*$)/).map(unquote);
  const [schema, table] = parts.length === 2 ? parts : ['public', parts[0]!];
  const show = (name: string) => (/^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`);
  return [`${show(schema!)}.${show(table!)}`, `${schema}.${table}`];
}

/**
 * The backfill trap: an UPDATE in a migration on a table whose row level security applies to the
 * migrating role (FORCE, or a role that does not own it), with no tenant context set before it,
 * updates zero rows on a real server and succeeds silently. Returns one warning per such UPDATE.
 */
export async function findBackfillTraps(sql: string, file: string, before: SchemaSnapshot, inspect: Queryable, role: string): Promise<string[]> {
  const { rows } = await inspect.query<{ bypasses: boolean }>(
    'SELECT rolsuper OR rolbypassrls AS bypasses FROM pg_roles WHERE rolname = $1',
    [role],
  );
  if (rows[0]?.bypasses !== false) return [];
  const warnings: string[] = [];
  let contextSet = false;
  for (const statement of splitStatements(sql)) {
    if (SETS_CONTEXT.test(statement.text)) contextSet = true;
    const target = UPDATE_TARGET.exec(statement.text)?.[1];
    if (!target || contextSet) continue;
    const names = snapshotName(target);
    const table = before.tables.find((candidate) => names.includes(candidate.name));
    if (!table?.rowSecurity) continue;
    const applies = table.forceRowSecurity || table.owner !== role;
    if (!applies) continue;
    warnings.push(
      `warning: ${file}: UPDATE ${names[1]} runs as ${role}, which is subject to row level security on it (${table.forceRowSecurity ? 'FORCE ROW LEVEL SECURITY' : `owned by ${table.owner}`}), with no tenant context set: on a real server it updates only the rows its policies show, often none, and succeeds silently. Set the context first (SELECT set_config(...)), run the backfill as a role that bypasses RLS, or backfill before enabling FORCE.`,
    );
  }
  return warnings;
}
