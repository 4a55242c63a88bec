import { type AutoFactories, type Row, type TableKind, type TableModel, type World, createFaker } from '@tenantkit/fixtures';
import { type Queryable, type Session, type TestDatabase, quoteIdent } from '@tenantkit/testkit';
import { messageOf } from '@tenantkit/testkit/internal';
import { CHECKS, type CheckName, NOT_APPLICABLE } from './checks.js';
import { type TenantContext, gucContext } from './context.js';
import {
  type Outcome,
  type Privilege,
  type Privileges,
  attempt,
  count,
  errorNotProven,
  fail,
  failsClosed,
  notApplicable,
  notProven,
  pass,
  readPrivileges,
  refusedBy,
  strongest,
} from './outcome.js';
import type { CheckResult, Finding } from './types.js';

export { CHECKS, type CheckName } from './checks.js';

export interface ProbeTable {
  readonly table: TableModel;
  readonly kind: TableKind;
  /** The column holding the tenant id (tenant tables; the key of the tenant-root table). */
  readonly tenantColumn: string | undefined;
  /** Indirect tables: the foreign key leading toward the tenant. */
  readonly anchorColumns: readonly string[] | undefined;
}

/**
 * What a session that never set a tenant saw of a table's seeded rows: a count, the error that
 * stopped it, or why no such session could be had.
 */
export type FreshSessionCount = number | NonNullable<Outcome['error']> | { readonly unavailable: string };

export interface ProbeEnvironment {
  readonly db: TestDatabase;
  readonly context: TenantContext;
  readonly world: World;
  readonly factories: AutoFactories;
  /** The app role's name as the report speaks of it (the role the application connects as). */
  readonly appRole: string;
  /** Counts taken before any probe in a session where the tenant setting was never set, per table. */
  readonly fresh: ReadonlyMap<string, FreshSessionCount>;
}

export interface TableProbeResult {
  readonly checks: CheckResult[];
  readonly findings: Finding[];
  /** The app role's privileges on the table, as the catalog gives them. */
  readonly privileges: Privileges;
}

/** Thrown to end a probe's transaction: every probe is rolled back. */
class RollbackProbe extends Error {}

/** `(pk...)::text` matches the World's keys, which are the key values as text. */
export function keyFilter(table: TableModel, keys: readonly (readonly string[])[], firstParam: number): { sql: string; params: unknown[] } {
  const columns = table.primaryKey;
  const arrays = columns.map((_, index) => keys.map((key) => key[index] ?? ''));
  const left = columns.map((column) => `${quoteIdent(column)}::text`).join(', ');
  const unnest = columns.map((_, index) => `$${firstParam + index}::text[]`).join(', ');
  return { sql: `(${left}) IN (SELECT * FROM unnest(${unnest}))`, params: arrays };
}

/** The fix to name when the app role lacks a privilege the probes need. */
export function grantHint(appRole: string, privilege: string, table: string): string {
  return `the app role ${appRole} has no ${privilege} on ${table}: grant it as your deployment does (tenantkit audit --app-grants crud, or the GRANT your deployment runs), or name the role your application uses (--app-role)`;
}

export interface TenantPair {
  readonly attacker: string;
  readonly victim: string;
}

/**
 * Probes one table, attacker against victim and back, each probe in a transaction of the app role
 * that is rolled back. A check fails only for what a statement proved, passes only for what row
 * level security (or a missing privilege the catalog confirms) refused, and is otherwise not proven.
 */
