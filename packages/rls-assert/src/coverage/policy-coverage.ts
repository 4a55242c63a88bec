/**
 * Policy coverage of a test suite: the cells (table x command) of every table with row level
 * security or policies, and every policy, compared with what the suite's statements as the app
 * role with a tenant context touched (recorded by the kit while the suite ran, TENANTKIT_COVERAGE).
 */
import type { Queryable } from '@tenantkit/testkit';
import type { CoverageRecords, CoverageStatementLine, CoveredCommand } from '@tenantkit/testkit';
import { type CatalogPolicy, type PolicyCommand, readCatalog } from '../audit/catalog.js';

const ROLE_EXISTS_SQL = 'SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1';

export const COVERED_COMMANDS: readonly CoveredCommand[] = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'];

export interface CoverageCell {
  /** schema.name */
  readonly table: string;
  readonly command: CoveredCommand;
  readonly covered: boolean;
  /** Statements as the app role with a tenant context that ran this command on the table. */
  readonly statements: number;
}

export interface PolicyExercise {
  readonly table: string;
  readonly name: string;
  readonly command: PolicyCommand;
  /** Role names the policy is TO; PUBLIC for everyone. */
  readonly roles: readonly string[];
  /** The policy applies to the app role (PUBLIC, the app role, or a role the app role is a member of). */
  readonly appliesToApp: boolean;
  /** Statements that were subject to it. */
  readonly statements: number;
  /** Why it was never exercised; undefined when it was. */
  readonly gap?: string;
}

export interface NotAnalysedStatements {
  readonly reason: string;
  readonly count: number;
  /** The first such statement, shortened. */
  readonly example: string;
}

export interface PolicyCoverageReport {
  /**
   * covered: every cell ran; gaps: some did not; not-proven: nothing was recorded, or nothing can be
   * covered (reason says which). Coverage is never 100% without a recorded statement.
   */
  readonly verdict: 'covered' | 'gaps' | 'not-proven';
  /** Why the verdict is not-proven. */
  readonly reason?: string;
  /** Covered cells / all cells, in percent (one decimal); 0 when not proven. */
  readonly coverage: number;
  readonly appRole: string;
  readonly cells: readonly CoverageCell[];
  readonly policies: readonly PolicyExercise[];
  /** One sentence per uncovered cell: "public.documents: UPDATE never run as the app role with a tenant context". */
  readonly uncovered: readonly string[];
  /**
   * Per table of the cells, the TRUNCATE statements attempted as the app role with a tenant context
   * (0: never). TRUNCATE ignores row level security, so it is outside the figure: only privileges stop it.
   */
  readonly truncates: readonly { readonly table: string; readonly statements: number }[];
  /** Tables without row level security or policies that the statements touched (not cells). */
  readonly otherTables: readonly { readonly table: string; readonly commands: readonly CoveredCommand[] }[];
  readonly notAnalysed: readonly NotAnalysedStatements[];
  readonly statements: {
    readonly databases: number;
    readonly appWithContext: number;
    readonly analysed: number;
    readonly appWithoutContext: number;
    readonly admin: number;
    readonly owner: number;
  };
  /** Average time recording added to an observed app statement, in microseconds (null when none was observed). */
  readonly overheadMicros: number | null;
  /** Coverage lines that could not be read (file:line). */
  readonly unreadable: readonly string[];
}

export interface PolicyCoverageOptions {
  /**
   * The app role the catalog is read for (which policies apply to it) when the records name none, or
   * one this database does not have (a suite whose kit names its app role otherwise).
   */
  readonly appRole: string;
}

function percent(part: number, whole: number): number {
  return whole === 0 ? 0 : Math.floor((part / whole) * 1000) / 10;
}

function policyCovers(policy: CatalogPolicy, command: CoveredCommand): boolean {
  return policy.command === 'ALL' || policy.command === command;
}

/** The kit's name for a role list in sentences. */
function rolesText(roles: readonly string[]): string {
  return roles.join(', ');
}

/**
 * Compares what a suite ran (the coverage records of one run) with the catalog of the migrated
 * schema `db` holds. `db` is read as is (any identity that can read pg_catalog).
 */
