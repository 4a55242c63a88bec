import { type AutoFactories, type Row, type TableKind, type TableModel, type World, createFaker } from '@tenantkit/fixtures';
import { type Queryable, type Session, type TestDatabase, quoteIdent } from '@tenantkit/testkit';
import type { TenantContext } from './context.js';
import type { CheckResult, Finding } from './types.js';

/** The checks of the matrix, in the order they are shown. */
export const CHECKS = [
  'read-own',
  'read-foreign',
  'insert-foreign',
  'update-foreign',
  'update-unfiltered',
  'move',
  'delete-foreign',
  'delete-unfiltered',
  'no-context',
] as const;
export type CheckName = (typeof CHECKS)[number];

export interface ProbeTable {
  readonly table: TableModel;
  readonly kind: TableKind;
  /** The column holding the tenant id (tenant tables; the key of the tenant-root table). */
  readonly tenantColumn: string | undefined;
  /** Indirect tables: the foreign key leading toward the tenant. */
  readonly anchorColumns: readonly string[] | undefined;
}

export interface ProbeEnvironment {
  readonly db: TestDatabase;
  readonly context: TenantContext;
  readonly world: World;
  readonly factories: AutoFactories;
  /** A connection as the app role that never sets a tenant (real logins only), shared by the probes. */
  readonly freshApp?: Queryable;
}

export interface TableProbeResult {
  readonly checks: CheckResult[];
  readonly findings: Finding[];
}

/** Thrown to end a probe's transaction: every probe is rolled back. */
class RollbackProbe extends Error {}

interface Outcome {
  readonly rowCount?: number;
  readonly error?: { readonly code: string | undefined; readonly message: string };
}

const RLS_REFUSED = '42501';

/**
 * Runs one statement as the app role inside a savepoint, so a refused statement does not end the
 * probe's transaction. Postgres's own row count is the evidence: without RETURNING it counts every
 * row the statement wrote, whether or not the tenant could have read them.
 */
async function attempt(tx: Session, sql: string, params: readonly unknown[]): Promise<Outcome> {
  await tx.exec('SAVEPOINT tk_probe');
  let outcome: Outcome;
  try {
    outcome = { rowCount: (await tx.query(sql, params)).rowCount };
  } catch (error) {
    const failure = error as { code?: string; message?: string };
    outcome = { error: { code: failure.code, message: failure.message ?? String(error) } };
  }
  // Undone either way: one probe's write must not change what the next one sees.
  await tx.exec('ROLLBACK TO SAVEPOINT tk_probe; RELEASE SAVEPOINT tk_probe');
  return outcome;
}

/** A count as the app role, or the error that stopped it (inside a savepoint: the probe goes on). */
async function countRows(tx: Session, sql: string, params: readonly unknown[]): Promise<number | { message: string }> {
  await tx.exec('SAVEPOINT tk_count');
  try {
    const { rows } = await tx.query<{ n: string | number }>(sql, params);
    await tx.exec('RELEASE SAVEPOINT tk_count');
    return Number(rows[0]?.n ?? 0);
  } catch (error) {
    await tx.exec('ROLLBACK TO SAVEPOINT tk_count; RELEASE SAVEPOINT tk_count');
    return { message: error instanceof Error ? error.message : String(error) };
  }
}

/** `(pk...)::text` matches the World's keys, which are the key values as text. */
function keyFilter(table: TableModel, keys: readonly (readonly string[])[], firstParam: number): { sql: string; params: unknown[] } {
  const columns = table.primaryKey;
  const arrays = columns.map((_, index) => keys.map((key) => key[index] ?? ''));
  const left = columns.map((column) => `${quoteIdent(column)}::text`).join(', ');
  const unnest = columns.map((_, index) => `$${firstParam + index}::text[]`).join(', ');
  return { sql: `(${left}) IN (SELECT * FROM unnest(${unnest}))`, params: arrays };
}

export interface TenantPair {
  readonly attacker: string;
  readonly victim: string;
}

/**
 * Probes one table, attacker against victim and back, each probe in a transaction of the app role
 * that is rolled back. A check fails only for what a statement proved.
 */