export async function probeTable(env: ProbeEnvironment, target: ProbeTable): Promise<TableProbeResult> {
  const [a, b] = env.world.tenants;
  const results = new Map<CheckName, CheckResult>();
  const findings: Finding[] = [];
  const privileges = await readPrivileges(env.db, env.db.app.role, target.table.qualified);
  if (a === undefined || b === undefined) {
    return { checks: CHECKS.map((check) => notProven(check, 'fewer than two tenants were seeded')), findings, privileges };
  }
  for (const pair of [
    { attacker: a, victim: b },
    { attacker: b, victim: a },
  ]) {
    const direction = await probeDirection(env, target, pair, privileges);
    // One finding per foreign key, whichever direction proved it first.
    for (const finding of direction.findings) if (!findings.some((known) => known.code === finding.code && known.object === finding.object)) findings.push(finding);
    for (const result of direction.results) {
      const previous = results.get(result.check as CheckName);
      results.set(result.check as CheckName, previous ? strongest([previous, result]) : result);
    }
  }
  results.set('truncate', await probeTruncate(env, target, { attacker: a, victim: b }, privileges));
  // Both tenants' rows, once: without a valid tenant none of them may show.
  const seeded = env.world.table(target.table.id);
  results.set('no-context', await probeNoContext(env, target, [...(seeded?.keys[a] ?? []), ...(seeded?.keys[b] ?? [])], privileges));
  const fixed: Partial<Record<CheckName, string>> = target.kind === 'tenant-root' ? NOT_APPLICABLE['tenant-root'] : {};
  return {
    checks: CHECKS.map((check) => (fixed[check] ? notApplicable(check, fixed[check]) : (results.get(check) ?? notProven(check, 'not probed')))),
    findings,
    privileges,
  };
}