export async function policyCoverage(db: Queryable, records: CoverageRecords, options: PolicyCoverageOptions): Promise<PolicyCoverageReport> {
  const statementLines = records.lines.filter((line): line is CoverageStatementLine => line.kind === 'statement');
  const databaseLines = records.lines.filter((line) => line.kind === 'database');
  const recordedRole = mostFrequent(databaseLines.map((line) => line.appRole));
  const recordedExists = recordedRole !== undefined && (await db.query(ROLE_EXISTS_SQL, [recordedRole])).rows.length > 0;
  const appRole = recordedExists ? recordedRole : options.appRole;
  const catalog = await readCatalog(db, appRole);

  const tables = [...catalog.relations.values()]
    .filter((relation) => (relation.kind === 'table' || relation.kind === 'partitioned') && !relation.isPartition)
    .filter((relation) => relation.rlsEnabled || catalog.policies.some((policy) => policy.table === relation.id))
    .map((relation) => relation.id)
    .sort();
  const tableSet = new Set(tables);

  const runs = new Map<string, number>();
  const exercised = new Map<string, number>();
  const other = new Map<string, Set<CoveredCommand>>();
  const notAnalysed = new Map<string, { count: number; example: string }>();
  const truncated = new Map<string, number>();
  for (const line of statementLines) {
    for (const table of line.truncates ?? []) truncated.set(table, (truncated.get(table) ?? 0) + 1);
    for (const touch of line.touches) {
      if (tableSet.has(touch.table)) runs.set(`${touch.table} ${touch.command}`, (runs.get(`${touch.table} ${touch.command}`) ?? 0) + 1);
      else other.set(touch.table, (other.get(touch.table) ?? new Set()).add(touch.command));
      for (const policy of touch.policies) exercised.set(`${touch.table} ${policy}`, (exercised.get(`${touch.table} ${policy}`) ?? 0) + 1);
    }
    if (line.reason !== undefined) {
      const entry = notAnalysed.get(line.reason) ?? { count: 0, example: line.sql ?? '' };
      entry.count++;
      notAnalysed.set(line.reason, entry);
    }
  }

  const cells: CoverageCell[] = tables.flatMap((table) =>
    COVERED_COMMANDS.map((command) => {
      const statements = runs.get(`${table} ${command}`) ?? 0;
      return { table, command, covered: statements > 0, statements };
    }),
  );

  const policies: PolicyExercise[] = catalog.policies.map((policy) => {
    const statements = exercised.get(`${policy.table} ${policy.name}`) ?? 0;
    const commands = COVERED_COMMANDS.filter((command) => policyCovers(policy, command));
    const ran = commands.filter((command) => (runs.get(`${policy.table} ${command}`) ?? 0) > 0);
    const relation = catalog.relations.get(policy.table);
    let gap: string | undefined;
    if (statements === 0) {
      if (!policy.appliesToApp) {
        gap = `applies to ${rolesText(policy.roles)}, not to the app role ${appRole}: no statement of the app role is ever subject to it`;
      } else if (relation && !relation.rlsEnabled) {
        gap = `row level security is not enabled on ${policy.table}, so the policy is never applied`;
      } else if (ran.length === 0) {
        gap = `no ${policy.command === 'ALL' ? 'statement' : policy.command} on ${policy.table} ran as the app role with a tenant context`;
      } else {
        gap = `${ran.join(', ')} on ${policy.table} ran, but never subject to this policy (the acting role was not one it is TO, or row level security was not active for it)`;
      }
    }
    return {
      table: policy.table,
      name: policy.name,
      command: policy.command,
      roles: policy.roles,
      appliesToApp: policy.appliesToApp,
      statements,
      ...(gap === undefined ? {} : { gap }),
    };
  });

  const counts = { admin: 0, owner: 0, appWithContext: 0, appWithoutContext: 0 };
  let overheadTotal = 0;
  let observed = 0;
  for (const line of databaseLines) {
    counts.admin += line.statements.admin;
    counts.owner += line.statements.owner;
    counts.appWithContext += line.statements.appWithContext;
    counts.appWithoutContext += line.statements.appWithoutContext;
    const lineObserved = line.statements.appWithContext + line.statements.appWithoutContext;
    overheadTotal += line.overheadMicros * lineObserved;
    observed += lineObserved;
  }
  const statements = {
    databases: databaseLines.length,
    appWithContext: Math.max(counts.appWithContext, statementLines.length),
    analysed: statementLines.filter((line) => line.analysed).length,
    appWithoutContext: counts.appWithoutContext,
    admin: counts.admin,
    owner: counts.owner,
  };

  const covered = cells.filter((cell) => cell.covered).length;
  const reason = notProvenReason(records, statements, tables.length, appRole);
  const uncovered = cells.filter((cell) => !cell.covered).map((cell) => `${cell.table}: ${cell.command} never run as the app role with a tenant context`);
  return {
    verdict: reason !== undefined ? 'not-proven' : covered === cells.length ? 'covered' : 'gaps',
    ...(reason === undefined ? {} : { reason }),
    coverage: reason !== undefined ? 0 : percent(covered, cells.length),
    appRole,
    cells,
    policies,
    uncovered,
    truncates: tables.map((table) => ({ table, statements: truncated.get(table) ?? 0 })),
    otherTables: [...other].map(([table, commands]) => ({ table, commands: COVERED_COMMANDS.filter((command) => commands.has(command)) })).sort((a, b) => a.table.localeCompare(b.table)),
    notAnalysed: [...notAnalysed].map(([why, entry]) => ({ reason: why, count: entry.count, example: entry.example })).sort((a, b) => b.count - a.count),
    statements,
    overheadMicros: observed === 0 ? null : Math.round(overheadTotal / observed),
    unreadable: records.unreadable,
  };
}

/** Why nothing can be said, or undefined when the records support a coverage figure. */
function notProvenReason(records: CoverageRecords, statements: PolicyCoverageReport['statements'], tables: number, appRole: string): string | undefined {
  if (tables === 0) return 'the schema has no table with row level security or policies: there is nothing to cover';
  if (records.files.length === 0 || records.lines.length === 0) {
    return 'the tests recorded nothing: they never acquired a database from the kit (startKit, or the test fixture of @tenantkit/testkit/vitest) in this run, or the command ran no tests';
  }
  if (statements.appWithContext === 0) {
    return `the tests used ${statements.databases} database(s) from the kit but never ran a statement as the app role ${appRole} with a tenant context (${statements.admin} as admin, ${statements.owner} as owner, ${statements.appWithoutContext} as the app role without one): use db.app.withTenant(tenant, tx => ...)`;
  }
  return undefined;
}

function mostFrequent(values: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}