export async function probeTable(env: ProbeEnvironment, target: ProbeTable): Promise<TableProbeResult> {
  const [a, b] = env.world.tenants;
  const results = new Map<CheckName, CheckResult>();
  const findings: Finding[] = [];
  if (a === undefined || b === undefined) {
    for (const check of CHECKS) results.set(check, { check, status: 'skip', detail: 'fewer than two tenants were seeded' });
    return { checks: [...results.values()], findings };
  }
  for (const pair of [
    { attacker: a, victim: b },
    { attacker: b, victim: a },
  ]) {
    const direction = await probeDirection(env, target, pair);
    // One finding per foreign key, whichever direction proved it first.
    for (const finding of direction.findings) if (!findings.some((known) => known.code === finding.code && known.object === finding.object)) findings.push(finding);
    for (const result of direction.results) {
      const previous = results.get(result.check as CheckName);
      // A failure in either direction is the table's result; otherwise the first pass stands.
      if (!previous || (previous.status !== 'fail' && result.status === 'fail') || (previous.status === 'skip' && result.status === 'pass')) {
        results.set(result.check as CheckName, result);
      }
    }
  }
  // Both tenants' rows, once: without a valid tenant none of them may show.
  const seeded = env.world.table(target.table.id);
  results.set('no-context', await probeNoContext(env, target, [...(seeded?.keys[a] ?? []), ...(seeded?.keys[b] ?? [])]));
  return { checks: CHECKS.map((check) => results.get(check) ?? { check, status: 'skip', detail: 'not probed' }), findings };
}

