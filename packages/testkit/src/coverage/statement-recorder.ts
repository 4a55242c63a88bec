/**
 * Records, for policy coverage, what each statement of the app role with a tenant context touched
 * and which policies applied, asking Postgres on the statement's own connection just before it runs:
 * the role and tenant setting in effect, the statement's plan (EXPLAIN without ANALYZE executes
 * nothing), and pg_policy for the relations in the plan. Every question Postgres may refuse (the
 * EXPLAIN, the catalog reads) is asked inside a savepoint when the connection is in a transaction, so
 * it never aborts the test's transaction; any failure here only costs the statement its record:
 * recording never changes what a test sees.
 */
import type { IdentityName } from '../backends/backend.js';
import type { ResolvedTenantContext } from '../config.js';
import { messageOf, sqlStateOf } from '../errors.js';
import type { Session } from '../queryable.js';
import { sqlTokens } from '../sql/lexer.js';
import { splitStatements } from '../sql/split.js';
import { CoverageSink, type CoverageTouch, COVERAGE_FORMAT } from './coverage-file.js';
import { type CoveredCommand, planTouches } from './plan-relations.js';

/** Statements EXPLAIN takes. */
const EXPLAINABLE = new Set(['select', 'insert', 'update', 'delete', 'with', 'values', 'table', 'merge', '(']);
/** Statements that touch no table: not coverage, and not worth a line. */
const NO_TABLES = new Set(['set', 'reset', 'show', 'begin', 'start', 'commit', 'end', 'rollback', 'abort', 'savepoint', 'release', 'discard', 'listen', 'unlisten', 'notify', 'deallocate']);

const POLICY_COMMAND: Record<CoveredCommand, string> = { SELECT: 'r', INSERT: 'a', UPDATE: 'w', DELETE: 'd' };

/** The role in effect and the tenant setting, as the statement will see them. */
const CONTEXT_SQL = 'SELECT current_user::text AS role, pg_catalog.current_setting($1, true) AS tenant';

/**
 * For each relation a plan names: the table whose policies apply (a partition's root), whether row
 * level security is active there for the acting role, and the table's policies that apply to that
 * role (PUBLIC, or a role whose privileges it has: what Postgres itself checks).
 */
const RELATIONS_SQL = `
SELECT i.ord::int AS ord, rn.nspname::text || '.' || rc.relname::text AS "table",
       pg_catalog.row_security_active(rc.oid) AS rls,
       pg_catalog.array_to_json(ARRAY(
         SELECT pg_catalog.json_build_object('cmd', p.polcmd::text, 'name', p.polname::text)
           FROM pg_catalog.pg_policy p
          WHERE p.polrelid = rc.oid
            AND (0::pg_catalog.oid = ANY (p.polroles) OR EXISTS (
                   SELECT 1 FROM pg_catalog.unnest(p.polroles) AS r(o)
                    WHERE r.o <> 0 AND pg_catalog.pg_has_role(current_user, r.o, 'USAGE')))
          ORDER BY p.polname)) AS policies
  FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) WITH ORDINALITY AS i(schema, name, ord)
  JOIN pg_catalog.pg_namespace n ON n.nspname = i.schema
  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = i.name
  JOIN pg_catalog.pg_class rc ON rc.oid = COALESCE(pg_catalog.pg_partition_root(c.oid), c.oid)
  JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace`;

/** The relations a TRUNCATE names: each name as Postgres resolves it on the statement's search_path. */
const TRUNCATED_SQL = `
SELECT n.nspname::text || '.' || c.relname::text AS "table"
  FROM ROWS FROM (pg_catalog.unnest($1::text[])) WITH ORDINALITY AS u(name, ord)
  JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(u.name)
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 ORDER BY u.ord`;

const TRUNCATE_OPTIONS = new Set(['restart', 'continue', 'cascade', 'restrict']);

/** The relation names of TRUNCATE [TABLE] [ONLY] name [*] [, ...] [options], as written. */
function truncatedNames(statement: string): string[] {
  const tokens = [...sqlTokens(statement)].slice(1);
  const names: string[] = [];
  let current = '';
  for (const [index, token] of tokens.entries()) {
    const word = token.kind === 'word' ? token.text.toLowerCase() : undefined;
    if (index === 0 && word === 'table') continue;
    if (current === '' && word === 'only') continue;
    if ((word !== undefined && TRUNCATE_OPTIONS.has(word)) || (token.kind === 'punctuation' && token.text === ';')) break;
    if (token.kind === 'punctuation' && token.text === ',') {
      if (current !== '') names.push(current);
      current = '';
    } else if (!(token.kind === 'operator' && token.text === '*')) {
      current += token.text;
    }
  }
  if (current !== '') names.push(current);
  return names;
}

interface ResolvedRelation {
  readonly table: string;
  readonly rls: boolean;
  readonly policies: readonly { readonly cmd: string; readonly name: string }[];
}

