import { AsyncLocalStorage } from 'node:async_hooks';
import type { ResolvedTenantContext } from '../config.js';
import { ContextLeakError, RoleEscapeError } from '../errors.js';
import type { QueryResult, Session } from '../queryable.js';
import type { IdentityName, OpenSession } from '../backends/backend.js';
import type { StatementRecorder } from '../coverage/statement-recorder.js';
import { escapeRegExp } from '../regexp.js';
import { quoteIdent } from '../sql/ident.js';
import {
  type AppIdentity,
  type Identity,
  type IdentitySet,
  Mutex,
  changesRole,
  tenantText,
  transactionControlOf,
} from './identity.js';

export interface IdentityRoles {
  /** The role admin connections log in as (the session user on single-session backends). */
  readonly admin: string;
  readonly owner: string;
  readonly app: string;
}

/**
 * How identities reach the database:
 * - 'connections': each identity is its own LOGIN connection (real servers);
 * - 'shared': one superuser session, identities switched with SET ROLE (PGlite, and servers in
 *   transaction isolation), so tested code is watched for statements that leave the role.
 */
export type IdentityTransport =
  | { readonly kind: 'connections'; readonly open: (identity: IdentityName) => Promise<OpenSession>; readonly urlFor: (identity: IdentityName) => string | undefined }
  | { readonly kind: 'shared'; readonly session: Session; readonly inTestTransaction: boolean };

const EMPTY: QueryResult<never> = { rows: [], rowCount: 0 };

/** Tracks which mutex the current async call chain already holds, so nested calls don't deadlock. */
const held = new AsyncLocalStorage<Set<Mutex>>();

function runExclusive<T>(mutex: Mutex, fn: () => Promise<T>): Promise<T> {
  const current = held.getStore();
  if (current?.has(mutex)) return fn();
  return mutex.run(() => held.run(new Set([...(current ?? []), mutex]), fn));
}

export class Identities implements IdentitySet {
  readonly admin: Identity;
  readonly owner: Identity;
  readonly app: AppIdentity;

  readonly #transport: IdentityTransport;
  readonly #roles: IdentityRoles;
  readonly #tenant: ResolvedTenantContext;
  readonly #sessions = new Map<IdentityName, Promise<OpenSession>>();
  readonly #mutexes = new Map<IdentityName | 'shared', Mutex>();
  /** Shared transport: the role currently set; null = session user; undefined = unknown. */
  #currentRole: string | null | undefined = undefined;
  /** Shared transport: savepoints standing for BEGINs issued by tested code. */
  readonly #userSavepoints: string[] = [];
  #depth = 0;
  #sequence = 0;
  /** Shared transport: the first escape seen after a statement; the test fails with it at release. */
  #escaped: RoleEscapeError | undefined;
  readonly #sessionLeak: RegExp;
  /** Policy coverage (TENANTKIT_COVERAGE): undefined when not recording, which costs nothing. */
  readonly #coverage: StatementRecorder | undefined;
  /** Depth of withTenant calls in progress. */
  #inTenant = 0;