async function probeDirection(env: ProbeEnvironment, target: ProbeTable, pair: TenantPair): Promise<{ results: CheckResult[]; findings: Finding[] }> {
  const { db, context, world } = env;
  const { table } = target;
  const seeded = world.table(table.id);
  const own = seeded?.keys[pair.attacker] ?? [];
  const foreign = seeded?.keys[pair.victim] ?? [];
  const results: CheckResult[] = [];
  const findings: Finding[] = [];
  const pass = (check: CheckName, detail: string) => results.push({ check, status: 'pass', detail });
  const fail = (check: CheckName, detail: string) => results.push({ check, status: 'fail', detail });
  const skip = (check: CheckName, detail: string) => results.push({ check, status: 'skip', detail });
  const who = `tenant ${pair.attacker}`;
  const victim = `tenant ${pair.victim}`;
  const whose = `${victim}'s`;
  const hasKey = table.primaryKey.length > 0;
  const victimRow = hasKey && foreign.length > 0 ? await loadRow(db, table, foreign[0]!) : undefined;
  const ownRow = hasKey && own.length > 0 ? await loadRow(db, table, own[0]!) : undefined;
  const column = writableColumn(table, target);
  const moveColumns = target.tenantColumn !== undefined && target.kind !== 'tenant-root' ? [target.tenantColumn] : target.anchorColumns;
  const constant = column ? constantFor(env, table, column) : undefined;

  await asApp(db, context, pair.attacker, async (tx) => {
    const total = await countRows(tx, `SELECT count(*) AS n FROM ${table.qualified}`, []);
    const visible = typeof total === 'number' ? total : 0;
    // The victim's rows the attacker could already read (a proven leak of its own) are not the attacker's to write.
    let foreignVisible = 0;
    if (typeof total !== 'number') {
      // Without SELECT the tenant reads nothing at all; the write probes still run.
      skip('read-own', `the app role cannot read the table: ${total.message}`);
      skip('read-foreign', `the app role cannot read the table: ${total.message}`);
    } else if (!hasKey) {
      skip('read-own', 'no primary key to recognise rows by');
      skip('read-foreign', 'no primary key to recognise rows by');
    } else {
      const mine = keyFilter(table, own, 1);
      const seen = await countRows(tx, `SELECT count(*) AS n FROM ${table.qualified} WHERE ${mine.sql}`, mine.params);
      if (typeof seen !== 'number') fail('read-own', `${who} cannot read its own rows: ${seen.message}`);
      else if (seen === own.length) pass('read-own', `${who} sees its ${own.length} row(s)`);
      else fail('read-own', `${who} sees ${seen} of its ${own.length} row(s): no policy lets the tenant read its own rows`);
      const theirs = keyFilter(table, foreign, 1);
      const leaked = await countRows(tx, `SELECT count(*) AS n FROM ${table.qualified} WHERE ${theirs.sql}`, theirs.params);
      if (typeof leaked === 'number') foreignVisible = leaked;
      if (typeof leaked !== 'number' || leaked === 0) pass('read-foreign', `none of ${whose} ${foreign.length} row(s) visible to ${who}`);
      else fail('read-foreign', `${who} read ${leaked} of ${whose} ${foreign.length} row(s)`);
    }

    if (target.kind === 'tenant-root') skip('insert-foreign', 'the tenants table itself: a new tenant is not another tenant\'s row');
    else if (!victimRow) skip('insert-foreign', 'no row of the other tenant to model the insert on');
    else {
      const row = insertableCopy(env, table, target, victimRow);
      const columns = Object.keys(row);
      const outcome = await attempt(
        tx,
        `INSERT INTO ${table.qualified} (${columns.map(quoteIdent).join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
        columns.map((name) => row[name]),
      );
      if (outcome.error?.code === RLS_REFUSED) pass('insert-foreign', `a row of ${whose} was refused: ${outcome.error.message}`);
      else if (outcome.error) skip('insert-foreign', `the insert failed for another reason, so RLS was not tested: ${outcome.error.message}`);
      else fail('insert-foreign', `${who} inserted a row belonging to ${victim}`);
    }

    if (!column || constant === undefined) {
      skip('update-foreign', 'no column the probe can write');
      skip('update-unfiltered', 'no column the probe can write');
    } else {
      if (!hasKey) skip('update-foreign', 'no primary key to aim at the other tenant');
      else {
        const theirs = keyFilter(table, foreign, 2);
        const outcome = await attempt(tx, `UPDATE ${table.qualified} SET ${quoteIdent(column)} = $1 WHERE ${theirs.sql}`, [constant, ...theirs.params]);
        results.push(verdict('update-foreign', outcome, 0, `${who} updated`, `of ${whose} rows by key`));
      }
      // No WHERE, no RETURNING, constants: no column is read, so only UPDATE policies choose the rows.
      const unfiltered = [
        verdict('update-unfiltered', await attempt(tx, `UPDATE ${table.qualified} SET ${quoteIdent(column)} = $1`, [constant]), visible - foreignVisible, `an unfiltered UPDATE by ${who} wrote`, `rows while only ${visible - foreignVisible} are its own or shared`),
      ];
      // Claiming every row for the attacker passes a WITH CHECK that only looks at the tenant.
      if (ownRow && moveColumns && moveColumns.length > 0) {
        const set = moveColumns.map((name, i) => `${quoteIdent(name)} = $${i + 1}`).join(', ');
        const claimed = await attempt(tx, `UPDATE ${table.qualified} SET ${set}`, moveColumns.map((name) => ownRow[name]));
        unfiltered.push(verdict('update-unfiltered', claimed, visible - foreignVisible, `an unfiltered UPDATE by ${who} claimed`, `rows for itself while only ${visible - foreignVisible} are its own or shared`));
      }
      results.push(strongest(unfiltered));
    }

    if (!ownRow || !victimRow || !moveColumns || moveColumns.length === 0) skip('move', 'nothing to move the row with');
    else {
      const set = moveColumns.map((name, i) => `${quoteIdent(name)} = $${i + 1}`).join(', ');
      const values = moveColumns.map((name) => victimRow[name]);
      const judge = (outcome: Outcome, how: string): CheckResult => {
        if (outcome.error?.code === RLS_REFUSED) return { check: 'move', status: 'pass', detail: `moving ${how} to ${victim} was refused` };
        if (outcome.error) return { check: 'move', status: 'skip', detail: `the move failed for another reason, so RLS was not tested: ${outcome.error.message}` };
        if ((outcome.rowCount ?? 0) === 0) return { check: 'move', status: 'pass', detail: `no row moved (${who} cannot update ${how})` };
        return { check: 'move', status: 'fail', detail: `${who} moved ${outcome.rowCount} row(s) (${how}) into ${victim}` };
      };
      const mine = keyFilter(table, [own[0]!], moveColumns.length + 1);
      // By key (SELECT policies also judge the new row), and without WHERE (only UPDATE policies do).
      const byKey = judge(await attempt(tx, `UPDATE ${table.qualified} SET ${set} WHERE ${mine.sql}`, [...values, ...mine.params]), 'one of its rows by key');
      const all = judge(await attempt(tx, `UPDATE ${table.qualified} SET ${set}`, values), 'its rows with an unfiltered UPDATE');
      results.push(strongest([byKey, all]));
    }

    if (!hasKey) skip('delete-foreign', 'no primary key to aim at the other tenant');
    else {
      const theirs = keyFilter(table, foreign, 1);
      const outcome = await attempt(tx, `DELETE FROM ${table.qualified} WHERE ${theirs.sql}`, theirs.params);
      results.push(verdict('delete-foreign', outcome, 0, `${who} deleted`, `of ${whose} rows by key`));
    }
    const deleted = await attempt(tx, `DELETE FROM ${table.qualified}`, []);
    results.push(verdict('delete-unfiltered', deleted, visible - foreignVisible, `an unfiltered DELETE by ${who} removed`, `rows while only ${visible - foreignVisible} are its own or shared`));

    if (ownRow && target.kind === 'tenant') findings.push(...(await probeCrossReferences(env, target, pair, ownRow, tx)));
  });

  return { results, findings };
}

/**
 * Writes through foreign keys: a row of the attacker's tenant pointing at the victim's parent row.
 * Accepted, it is proven (foreign-key checks ignore RLS): ownership corrupted and existence revealed,
 * though no row is exposed, hence a warning.
 */
async function probeCrossReferences(env: ProbeEnvironment, target: ProbeTable, pair: TenantPair, ownRow: Row, tx: Session): Promise<Finding[]> {
  const { table } = target;
  const findings: Finding[] = [];
  for (const fk of table.foreignKeys) {
    const parentId = `${fk.references.schema}.${fk.references.table}`;
    const parentKind = env.factories.tenancy.tables.get(parentId)?.kind;
    if (parentKind !== 'tenant' && parentKind !== 'indirect') continue;
    if (target.tenantColumn && fk.columns.includes(target.tenantColumn)) continue;
    const parent = env.factories.model.tables.find((candidate) => candidate.id === parentId);
    const victimKey = env.world.table(parentId)?.keys[pair.victim]?.[0];
    if (!parent || !victimKey || parent.primaryKey.length === 0) continue;
    const victimParent = await loadRow(env.db, parent, victimKey);
    if (!victimParent) continue;
    const row = insertableCopy(env, table, target, ownRow);
    fk.columns.forEach((column, index) => {
      row[column] = victimParent[fk.references.columns[index]!];
    });
    const columns = Object.keys(row);
    const outcome = await attempt(
      tx,
      `INSERT INTO ${table.qualified} (${columns.map(quoteIdent).join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
      columns.map((name) => row[name]),
    );
    if (outcome.error) continue;
    findings.push({
      code: 'TK_CROSS_TENANT_REFERENCE_WRITTEN',
      severity: 'warning',
      object: `${table.id}.${fk.name}`,
      message: `Proven by a probe: tenant ${pair.attacker} wrote a row of ${table.id} whose ${fk.columns.join(', ')} points at tenant ${pair.victim}'s row in ${parentId}. Foreign-key checks ignore row level security, so ownership can be corrupted and the existence of other tenants' ids tested.`,
      hint: `Make the foreign key carry the tenant: ALTER TABLE ${parent.qualified} ADD UNIQUE (${quoteIdent(target.tenantColumn ?? 'tenant_id')}, ${fk.references.columns.map(quoteIdent).join(', ')}); then reference (${quoteIdent(target.tenantColumn ?? 'tenant_id')}, ${fk.columns.map(quoteIdent).join(', ')}) from ${table.qualified}.`,
    });
  }
  return findings;
}

/** A write must touch at most `allowed` rows; RLS refusing it outright is a pass too. */
function verdict(check: CheckName, outcome: Outcome, allowed: number, did: string, what: string): CheckResult {
  if (outcome.error?.code === RLS_REFUSED) return { check, status: 'pass', detail: `refused: ${outcome.error.message}` };
  if (outcome.error) {
    // Constraint errors are raised only for rows the statement reached.
    if (allowed === 0 && ['23502', '23503', '23505', '23514'].includes(outcome.error.code ?? '')) {
      return { check, status: 'fail', detail: `${did} rows ${what} (it reached them and hit: ${outcome.error.message})` };
    }
    return { check, status: 'skip', detail: `the statement failed for another reason, so RLS was not tested: ${outcome.error.message}` };
  }
  if ((outcome.rowCount ?? 0) > allowed) return { check, status: 'fail', detail: `${did} ${outcome.rowCount} ${what}` };
  return { check, status: 'pass', detail: `${outcome.rowCount ?? 0} row(s) written, none beyond the tenant's own` };
}

/** Several statements probing one check: any proven leak fails it, else any pass passes it. */
function strongest(results: readonly CheckResult[]): CheckResult {
  return results.find((result) => result.status === 'fail') ?? results.find((result) => result.status === 'pass') ?? results[0]!;
}

/** With no tenant set, an empty setting and a garbage one: no tenant row may be visible (an error is closed). */
async function probeNoContext(env: ProbeEnvironment, target: ProbeTable, keys: readonly (readonly string[])[]): Promise<CheckResult> {
  const { db, context } = env;
  const { table } = target;
  const count = async (session: Queryable): Promise<number | 'error'> => {
    try {
      if (table.primaryKey.length === 0) return Number((await session.query<{ n: string }>(`SELECT count(*) AS n FROM ${table.qualified}`)).rows[0]?.n ?? 0);
      const filter = keyFilter(table, keys, 1);
      return Number((await session.query<{ n: string }>(`SELECT count(*) AS n FROM ${table.qualified} WHERE ${filter.sql}`, filter.params)).rows[0]?.n ?? 0);
    } catch {
      return 'error';
    }
  };
  const seen: string[] = [];
  const fresh = env.freshApp;
  if (fresh) {
    const n = await count(fresh);
    if (n !== 'error' && n > 0) seen.push(`${n} row(s) in a session that never set a tenant`);
  }
  for (const [label, value] of [
    ['no tenant set', undefined],
    ['an empty tenant', ''],
    ['a garbage tenant', 'not-a-tenant'],
  ] as const) {
    await asApp(db, context, value, async (tx) => {
      const n = await count(tx);
      if (n !== 'error' && n > 0) seen.push(`${n} row(s) with ${label}`);
    });
  }
  if (seen.length > 0) return { check: 'no-context', status: 'fail', detail: `tenant rows visible without a valid tenant: ${seen.join('; ')}` };
  return { check: 'no-context', status: 'pass', detail: `nothing visible with no tenant, an empty or a garbage tenant${fresh ? ' (and in a fresh session)' : ''}` };
}

/** Runs fn as the app role in a transaction with the tenant's context, then rolls everything back. */
export async function asApp(db: TestDatabase, context: TenantContext, tenant: string | undefined, fn: (tx: Session) => Promise<void>): Promise<void> {
  try {
    await db.app.transaction(async (tx) => {
      if (tenant !== undefined) await context.apply(tx, tenant);
      await fn(tx);
      throw new RollbackProbe('probe finished');
    });
  } catch (error) {
    if (!(error instanceof RollbackProbe)) throw error;
  }
}

async function loadRow(db: TestDatabase, table: TableModel, key: readonly string[]): Promise<Row | undefined> {
  const filter = keyFilter(table, [key], 1);
  return (await db.query<Row>(`SELECT * FROM ${table.qualified} WHERE ${filter.sql}`, filter.params)).rows[0];
}

/** A column the probes can set to a constant: not part of a key, not generated, not unique. */
function writableColumn(table: TableModel, target: ProbeTable): string | undefined {
  const unique = new Set(table.uniques.flatMap((entry) => entry.columns));
  const parents = new Set(table.foreignKeys.flatMap((fk) => fk.columns));
  const candidates = table.columns.filter(
    (column) =>
      !column.generated &&
      column.identity !== 'always' &&
      !unique.has(column.name) &&
      !parents.has(column.name) &&
      column.name !== target.tenantColumn,
  );
  return (candidates.find((column) => !column.isArray && column.category !== 'U') ?? candidates[0])?.name;
}

const probeFaker = createFaker(0x746b);

function constantFor(env: ProbeEnvironment, table: TableModel, column: string): unknown {
  try {
    return env.factories.generateRow(table, probeFaker, 1_000_000, {})[column];
  } catch {
    return undefined;
  }
}

/**
 * The victim's row, made insertable: its parents and tenant kept (so it belongs to the victim),
 * its generated, identity and unique values fresh so only RLS can refuse it.
 */
function insertableCopy(env: ProbeEnvironment, table: TableModel, target: ProbeTable, victim: Row): Row {
  const keep = new Set([...table.foreignKeys.flatMap((fk) => fk.columns), ...(target.tenantColumn ? [target.tenantColumn] : [])]);
  const fixed: Row = {};
  for (const name of keep) fixed[name] = victim[name];
  const fresh = env.factories.generateRow(table, probeFaker, 2_000_000 + Math.floor(probeFaker.number.int({ max: 999_999 })), fixed);
  const row: Row = {};
  for (const column of table.columns) {
    if (column.generated || column.identity === 'always') continue;
    const value = keep.has(column.name) ? victim[column.name] : column.name in fresh ? fresh[column.name] : undefined;
    if (value !== undefined) row[column.name] = value;
  }
  return row;
}