/** How the identities tell the recorder about one statement, before running it. */
export interface ObservedStatement {
  readonly session: Session;
  readonly sql: string;
  readonly params: readonly unknown[] | undefined;
  /** Inside withTenant: with a custom tenant.apply, that alone is the tenant context. */
  readonly inTenant: boolean;
}

const SQL_PREVIEW = 160;

function preview(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > SQL_PREVIEW ? `${flat.slice(0, SQL_PREVIEW)}...` : flat;
}

function firstKeyword(statement: string): string | undefined {
  const token = sqlTokens(statement).next().value;
  if (!token) return undefined;
  if (token.kind === 'punctuation' && token.text === '(') return '(';
  return token.kind === 'word' ? token.text.toLowerCase() : undefined;
}

function describeError(error: unknown): string {
  const message = messageOf(error);
  const code = sqlStateOf(error);
  return code ? `${code} ${message}` : message;
}

/** One test database's recorder. */
export class StatementRecorder {
  readonly #sink: CoverageSink;
  readonly #database: string;
  readonly #appRole: string;
  readonly #tenant: ResolvedTenantContext;
  readonly #relations = new Map<string, ResolvedRelation | null>();
  readonly #counts = { admin: 0, owner: 0, appWithContext: 0, appWithoutContext: 0 };
  #overheadMs = 0;
  #closed = false;

  private constructor(sink: CoverageSink, database: string, appRole: string, tenant: ResolvedTenantContext) {
    this.#sink = sink;
    this.#database = database;
    this.#appRole = appRole;
    this.#tenant = tenant;
  }

  /** A recorder when TENANTKIT_COVERAGE is set, else undefined: the identities then do nothing extra. */
  static fromEnvironment(database: string, appRole: string, tenant: ResolvedTenantContext): StatementRecorder | undefined {
    const sink = CoverageSink.fromEnvironment();
    return sink ? new StatementRecorder(sink, database, appRole, tenant) : undefined;
  }

  /** A statement of the admin or the owner: counted, never coverage. */
  countOther(identity: Exclude<IdentityName, 'app'>): void {
    this.#counts[identity]++;
  }

  /** Called before an app statement runs. Never throws. */
  async beforeAppStatement(statement: ObservedStatement): Promise<void> {
    const started = performance.now();
    try {
      await this.#observe(statement);
    } catch {
      // A question that failed costs this statement its record, nothing else.
    } finally {
      this.#overheadMs += performance.now() - started;
    }
  }

  async #observe({ session, sql, params, inTenant }: ObservedStatement): Promise<void> {
    const parts = splitStatements(sql);
    const keywords = parts.map((part) => firstKeyword(part.text) ?? '');
    if (keywords.every((keyword) => NO_TABLES.has(keyword))) return;