  constructor(transport: IdentityTransport, roles: IdentityRoles, tenant: ResolvedTenantContext, coverage?: StatementRecorder) {
    this.#transport = transport;
    this.#roles = roles;
    this.#tenant = tenant;
    this.#coverage = coverage;
    const setting = escapeRegExp(tenant.setting);
    this.#sessionLeak = new RegExp(
      `\\bset\\s+(?:session\\s+)?"?${setting}"?\\s*(?:=|to\\b)|\\bset_config\\s*\\(\\s*'${setting}'\\s*,[^,]*,\\s*false\\s*\\)`,
      'i',
    );
    this.admin = this.#identity('admin');
    this.owner = this.#identity('owner');
    this.app = {
      ...this.#identity('app'),
      withTenant: (tenant, fn) => this.#transaction('app', fn, tenantText(tenant)),
    };
  }

  #identity(name: IdentityName): Identity {
    return {
      name,
      role: this.#roles[name],
      url: this.#transport.kind === 'connections' ? this.#transport.urlFor(name) : undefined,
      query: (sql, params) => this.#query(name, sql, params),
      exec: async (sql) => {
        await this.#query(name, sql, undefined, true);
      },
      transaction: (fn) => this.#transaction(name, fn, undefined),
    };
  }

  #mutex(name: IdentityName): Mutex {
    const key = this.#transport.kind === 'shared' ? 'shared' : name;
    let mutex = this.#mutexes.get(key);
    if (!mutex) {
      mutex = new Mutex();
      this.#mutexes.set(key, mutex);
    }
    return mutex;
  }

  async #raw(name: IdentityName): Promise<Session> {
    const transport = this.#transport;
    if (transport.kind === 'shared') {
      const want = name === 'admin' ? null : this.#roles[name];
      if (this.#currentRole !== want) {
        await transport.session.exec(want === null ? 'RESET ROLE' : `SET ROLE ${quoteIdent(want)}`);
        this.#currentRole = want;
      }
      return transport.session;
    }
    let session = this.#sessions.get(name);
    if (!session) {
      session = transport.open(name);
      this.#sessions.set(name, session);
      session.catch(() => this.#sessions.delete(name));
    }
    return session;
  }

  #guard(name: IdentityName, sql: string): void {
    // A lone SET LOCAL ROLE (a JWT context switching to its role) is let through: the check after
    // the statement accepts it only for a role this identity is a member of that obeys RLS.
    const loneLocalRole = /^\s*SET\s+LOCAL\s+ROLE\s+(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)\s*;?\s*$/i.test(sql) && !/^\s*SET\s+LOCAL\s+ROLE\s+none\b/i.test(sql);
    if (name !== 'admin' && this.#transport.kind === 'shared' && !loneLocalRole && changesRole(sql)) {
      throw new RoleEscapeError(this.#roles[name], `it sent ${sql.trim().slice(0, 120)}`);
    }
    if (name !== 'admin' && this.#sessionLeak.test(sql)) {
      throw new ContextLeakError(this.#tenant.setting, sql.trim().slice(0, 120), true);
    }
  }

  async #query<R>(name: IdentityName, sql: string, params: readonly unknown[] | undefined, script = false): Promise<QueryResult<R>> {
    this.#guard(name, sql);
    return runExclusive(this.#mutex(name), async () => {
      const session = await this.#raw(name);
      const control = this.#transport.kind === 'shared' ? transactionControlOf(sql) : undefined;
      if (control) {
        await this.#userTransactionControl(session, control);
        return EMPTY as QueryResult<R>;
      }
      const run = async (): Promise<QueryResult<R>> => {
        if (this.#coverage) {
          if (name === 'app') await this.#coverage.beforeAppStatement({ session, sql, params, inTenant: this.#inTenant > 0 });
          else this.#coverage.countOther(name);
        }
        let result = EMPTY as QueryResult<R>;
        if (!script) result = await session.query<R>(sql, params);
        else await session.exec(sql);
        // Before the result reaches the caller: rows read after leaving the role never do.
        if (name !== 'admin' && this.#transport.kind === 'shared') await this.#expectIdentity(name, session, sql);
        return result;
      };
      if (!this.#autocommitSavepoint()) return run();
      // Inside the test's transaction a failing statement must not abort everything after it,
      // just as it would not in autocommit mode on a real connection.
      const savepoint = `tk_stmt_${++this.#sequence}`;
      await session.exec(`SAVEPOINT ${savepoint}`);
      try {
        const result = await run();
        await session.exec(`RELEASE SAVEPOINT ${savepoint}`);
        return result;
      } catch (error) {
        await session.exec(`ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`);
        this.#currentRole = undefined;
        throw error;
      }
    });
  }

  /**
   * Shared transport: after every statement of owner or app, one round trip checks that the
   * statement left current_user and session_user as the kit set them, whatever it ran (DO blocks,
   * EXECUTE, set_config('role', ...), SET LOCAL ROLE inside a function). A change is an escape: the
   * statement's result is withheld, the kit resets the role before its next statement, and the test
   * fails at release even if the error was caught. A function that leaves the role and returns to
   * it within one statement is not seen here; on a server backend the app is a genuine login.
   */
  async #expectIdentity(name: IdentityName, session: Session, sql: string): Promise<void> {
    const expected = this.#roles[name];
    // A role the identity is a member of and that obeys RLS is still the identity acting (SET LOCAL
    // ROLE authenticated, as a JWT context does); a superuser, a bypassing role or a stranger is not.
    const { rows } = await session.query<{ current_user: string; session_user: string; member: boolean }>(
      `SELECT current_user, session_user,
              current_user <> $1 AND pg_has_role($1, current_user, 'MEMBER') AND NOT r.rolsuper AND NOT r.rolbypassrls AS member
         FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`,
      [expected],
    );
    const row = rows[0];
    if (!row || ((row.current_user === expected || row.member) && row.session_user === this.#roles.admin)) return;
    this.#currentRole = undefined;
    const became = row.session_user !== this.#roles.admin ? row.session_user : row.current_user;
    const error = new RoleEscapeError(expected, `after the statement ${sql.trim().replace(/\s+/g, ' ').slice(0, 120)}`, became);
    this.#escaped ??= error;
    throw error;
  }

  /** True when a statement runs directly in the test's transaction, outside any unit of work. */
  #autocommitSavepoint(): boolean {
    return this.#transport.kind === 'shared' && this.#transport.inTestTransaction && this.#depth === 0 && this.#userSavepoints.length === 0;
  }

  /** Shared transport: tested code's BEGIN/COMMIT/ROLLBACK. Inside the test's transaction they become savepoints. */
  async #userTransactionControl(session: Session, control: 'begin' | 'commit' | 'rollback'): Promise<void> {
    const transport = this.#transport;
    if (transport.kind !== 'shared') return;
    if (!transport.inTestTransaction) {
      await session.exec(control === 'begin' ? 'BEGIN' : control === 'commit' ? 'COMMIT' : 'ROLLBACK');
      this.#currentRole = undefined;
      return;
    }
    if (control === 'begin') {
      const name = `tk_user_${++this.#sequence}`;
      await session.exec(`SAVEPOINT ${name}`);
      this.#userSavepoints.push(name);
      return;
    }
    const name = this.#userSavepoints.pop();
    if (name === undefined) return; // Postgres only warns: there is no transaction in progress.
    if (control === 'rollback') {
      await session.exec(`ROLLBACK TO SAVEPOINT ${name}`);
      this.#currentRole = undefined;
    }
    await session.exec(`RELEASE SAVEPOINT ${name}`);
  }

  #transaction<T>(name: IdentityName, fn: (tx: Session) => Promise<T>, tenant: string | undefined): Promise<T> {
    return runExclusive(this.#mutex(name), async () => {
      const session = await this.#raw(name);
      const nested =
        this.#depth > 0 || (this.#transport.kind === 'shared' && (this.#transport.inTestTransaction || this.#userSavepoints.length > 0));
      const savepoint = nested ? `tk_tx_${++this.#sequence}` : undefined;
      const setting = this.#tenant.setting;
      let previous: string | null = null;
      await session.exec(savepoint ? `SAVEPOINT ${savepoint}` : 'BEGIN');
      this.#depth++;
      if (tenant !== undefined) this.#inTenant++;
      const tx: Session = {
        query: (sql, params) => this.#query(name, sql, params),
        exec: async (sql) => {
          await this.#query(name, sql, undefined, true);
        },
      };
      try {
        if (tenant !== undefined) {
          if (savepoint) {
            const { rows } = await session.query<{ value: string | null }>('SELECT current_setting($1, true) AS value', [setting]);
            previous = rows[0]?.value ?? null;
          }
          if (this.#tenant.apply) await this.#tenant.apply(tx, tenant);
          else await session.query('SELECT set_config($1, $2, true)', [setting, tenant]);
        }
        const result = await fn(tx);
        // Re-read the role: tested code may have switched identities inside the transaction.
        await this.#raw(name);
        if (savepoint) {
          await session.exec(`RELEASE SAVEPOINT ${savepoint}`);
          if (tenant !== undefined) await session.query('SELECT set_config($1, $2, true)', [setting, previous ?? '']);
        } else {
          await session.exec('COMMIT');
        }
        if (this.#transport.kind === 'shared') this.#currentRole = undefined;
        if (tenant !== undefined && !savepoint) await this.#expectNoContext(session, tenant);
        return result;
      } catch (error) {
        await session.exec(savepoint ? `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}` : 'ROLLBACK').catch(() => {});
        if (this.#transport.kind === 'shared') this.#currentRole = undefined;
        throw error;
      } finally {
        this.#depth--;
        if (tenant !== undefined) this.#inTenant--;
      }
    });
  }

  async #expectNoContext(session: Session, tenant: string | undefined): Promise<void> {
    const { rows } = await session.query<{ value: string | null }>('SELECT current_setting($1, true) AS value', [this.#tenant.setting]);
    const value = rows[0]?.value;
    if (value !== null && value !== undefined && value !== '' && (tenant === undefined || value === tenant)) {
      throw new ContextLeakError(this.#tenant.setting, value);
    }
  }

  async verify(): Promise<void> {
    const transport = this.#transport;
    if (this.#escaped) throw this.#escaped;
    if (transport.kind === 'shared') {
      await runExclusive(this.#mutex('admin'), async () => {
        const result = await transport.session
          .query<{ current_user: string; session_user: string }>('SELECT current_user, session_user')
          .catch((error: { code?: string }) => {
            // A transaction the tested code opened and broke: its own error is what the test reports.
            if (error.code === '25P02') return undefined;
            throw error;
          });
        const row = result?.rows[0];
        if (!row) return;
        if (row.session_user !== this.#roles.admin) {
          throw new RoleEscapeError(this.#roles.admin, 'the session user changed (SET SESSION AUTHORIZATION)', row.session_user);
        }
        const expected = this.#currentRole === null ? this.#roles.admin : this.#currentRole;
        if (expected !== undefined && row.current_user !== expected) {
          throw new RoleEscapeError(expected, 'current_user changed behind the kit (SET ROLE, RESET ROLE or set_config)', row.current_user);
        }
      });
      return;
    }
    for (const [name, pending] of this.#sessions) {
      const session = await pending.catch(() => undefined);
      if (!session) continue;
      await runExclusive(this.#mutex(name), async () => {
        const { rows } = await session.query<{ current_user: string; value: string | null }>(
          'SELECT current_user, current_setting($1, true) AS value',
          [this.#tenant.setting],
        );
        const row = rows[0];
        if (row && row.current_user !== this.#roles[name]) {
          throw new RoleEscapeError(this.#roles[name], 'SET ROLE on its connection', row.current_user);
        }
        if (row?.value) throw new ContextLeakError(this.#tenant.setting, row.value);
      });
    }
  }

  /** Forgets per-test state after the test's transaction was rolled back. */
  resetAfterRollback(): void {
    this.#currentRole = undefined;
    this.#escaped = undefined;
    this.#userSavepoints.length = 0;
    this.#depth = 0;
  }

  async close(): Promise<void> {
    this.#coverage?.close();
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(sessions.map(async (pending) => (await pending.catch(() => undefined))?.close()));
  }
}