async function probeDirection(
  env: ProbeEnvironment,
  target: ProbeTable,
  pair: TenantPair,
  privileges: Privileges,
): Promise<{ results: CheckResult[]; findings: Finding[] }> {
  const { db, context, world } = env;
  const { table } = target;
  const seeded = world.table(table.id);
  const own = seeded?.keys[pair.attacker] ?? [];
  const foreign = seeded?.keys[pair.victim] ?? [];
  const results: CheckResult[] = [];
  const findings: Finding[] = [];
  const add = (result: CheckResult) => results.push(result);
  const who = `tenant ${pair.attacker}`;
  const victim = `tenant ${pair.victim}`;
  const whose = `${victim}'s`;
  const hasKey = table.primaryKey.length > 0;
  const victimRow = hasKey && foreign.length > 0 ? await loadRow(db, table, foreign[0]!) : undefined;
  const ownRow = hasKey && own.length > 0 ? await loadRow(db, table, own[0]!) : undefined;
  const overwrite = overwriteFor(env, table, target);
  const moveColumns = target.tenantColumn !== undefined && target.kind !== 'tenant-root' ? [target.tenantColumn] : target.anchorColumns;
  const constants = overwrite?.params ?? [];
  const noKey = 'the table has no primary key, so the probes cannot tell one tenant\'s rows from another\'s: add a primary key';
  const refused = (check: CheckName, outcome: Outcome, needed: Privilege): CheckResult | undefined => {
    if (!outcome.error) return undefined;
    const why = refusedBy(outcome.error, privileges, needed);
    return why ? pass(check, why) : undefined;
  };

  await asApp(db, context, pair.attacker, async (tx) => {
    const total = await count(tx, `SELECT count(*) AS n FROM ${table.qualified}`, [], tx);
    const visible = typeof total === 'number' ? total : 0;
    // The victim's rows the attacker could already read (a proven leak of its own) are not the attacker's to write.
    let foreignVisible = 0;
    if (typeof total !== 'number') {
      // Without SELECT the tenant reads nothing at all; the write probes still run.
      const why = privileges.select ? `reading it failed (${total.code ?? 'no SQLSTATE'}: ${total.message})` : grantHint(env.appRole, 'SELECT', table.id);
      add(notProven('read-own', `${who} cannot read the table, so nothing shows the policies let a tenant see its own rows: ${why}`));
      add(privileges.select ? errorNotProven('read-foreign', total) : pass('read-foreign', `refused: the app role has no SELECT on the table (the catalog confirms it)`));
    } else if (!hasKey) {
      add(notProven('read-own', noKey));
      add(notProven('read-foreign', noKey));
    } else {
      if (own.length === 0) add(notProven('read-own', `no row of ${who} was seeded in ${table.id}, so there was nothing of its own to read`));
      else {
        const mine = keyFilter(table, own, 1);
        const seen = await count(tx, `SELECT count(*) AS n FROM ${table.qualified} WHERE ${mine.sql}`, mine.params, tx);
        if (typeof seen !== 'number') add(errorNotProven('read-own', seen));
        else if (seen === own.length) add(pass('read-own', `${who} sees its ${own.length} row(s)`));
        else add(notProven('read-own', `${who} sees ${seen} of its ${own.length} row(s): no policy lets the tenant read its own rows, and hiding everything proves nothing about isolation`));
      }
      if (foreign.length === 0) add(notProven('read-foreign', `no row of ${victim} was seeded in ${table.id}, so there was nothing of another tenant to read`));
      else {
        const theirs = keyFilter(table, foreign, 1);
        const leaked = await count(tx, `SELECT count(*) AS n FROM ${table.qualified} WHERE ${theirs.sql}`, theirs.params, tx);
        if (typeof leaked !== 'number') add(errorNotProven('read-foreign', leaked));
        else if (leaked === 0) add(pass('read-foreign', `none of ${whose} ${foreign.length} row(s) visible to ${who}`));
        else {
          foreignVisible = leaked;
          add(fail('read-foreign', `${who} read ${leaked} of ${whose} ${foreign.length} row(s)`));
        }
      }
    }

    if (target.kind !== 'tenant-root') {
      if (!victimRow) add(notProven('insert-foreign', `no row of ${victim} to model the insert on`));
      else {
        const row = insertableCopy(env, table, target, victimRow);
        const columns = Object.keys(row);
        const outcome = await attempt(
          tx,
          `INSERT INTO ${table.qualified} (${columns.map(quoteIdent).join(', ')}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
          columns.map((name) => row[name]),
        );
        if (!outcome.error) add(fail('insert-foreign', `${who} inserted a row belonging to ${victim}`));
        else if (outcome.error.code === '23505') {
          // Postgres checks the policies' WITH CHECK before it inserts into any unique index: a
          // duplicate key means row level security had already let the victim's row through.
          add(fail('insert-foreign', `${who} got a row belonging to ${victim} past row level security; only a unique key stopped it (${outcome.error.message}), and a row with fresh key values would be inserted`));
        } else add(refused('insert-foreign', outcome, 'insert') ?? errorNotProven('insert-foreign', outcome.error));
      }
    }

    if (!overwrite) {
      const why = `no column the probe can overwrite without reading one (every column is part of a key or a foreign key, generated, or of a type with no fresh value)`;
      add(notProven('update-foreign', why));
      add(notProven('update-unfiltered', why));
    } else {
      if (!hasKey) add(notProven('update-foreign', noKey));
      else if (foreign.length === 0) add(notProven('update-foreign', `no row of ${victim} to aim at`));
      else {
        const theirs = keyFilter(table, foreign, constants.length + 1);
        const outcome = await attempt(tx, `UPDATE ${table.qualified} SET ${quoteIdent(overwrite.column)} = ${overwrite.value} WHERE ${theirs.sql}`, [...constants, ...theirs.params]);
        add(refused('update-foreign', outcome, 'update') ?? verdict('update-foreign', outcome, 0, `${who} updated`, `of ${whose} rows by key`));
      }
      // No WHERE, no RETURNING, constants: no column is read, so only UPDATE policies choose the rows.
      const allowed = visible - foreignVisible;
      const set = await attempt(tx, `UPDATE ${table.qualified} SET ${quoteIdent(overwrite.column)} = ${overwrite.value}`, constants);
      const unfiltered = [
        refused('update-unfiltered', set, 'update') ?? verdict('update-unfiltered', set, allowed, `an unfiltered UPDATE by ${who} wrote`, `rows while only ${allowed} are its own or shared`),
      ];
      // Claiming every row for the attacker passes a WITH CHECK that only looks at the tenant.
      if (ownRow && moveColumns && moveColumns.length > 0) {
        const assignments = moveColumns.map((name, i) => `${quoteIdent(name)} = $${i + 1}`).join(', ');
        const claimed = await attempt(tx, `UPDATE ${table.qualified} SET ${assignments}`, moveColumns.map((name) => ownRow[name]));
        unfiltered.push(
          refused('update-unfiltered', claimed, 'update') ??
            verdict('update-unfiltered', claimed, allowed, `an unfiltered UPDATE by ${who} claimed`, `rows for itself while only ${allowed} are its own or shared`),
        );
      }
      add(strongest(unfiltered));
    }

    if (target.kind !== 'tenant-root') {
      if (!ownRow || !victimRow || !moveColumns || moveColumns.length === 0) add(notProven('move', `nothing to move: ${!moveColumns || moveColumns.length === 0 ? 'no tenant column or foreign key toward the tenant' : `no seeded row of ${ownRow ? victim : who}`}`));
      else {
        const assignments = moveColumns.map((name, i) => `${quoteIdent(name)} = $${i + 1}`).join(', ');
        const values = moveColumns.map((name) => victimRow[name]);
        const judge = (outcome: Outcome, how: string): CheckResult => {
          if (!outcome.error) {
            return (outcome.rowCount ?? 0) === 0 ? pass('move', `no row moved (${who} cannot update ${how})`) : fail('move', `${who} moved ${outcome.rowCount} row(s) (${how}) into ${victim}`);
          }
          return refused('move', outcome, 'update') ?? errorNotProven('move', outcome.error);
        };
        const mine = keyFilter(table, [own[0]!], moveColumns.length + 1);
        // By key (SELECT policies also judge the new row), and without WHERE (only UPDATE policies do).
        const byKey = judge(await attempt(tx, `UPDATE ${table.qualified} SET ${assignments} WHERE ${mine.sql}`, [...values, ...mine.params]), 'one of its rows by key');
        const all = judge(await attempt(tx, `UPDATE ${table.qualified} SET ${assignments}`, values), 'its rows with an unfiltered UPDATE');
        add(strongest([byKey, all]));
      }
    }

    if (!hasKey) add(notProven('delete-foreign', noKey));
    else if (foreign.length === 0) add(notProven('delete-foreign', `no row of ${victim} to aim at`));
    else {
      const theirs = keyFilter(table, foreign, 1);
      const outcome = await attempt(tx, `DELETE FROM ${table.qualified} WHERE ${theirs.sql}`, theirs.params);
      add(refused('delete-foreign', outcome, 'delete') ?? verdict('delete-foreign', outcome, 0, `${who} deleted`, `of ${whose} rows by key`));
    }
    add(await probeUnfilteredDelete(env, target, pair, tx, visible - foreignVisible, privileges, refused));

    if (ownRow && target.kind === 'tenant') findings.push(...(await probeCrossReferences(env, target, pair, ownRow, tx)));
  });

  return { results, findings };
}

/**
 * `DELETE FROM t` with no WHERE: only DELETE policies choose the rows. Rows of the attacker's own
 * tenant that other tables still reference would stop it with a foreign-key error before the other
 * tenant's rows are judged, so the attacker's own dependants (the seeded rows of every table that
 * references this one without CASCADE) are deleted first, in the same rolled-back savepoint, and
 * deferrable constraints are deferred. A foreign-key error then names a row; it proves a leak only
 * when that row is the victim's.
 */
async function probeUnfilteredDelete(
  env: ProbeEnvironment,
  target: ProbeTable,
  pair: TenantPair,
  tx: Session,
  allowed: number,
  privileges: Privileges,
  refused: (check: CheckName, outcome: Outcome, needed: Privilege) => CheckResult | undefined,
): Promise<CheckResult> {
  const { table } = target;
  const who = `tenant ${pair.attacker}`;
  if (!privileges.delete) return pass('delete-unfiltered', 'refused: the app role has no DELETE on the table (the catalog confirms it)');
  await tx.exec('SAVEPOINT tk_clear');
  try {
    await tx.exec('SET CONSTRAINTS ALL DEFERRED');
    const cleared = await clearOwnDependants(env, tx, table.id, pair.attacker, new Set([table.id]));
    if (cleared) return notProven('delete-unfiltered', `rows of ${who} in ${cleared.table} reference this table and could not be removed first (${cleared.message}), so an unfiltered DELETE could not be judged`);
    const outcome = await attempt(tx, `DELETE FROM ${table.qualified}`, []);
    const refusal = refused('delete-unfiltered', outcome, 'delete');
    if (refusal) return refusal;
    if (outcome.error?.code === '23503') {
      const owner = await ownerOfReferencedKey(env, target, outcome.error.detail);
      if (owner === pair.victim) return fail('delete-unfiltered', `an unfiltered DELETE by ${who} reached a row of tenant ${pair.victim} (stopped only by a foreign key: ${outcome.error.message})`);
      return notProven('delete-unfiltered', `an unfiltered DELETE by ${who} was stopped by a foreign key (${outcome.error.message}${outcome.error.detail ? `; ${outcome.error.detail}` : ''}) before the other tenant's rows could be judged`);
    }
    return verdict('delete-unfiltered', outcome, allowed, `an unfiltered DELETE by ${who} removed`, `rows while only ${allowed} are its own or shared`);
  } finally {
    await tx.exec('ROLLBACK TO SAVEPOINT tk_clear; RELEASE SAVEPOINT tk_clear');
  }
}

/**
 * TRUNCATE ignores row level security: if the app role may run it, one tenant erases every tenant's
 * rows. Tried as the attacker inside a savepoint (with CASCADE when foreign keys point at the table),
 * then rolled back.
 */
async function probeTruncate(env: ProbeEnvironment, target: ProbeTable, pair: TenantPair, privileges: Privileges): Promise<CheckResult> {
  if (!privileges.truncate) return pass('truncate', 'refused: the app role has no TRUNCATE on the table (the catalog confirms it)');
  const victimRows = env.world.table(target.table.id)?.keys[pair.victim]?.length ?? 0;
  let result: CheckResult | undefined;
  await asApp(env.db, env.context, pair.attacker, async (tx) => {
    let outcome = await attempt(tx, `TRUNCATE ${target.table.qualified}`, []);
    if (outcome.error?.code === '0A000') outcome = await attempt(tx, `TRUNCATE ${target.table.qualified} CASCADE`, []);
    if (!outcome.error) {
      result = fail('truncate', `TRUNCATE by tenant ${pair.attacker} ran: it removes every tenant's rows, tenant ${pair.victim}'s ${victimRows} seeded row(s) included (TRUNCATE ignores row level security)`);
    } else if (outcome.error.code === '42501') {
      result = pass('truncate', `refused: ${outcome.error.message}`);
    } else {
      result = notProven('truncate', `TRUNCATE by tenant ${pair.attacker} failed with ${outcome.error.code ?? 'no SQLSTATE'}: ${outcome.error.message}, so whether it would erase other tenants' rows could not be shown`);
    }
  });
  return result ?? notProven('truncate', 'not probed');
}

/** Deletes, leaves first, the tenant's seeded rows that reference `tableId` without CASCADE. */
async function clearOwnDependants(env: ProbeEnvironment, tx: Session, tableId: string, tenant: string, visited: Set<string>): Promise<{ table: string; message: string } | undefined> {
  for (const child of env.factories.model.tables) {
    const blocking = child.foreignKeys.some((fk) => `${fk.references.schema}.${fk.references.table}` === tableId && !fk.deferrable && (fk.onDelete === 'a' || fk.onDelete === 'r'));
    if (!blocking || visited.has(child.id)) continue;
    visited.add(child.id);
    const deeper = await clearOwnDependants(env, tx, child.id, tenant, visited);
    if (deeper) return deeper;
    const keys = env.world.table(child.id)?.keys[tenant] ?? [];
    if (keys.length === 0 || child.primaryKey.length === 0) continue;
    const filter = keyFilter(child, keys, 1);
    try {
      // Kept until the caller's savepoint is rolled back.
      await tx.query(`DELETE FROM ${child.qualified} WHERE ${filter.sql}`, filter.params);
    } catch (error) {
      return { table: child.id, message: messageOf(error) };
    }
  }
  return undefined;
}

/** The tenant whose row a foreign-key error's `Key (col)=(value)` names, when it is a seeded row. */
async function ownerOfReferencedKey(env: ProbeEnvironment, target: ProbeTable, detail: string | undefined): Promise<string | undefined> {
  const match = detail ? /Key \(([^)]+)\)=\((.*)\) is still referenced/.exec(detail) : null;
  if (!match) return undefined;
  const columns = match[1]!.split(',').map((name) => name.trim().replace(/^"|"$/g, ''));
  const values = match[2]!.split(', ');
  if (columns.length !== values.length) return undefined;
  const { table } = target;
  const where = columns.map((name, i) => `${quoteIdent(name)}::text = $${i + 1}`).join(' AND ');
  if (table.primaryKey.length === 0) return undefined;
  const { rows } = await env.db.query<Record<string, string>>(
    `SELECT ${table.primaryKey.map((name, i) => `${quoteIdent(name)}::text AS k${i}`).join(', ')} FROM ${table.qualified} WHERE ${where}`,
    values,
  );
  const key = rows[0];
  if (!key) return undefined;
  const text = table.primaryKey.map((_, i) => key[`k${i}`]);
  const seeded = env.world.table(table.id);
  return env.world.tenants.find((tenant) => seeded?.keys[tenant]?.some((candidate) => candidate.every((value, i) => value === text[i])));
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


/** A write must touch at most `allowed` rows (refusals are judged before, by the caller). */
function verdict(check: CheckName, outcome: Outcome, allowed: number, did: string, what: string): CheckResult {
  if (outcome.error) {
    // Constraint errors are raised only for rows the statement reached.
    if (allowed === 0 && ['23502', '23503', '23505', '23514'].includes(outcome.error.code ?? '')) {
      return fail(check, `${did} rows ${what} (it reached them and hit: ${outcome.error.message})`);
    }
    return errorNotProven(check, outcome.error);
  }
  if ((outcome.rowCount ?? 0) > allowed) return fail(check, `${did} ${outcome.rowCount} ${what}`);
  return pass(check, `${outcome.rowCount ?? 0} row(s) written, none beyond the tenant's own`);
}

/**
 * With no tenant ever set (a session that never set it, taken before any probe), an empty setting
 * and a garbage one: no seeded row may be visible. A data exception from the policy's cast is closed;
 * any other error proves nothing.
 */
async function probeNoContext(env: ProbeEnvironment, target: ProbeTable, keys: readonly (readonly string[])[], privileges: Privileges): Promise<CheckResult> {
  const { db, context } = env;
  const { table } = target;
  if (keys.length === 0) return notProven('no-context', 'no rows were seeded, so there was nothing that could show');
  if (table.primaryKey.length === 0) return notProven('no-context', 'the table has no primary key, so seeded rows cannot be told apart: add a primary key');
  const filter = keyFilter(table, keys, 1);
  const sql = `SELECT count(*) AS n FROM ${table.qualified} WHERE ${filter.sql}`;
  const seen: string[] = [];
  const unproven: string[] = [];
  const judge = (label: string, n: FreshSessionCount) => {
    if (typeof n === 'number') {
      if (n > 0) seen.push(`${n} row(s) ${label}`);
    } else if ('unavailable' in n) unproven.push(`${label}: ${n.unavailable}`);
    else if (!failsClosed(n) && !refusedBy(n, privileges, 'select')) unproven.push(`${label}: ${n.code ?? 'no SQLSTATE'}: ${n.message}`);
  };
  judge('in a session that never set a tenant', env.fresh.get(table.id) ?? { unavailable: 'not counted' });
  for (const [label, value] of [
    ['with the setting reset (no tenant)', undefined],
    ['with an empty tenant', ''],
    ['with a garbage tenant', 'not-a-tenant'],
  ] as const) {
    const skipped = await asAppWithoutTenant(db, context, value, label, async (tx, said) => judge(said, await count(tx, sql, filter.params, tx)));
    if (skipped) unproven.push(skipped);
  }
  if (seen.length > 0) return fail('no-context', `tenant rows visible without a valid tenant: ${seen.join('; ')}`);
  if (unproven.length > 0) return notProven('no-context', `not every no-tenant session could be shown closed: ${unproven.join('; ')}`);
  return pass('no-context', 'nothing visible in a session that never set a tenant, with the setting reset, empty or garbage');
}

/**
 * Runs fn as the app role with no valid tenant: `value` undefined applies no context at all, '' or
 * a garbage value goes through the context. When the application's own context function refuses
 * such a value, the setting it writes is set directly instead, as any SQL run as the app role could.
 * Returns why it could not run, or undefined.
 */
export async function asAppWithoutTenant(
  db: TestDatabase,
  context: TenantContext,
  value: string | undefined,
  label: string,
  fn: (tx: Session, label: string) => Promise<void>,
): Promise<string | undefined> {
  try {
    await asApp(db, refusalMarked(context), value, (tx) => fn(tx, label));
    return undefined;
  } catch (error) {
    if (!(error instanceof ContextRefused)) throw error;
    const setting = context.settings[0];
    if (setting === undefined) return `${label}: the tenant context (${context.description}) refused the value (${error.message}) and names no setting to set directly`;
    await asApp(db, gucContext(setting), value, (tx) => fn(tx, `${label}, set directly as ${setting} (the context refused it: ${error.message})`));
    return undefined;
  }
}

/** A context's own refusal of a tenant value, told apart from what the probe then ran. */
class ContextRefused extends Error {}

function refusalMarked(context: TenantContext): TenantContext {
  return {
    ...context,
    async apply(tx, tenant) {
      try {
        await context.apply(tx, tenant);
      } catch (error) {
        throw new ContextRefused(error instanceof Error ? error.message.split('\n')[0] : String(error));
      }
    },
  };
}

/** Counts each table's seeded rows as the app role on a session that never set a tenant. */
export async function countWithoutContext(session: Queryable, table: TableModel, keys: readonly (readonly string[])[], tx?: Session): Promise<FreshSessionCount> {
  if (keys.length === 0 || table.primaryKey.length === 0) return { unavailable: 'no seeded rows to look for' };
  const filter = keyFilter(table, keys, 1);
  return count(session, `SELECT count(*) AS n FROM ${table.qualified} WHERE ${filter.sql}`, filter.params, tx);
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

/**
 * How the probes overwrite a column without reading any: a constant for a plain column, else its
 * DEFAULT; for a column that is unique (alone or with others) a fresh value per row, so writing
 * several of the tenant's own rows collides with nothing.
 */
interface Overwrite {
  readonly column: string;
  /** SQL for the new value, `$1` standing for the constant. */
  readonly value: string;
  /** The constant, when there is one: the statement's first parameters. */
  readonly params: readonly unknown[];
}

function overwriteFor(env: ProbeEnvironment, table: TableModel, target: ProbeTable): Overwrite | undefined {
  const unique = new Set(table.uniques.flatMap((entry) => entry.columns));
  const keys = new Set([...table.primaryKey, ...table.foreignKeys.flatMap((fk) => fk.columns)]);
  const candidates = table.columns.filter((column) => !column.generated && column.identity !== 'always' && !keys.has(column.name) && column.name !== target.tenantColumn);
  const plain = candidates.filter((column) => !unique.has(column.name));
  const column = plain.find((column) => !column.isArray && column.category !== 'U') ?? plain[0];
  if (column) {
    const constant = constantFor(env, table, column.name);
    if (constant !== undefined) return { column: column.name, value: '$1', params: [constant] };
  }
  // DEFAULT reads no column either: the column's own default, evaluated per row.
  const defaulted = plain.find((candidate) => candidate.defaultExpr !== undefined);
  if (defaulted) return { column: defaulted.name, value: 'DEFAULT', params: [] };
  // gen_random_uuid() reads no column; text and uuid columns take it as a fresh unique value.
  const fresh = candidates.find((candidate) => !candidate.isArray && !candidate.domain && (candidate.baseType === 'uuid' || candidate.category === 'S'));
  if (fresh) return { column: fresh.name, value: fresh.baseType === 'uuid' ? 'gen_random_uuid()' : 'gen_random_uuid()::text', params: [] };
  // Numbers and times, unique ones and then primary key ones included: a random value per row,
  // reading no column.
  const foreign = new Set(table.foreignKeys.flatMap((fk) => fk.columns));
  const keyed = table.columns.filter((column) => table.primaryKey.includes(column.name) && !foreign.has(column.name) && column.name !== target.tenantColumn && !column.generated && column.identity !== 'always');
  for (const candidate of [...candidates, ...keyed]) {
    const value = candidate.isArray || candidate.domain ? undefined : FRESH_VALUES[candidate.baseType];
    if (value) return { column: candidate.name, value, params: [] };
  }
  return undefined;
}

/** A value per row that reads no column, by base type. */
const FRESH_VALUES: Readonly<Record<string, string>> = {
  int2: 'floor(random() * 32000)::int2',
  int4: 'floor(random() * 2000000000)::int4',
  int8: 'floor(random() * 9e15)::int8',
  numeric: 'floor(random() * 9000)::numeric',
  float4: '(random() * 1e6)::float4',
  float8: 'random() * 1e12',
  timestamptz: "clock_timestamp() + random() * interval '3650 days'",
  timestamp: "(clock_timestamp() + random() * interval '3650 days')::timestamp",
  date: 'current_date + floor(random() * 36500)::int4',
};

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