    let context: { role: string; tenant: string | null } | undefined;
    try {
      context = (await session.query<{ role: string; tenant: string | null }>(CONTEXT_SQL, [this.#tenant.setting])).rows[0];
    } catch {
      // An aborted transaction: the statement fails too, touching nothing.
      return;
    }
    if (!context) return;
    const hasContext = (inTenant && this.#tenant.apply !== undefined) || (context.tenant !== null && context.tenant !== '');
    if (!hasContext) {
      this.#counts.appWithoutContext++;
      return;
    }
    this.#counts.appWithContext++;
    const base = { v: COVERAGE_FORMAT, kind: 'statement' as const, database: this.#database, role: context.role };
    if (parts.length > 1) {
      this.#sink.write({ ...base, analysed: false, reason: `${parts.length} statements in one string (EXPLAIN takes one)`, touches: [], sql: preview(sql) });
      return;
    }
    const keyword = keywords[0]!;
    if (keyword === 'truncate') {
      const outcome = await this.#truncated(session, parts[0]!.text);
      if ('error' in outcome) this.#sink.write({ ...base, analysed: false, reason: outcome.error, touches: [], sql: preview(sql) });
      else this.#sink.write({ ...base, analysed: true, touches: [], truncates: outcome.tables });
      return;
    }
    if (!EXPLAINABLE.has(keyword)) {
      this.#sink.write({ ...base, analysed: false, reason: `${keyword.toUpperCase()} is not a statement EXPLAIN takes`, touches: [], sql: preview(sql) });
      return;
    }
    const outcome = await this.#explainAndResolve(session, parts[0]!.text, params, context.role);
    if ('error' in outcome) {
      this.#sink.write({ ...base, analysed: false, reason: outcome.error, touches: [], sql: preview(sql) });
      return;
    }
    const merged = outcome.merges.length > 0;
    this.#sink.write({
      ...base,
      analysed: true,
      ...(merged ? { reason: `MERGE into ${outcome.merges.join(', ')}: which of INSERT, UPDATE and DELETE it runs is not in the plan, so it is not counted`, sql: preview(sql) } : {}),
      touches: outcome.touches,
    });
  }

  /**
   * Asks inside a savepoint: in a transaction a refused question would otherwise abort it. Outside
   * one, SAVEPOINT itself is refused (25P01) and nothing can be aborted, so it asks directly.
   */
  async #guarded<T extends object>(session: Session, ask: () => Promise<T>): Promise<T | { error: string }> {
    let savepoint = true;
    try {
      await session.exec('SAVEPOINT tk_coverage');
    } catch (error) {
      if (sqlStateOf(error) !== '25P01') return { error: `SAVEPOINT refused: ${describeError(error)}` };
      savepoint = false;
    }
    try {
      const result = await ask();
      if (savepoint) await session.exec('RELEASE SAVEPOINT tk_coverage');
      return result;
    } catch (error) {
      if (savepoint) await session.exec('ROLLBACK TO SAVEPOINT tk_coverage; RELEASE SAVEPOINT tk_coverage').catch(() => {});
      return { error: error instanceof Error && sqlStateOf(error) === undefined ? error.message : describeError(error) };
    }
  }

  /** The statement's plan, and the policies of the tables in it. */
  #explainAndResolve(
    session: Session,
    statement: string,
    params: readonly unknown[] | undefined,
    role: string,
  ): Promise<{ touches: CoverageTouch[]; merges: string[] } | { error: string }> {
    return this.#guarded(session, async () => {
      const plan = await session.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (VERBOSE, FORMAT JSON) ${statement}`, params).catch((error: unknown) => {
        throw new Error(`EXPLAIN refused it: ${describeError(error)}`);
      });
      const planned = planTouches(plan.rows[0]?.['QUERY PLAN']);
      const resolved = await this.#resolve(session, planned, role).catch((error: unknown) => {
        throw new Error(`reading the policies of its tables failed: ${describeError(error)}`);
      });
      const touches = new Map<string, CoverageTouch>();
      const merges: string[] = [];
      planned.forEach((touch, index) => {
        const relation = resolved[index];
        if (!relation) return;
        if (touch.command === 'MERGE') {
          merges.push(relation.table);
          return;
        }
        const wanted = POLICY_COMMAND[touch.command];
        const policies = relation.rls ? relation.policies.filter((policy) => policy.cmd === '*' || policy.cmd === wanted).map((policy) => policy.name) : [];
        touches.set(`${relation.table}\0${touch.command}`, { table: relation.table, command: touch.command, rls: relation.rls, policies });
      });
      return { touches: [...touches.values()], merges };
    });
  }

  /** The tables a TRUNCATE names, as Postgres resolves its names (to_regclass, on the statement's search_path). */
  #truncated(session: Session, statement: string): Promise<{ tables: string[] } | { error: string }> {
    return this.#guarded(session, async () => {
      const names = truncatedNames(statement);
      const { rows } = await session.query<{ table: string }>(TRUNCATED_SQL, [names]).catch((error: unknown) => {
        throw new Error(`resolving the tables it names failed: ${describeError(error)}`);
      });
      return { tables: rows.map((row) => row.table) };
    });
  }

  /** The relations of a plan, resolved once per role and relation for this database. */
  async #resolve(session: Session, planned: readonly { schema: string; name: string }[], role: string): Promise<(ResolvedRelation | null)[]> {
    const key = (relation: { schema: string; name: string }) => `${role}\0${relation.schema}\0${relation.name}`;
    const missing = [...new Map(planned.filter((relation) => !this.#relations.has(key(relation))).map((relation) => [key(relation), relation])).values()];
    if (missing.length > 0) {
      const { rows } = await session.query<{ ord: number; table: string; rls: boolean; policies: unknown }>(RELATIONS_SQL, [
        missing.map((relation) => relation.schema),
        missing.map((relation) => relation.name),
      ]);
      missing.forEach((relation, index) => {
        const row = rows.find((candidate) => Number(candidate.ord) === index + 1);
        const policies = row ? ((typeof row.policies === 'string' ? JSON.parse(row.policies) : row.policies) as ResolvedRelation['policies']) : [];
        this.#relations.set(key(relation), row ? { table: row.table, rls: row.rls, policies } : null);
      });
    }
    return planned.map((relation) => this.#relations.get(key(relation)) ?? null);
  }

  /** Writes what ran on this database that is not coverage, once, when the database is released. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const observed = this.#counts.appWithContext + this.#counts.appWithoutContext;
    this.#sink.write({
      v: COVERAGE_FORMAT,
      kind: 'database',
      database: this.#database,
      appRole: this.#appRole,
      tenantSetting: this.#tenant.setting,
      statements: { ...this.#counts },
      overheadMicros: observed === 0 ? 0 : Math.round((this.#overheadMs * 1000) / observed),
    });
  }
}
