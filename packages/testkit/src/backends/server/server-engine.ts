import { randomBytes } from 'node:crypto';
import type { BackendKind, ResolvedRoles } from '../../config.js';
import { BackendMisuseError, InsufficientPrivilegesError, LockWaitTimeoutError, RoleConflictError, TemplateLockTimeoutError, messageOf, sqlStateOf } from '../../errors.js';
import { elapsedMs, formatMs, progress } from '../../progress.js';
import { KIT_MARK, KIT_PREFIX, derivePassword, ensureRoles, grantCrud, letOwnerCreateRoles, roleNames } from '../../roles.js';
import { quoteIdent, quoteLiteral } from '../../sql/ident.js';
import { Mutex } from '../../session/identity.js';
import { connectPg, describeUrl, withCredentials } from '../../session/pg-session.js';
import type {
  Backend,
  BackendCapabilities,
  IdentityName,
  OpenSession,
  PhysicalDatabase,
  PreparedTemplate,
  TemplateSpec,
} from '../backend.js';

/** A running server the kit may use with an administrative login (CREATEDB and CREATEROLE at least). */
export interface ServerEndpoint {
  readonly kind: Exclude<BackendKind, 'pglite'>;
  readonly adminUrl: string;
  /** Stops what the backend started (nothing for an existing server). */
  stop(): Promise<void>;
}

export interface ServerEngineOptions {
  readonly roles: ResolvedRoles;
  /** Clones kept ready. */
  readonly poolSize: number;
  readonly templateLockTimeoutMs: number;
  /** The kit may create roles without its prefix only on servers it started. */
  readonly ownsServer: boolean;
  /**
   * How long one of the kit's statements may wait for a lock another session holds (a DROP DATABASE
   * behind an open transaction that touched that database). Default 30000.
   */
  readonly lockTimeoutMs?: number;
}

/**
 * A clone in the pool with the connections a test opens first already logged in (a login costs about
 * as much as the clone itself), so acquiring one is a pop and the first query runs at once.
 */
interface ReadyClone {
  readonly name: string;
  readonly sessions: Map<IdentityName, Promise<OpenSession | undefined>>;
}

/** A clone the pool made or is making; `ready` is set once it can be handed out. */
interface PoolEntry {
  readonly clone: Promise<ReadyClone | undefined>;
  ready: boolean;
}

/** How the pool kept up with the tests: acquisitions, and those that found no clone ready. */
interface PoolStats {
  acquired: number;
  waited: number;
  waitedMs: number[];
}

/** The identities every test of database isolation talks as: its setup (admin) and the code under test (app). */
const PRE_OPENED: readonly IdentityName[] = ['admin', 'app'];

/** Advisory-lock class of every lock the kit takes ("tk"). */
const LOCK_CLASS = 0x746b;
const CLONE_PATTERN = /^tk_([0-9a-f]{10})_\d+$/;
const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
const MAX_DEFERRED_DROPS = 4;

const CAPABILITIES: BackendCapabilities = {
  realLoginRoles: true,
  keepsFailedDatabases: true,
  defaultIsolation: 'database',
};

/**
 * The server engine: templates, clones, roles and the reaper on a real server, the module the
 * native, url and container backends run on (each brings its server as a ServerEndpoint). Each process holds an advisory lock named after its run id for as long
 * as it lives; a clone whose run's lock is free belongs to a dead process and is reaped.
 */
export class ServerEngine implements Backend {
  readonly kind: Exclude<BackendKind, 'pglite'>;
  readonly capabilities = CAPABILITIES;
  serverVersion = 'PostgreSQL';
  serverVersionNum = 0;
  /** This process's run id, embedded in every clone's name. */
  readonly runId = randomBytes(5).toString('hex');

  readonly #endpoint: ServerEndpoint;
  readonly #options: ServerEngineOptions;
  #control: OpenSession | undefined;
  #sequence = 0;
  /** Per template, the clones made or being made, oldest first. */
  readonly #pool = new Map<string, PoolEntry[]>();
  readonly #stats = new Map<string, PoolStats>();
  /** Drops wait while a clone is being made: a test waiting for a clone comes first. */
  #cloning = 0;
  #dropsWaiting: (() => void)[] = [];
  readonly #pending = new Set<Promise<unknown>>();
  #refillError: unknown;
  /** The first database that could not be dropped in the background, reported by stop(). */
  #dropError: unknown;
  #toldPoolEmpty = false;
  #stopped = false;

  constructor(endpoint: ServerEndpoint, options: ServerEngineOptions) {
    this.kind = endpoint.kind;
    this.#endpoint = endpoint;
    this.#options = options;
  }

  get adminUrl(): string {
    return this.#endpoint.adminUrl;
  }

  async start(): Promise<this> {
    const url = this.#endpoint.adminUrl;
    const lockTimeoutMs = this.#options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    // connectPg names a failed connect itself (TENANTKIT_LOGIN_REFUSED, _SERVER_UNREACHABLE or _CONNECTION_LOST).
    const control = serialized(await connectPg(url, `tenantkit control ${this.runId}`), lockTimeoutMs);
    this.#control = control;
    try {
      await this.#checkServer(control, url, lockTimeoutMs);
      await this.reapStale();
    } catch (error) {
      // An open connection would keep the process alive after the error is reported.
      this.#control = undefined;
      await control.close();
      throw error;
    }
    return this;
  }

  async #checkServer(control: OpenSession, url: string, lockTimeoutMs: number): Promise<void> {
    await control.exec(`SET lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
    const { rows } = await control.query<{ user: string; super: boolean; createdb: boolean; createrole: boolean; version: string; num: string }>(
      `SELECT current_user AS user, rolsuper AS super, rolcreatedb AS createdb, rolcreaterole AS createrole,
              current_setting('server_version') AS version, current_setting('server_version_num') AS num
         FROM pg_roles WHERE rolname = current_user`,
    );
    const me = rows[0]!;
    this.serverVersion = `PostgreSQL ${me.version}`;
    this.serverVersionNum = Number(me.num);
    const missing = [...(me.super || me.createdb ? [] : ['CREATEDB']), ...(me.super || me.createrole ? [] : ['CREATEROLE'])];
    if (missing.length > 0) throw new InsufficientPrivilegesError(me.user, missing, describeUrl(url));
    await control.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK_CLASS, `run:${this.runId}`]);
  }

  #session(): OpenSession {
    if (!this.#control) throw new BackendMisuseError('server', 'The server backend was used before start(), so it has no control connection. Call start() first.');
    return this.#control;
  }

  /** Drops clones left by processes that died (their run lock is free). Returns the names dropped. */
  async reapStale(): Promise<string[]> {
    const control = this.#session();
    const { rows } = await control.query<{ datname: string; comment: string | null }>(
      `SELECT datname, shobj_description(oid, 'pg_database') AS comment
         FROM pg_database WHERE datname LIKE 'tk\\_%' AND NOT datistemplate`,
    );
    const reaped: string[] = [];
    for (const row of rows) {
      const runId = CLONE_PATTERN.exec(row.datname)?.[1];
      if (!runId || runId === this.runId || !row.comment?.startsWith(KIT_MARK)) continue;
      const { rows: lock } = await control.query<{ free: boolean }>(
        'SELECT pg_try_advisory_lock($1, hashtext($2)) AS free',
        [LOCK_CLASS, `run:${runId}`],
      );
      if (!lock[0]?.free) continue;
      try {
        await control.exec(`DROP DATABASE IF EXISTS ${quoteIdent(row.datname)} WITH (FORCE)`);
        reaped.push(row.datname);
      } finally {
        await control.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, `run:${runId}`]);
      }
    }
    if (reaped.length > 0) progress(`reaped ${reaped.length} database(s) left by dead test processes`);
    return reaped;
  }

  #password(which: 'owner' | 'app'): string {
    return this.#options.roles.passwords[which] ?? derivePassword(this.#endpoint.adminUrl, this.#options.roles[which]);
  }

  #urlFor(identity: IdentityName, database: string): string {
    const roles = this.#options.roles;
    if (identity === 'admin') {
      const admin = new URL(this.#endpoint.adminUrl);
      return withCredentials(this.#endpoint.adminUrl, decodeURIComponent(admin.username), decodeURIComponent(admin.password) || undefined, database);
    }
    return withCredentials(this.#endpoint.adminUrl, roles[identity], this.#password(identity), database);
  }

  async #withLock<T>(key: string, what: string, fn: () => Promise<T>): Promise<T> {
    const control = this.#session();
    const startedAt = performance.now();
    for (;;) {
      const { rows } = await control.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_CLASS, key]);
      if (rows[0]?.ok) break;
      if (performance.now() - startedAt > this.#options.templateLockTimeoutMs) {
        throw new TemplateLockTimeoutError(what, elapsedMs(startedAt));
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    try {
      return await fn();
    } finally {
      await control.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, key]).catch(() => {});
    }
  }

  async prepare(spec: TemplateSpec): Promise<PreparedTemplate> {
    const startedAt = performance.now();
    const name = templateDatabaseName(spec.key);
    const control = this.#session();
    await this.#withLock('roles', 'the kit roles', async () => {
      await ensureRoles(control, spec.roles, {
        passwordFor: (which) => this.#password(which),
        createOnlyPrefixed: !this.#options.ownsServer,
      });
      await letOwnerCreateRoles(control, spec.roles.owner);
    });
    return this.#withLock(`template:${name}`, name, async () => {
      const { rows } = await control.query<{ datistemplate: boolean; comment: string | null }>(
        `SELECT datistemplate, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datname = $1`,
        [name],
      );
      const existing = rows[0];
      const count = (await spec.migrator.list()).length;
      if (existing && !existing.comment?.startsWith(KIT_MARK)) {
        throw new RoleConflictError(name, `Database ${name} exists but was not created by the kit; it is left alone. Drop or rename it yourself.`);
      }
      if (existing?.datistemplate) return { name, key: spec.key, built: false, migrations: count, ms: elapsedMs(startedAt) };
      if (existing) {
        // Left half-built by a process that died while migrating.
        await control.exec(`DROP DATABASE ${quoteIdent(name)} WITH (FORCE)`);
      }
      await control.exec(`CREATE DATABASE ${quoteIdent(name)} OWNER ${quoteIdent(spec.roles.owner)}`);
      await this.#mark(name, 'template');
      try {
        await this.#migrate(name, spec);
      } catch (error) {
        await control.exec(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch(() => {});
        throw error;
      }
      await control.exec(`ALTER DATABASE ${quoteIdent(name)} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
      const ms = elapsedMs(startedAt);
      progress(`template ${name} built: ${count} migration(s) from ${spec.migrator.source} in ${formatMs(ms)} (${this.serverVersion})`);
      return { name, key: spec.key, built: true, migrations: count, ms };
    });
  }

  async #migrate(database: string, spec: TemplateSpec): Promise<void> {
    if (spec.setup) {
      const adminUrl = this.#urlFor('admin', database);
      const admin = await connectPg(adminUrl, 'tenantkit setup');
      try {
        await spec.setup.up({ session: admin, role: decodeURIComponent(new URL(adminUrl).username), url: adminUrl });
      } finally {
        await admin.close();
      }
    }
    const as = spec.roles.migrateAs;
    const url = this.#urlFor(as, database);
    const session = await connectPg(url, 'tenantkit migrate');
    try {
      const role = as === 'admin' ? decodeURIComponent(new URL(url).username) : spec.roles.owner;
      await spec.migrator.up({ session, role, url });
    } finally {
      await session.close();
    }
    if (spec.roles.appGrants === 'crud') {
      const admin = await connectPg(this.#urlFor('admin', database), 'tenantkit grants');
      try {
        await grantCrud(admin, spec.roles.app);
      } finally {
        await admin.close();
      }
    }
  }

  async #mark(database: string, what: string): Promise<void> {
    const note = `${KIT_MARK}${JSON.stringify({ what, run: this.runId, pid: process.pid, at: new Date().toISOString() })}`;
    await this.#session().exec(`COMMENT ON DATABASE ${quoteIdent(database)} IS ${quoteLiteral(note)}`);
  }

  async #clone(template: PreparedTemplate): Promise<string> {
    const name = `${KIT_PREFIX}${this.runId}_${++this.#sequence}`;
    const strategy = this.serverVersionNum >= 150000 ? ' STRATEGY FILE_COPY' : '';
    const control = this.#session();
    this.#cloning++;
    try {
      await control.exec(
        `CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(template.name)} OWNER ${quoteIdent(this.#options.roles.owner)}${strategy}`,
      );
      await this.#mark(name, 'clone');
    } finally {
      if (--this.#cloning === 0) for (const wake of this.#dropsWaiting.splice(0)) wake();
    }
    return name;
  }

  #track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    void work.finally(() => this.#pending.delete(work)).catch(() => {});
    return work;
  }

  /**
   * Keeps `poolSize` clones made or being made, so a test finds one ready or waits only for the one
   * furthest along. Their first connections are logged in as they are made.
   */
  #refill(template: PreparedTemplate): void {
    if (this.#stopped) return;
    const pool = this.#pool.get(template.name) ?? [];
    this.#pool.set(template.name, pool);
    while (pool.length < this.#options.poolSize) {
      const entry: PoolEntry = {
        ready: false,
        clone: this.#track(
          this.#clone(template).then(
            async (name) => {
              if (this.#stopped) return void (await this.#drop(name));
              const clone = await this.#preOpen(name);
              entry.ready = true;
              return clone;
            },
            (error: unknown) => {
              this.#refillError = error;
              entry.ready = true;
              return undefined;
            },
          ),
        ),
      };
      pool.push(entry);
    }
  }

  /** Logs the first identities in; a login that fails is left to the test, which opens its own. */
  async #preOpen(name: string): Promise<ReadyClone> {
    const sessions = new Map<IdentityName, Promise<OpenSession | undefined>>();
    for (const identity of PRE_OPENED) {
      sessions.set(identity, connectPg(this.#urlFor(identity, name), `tenantkit ${identity}`).catch(() => undefined));
    }
    await Promise.all(sessions.values());
    return { name, sessions };
  }

  /** Closes the connections of a clone that no test used. */
  async #closeUnused(clone: ReadyClone): Promise<void> {
    for (const pending of clone.sessions.values()) await (await pending)?.close().catch(() => undefined);
    clone.sessions.clear();
  }

  /** Fills the pool now and waits for it (warm-up before the first test). */
  async warm(template: PreparedTemplate, options: { readonly quiet?: boolean } = {}): Promise<void> {
    if (this.#options.poolSize === 0) return;
    const startedAt = performance.now();
    this.#refill(template);
    const clones = await Promise.all((this.#pool.get(template.name) ?? []).map((entry) => entry.clone));
    if (!options.quiet) progress(`pool warmed: ${clones.filter(Boolean).length} clone(s) of ${template.name} in ${formatMs(elapsedMs(startedAt))}`);
  }

  /** The oldest clone of the pool: at once when it is ready, else when it is (a test waited for it). */
  async #fromPool(template: PreparedTemplate): Promise<ReadyClone | undefined> {
    const entry = this.#pool.get(template.name)?.shift();
    if (!entry) return undefined;
    const stats = this.#stats.get(template.name) ?? { acquired: 0, waited: 0, waitedMs: [] };
    this.#stats.set(template.name, stats);
    stats.acquired++;
    if (entry.ready) return entry.clone;
    const startedAt = performance.now();
    // Said once: tests that acquire faster than clones are made wait for one each.
    if (!this.#toldPoolEmpty) {
      this.#toldPoolEmpty = true;
      progress(`the pool of ${template.name} was empty: tests acquire faster than clones are made (poolSize ${this.#options.poolSize}); a summary follows at stop`);
    }
    const clone = await entry.clone;
    stats.waited++;
    stats.waitedMs.push(performance.now() - startedAt);
    return clone;
  }

  /** How the pool kept up, per template: acquisitions, how many waited and how long (for the summary at stop). */
  poolStats(): ReadonlyMap<string, Readonly<PoolStats>> {
    return this.#stats;
  }

  /** A clone for one test, from the pool unless `pool: false` (then made now, and the pool left alone). */
  async createDatabase(template: PreparedTemplate, options: { readonly pool?: boolean } = {}): Promise<PhysicalDatabase> {
    if (this.#refillError) {
      const error = this.#refillError;
      this.#refillError = undefined;
      throw error;
    }
    const usePool = options.pool ?? true;
    const pooled = usePool ? this.#fromPool(template) : undefined;
    // The next clone starts while this test waits for (or takes) the one furthest along.
    if (usePool) this.#refill(template);
    const clone: ReadyClone = (await pooled) ?? { name: await this.#clone(template), sessions: new Map() };
    const { name } = clone;
    return {
      name,
      urlFor: (identity) => this.#urlFor(identity, name),
      open: async (identity) => {
        const ready = clone.sessions.get(identity);
        clone.sessions.delete(identity);
        return (await ready) ?? connectPg(this.#urlFor(identity, name), `tenantkit ${identity}`);
      },
      dispose: async ({ keep }) => {
        await this.#closeUnused(clone);
        if (keep) return this.#urlFor('admin', name);
        void this.#track(this.#drop(name)).catch((error: unknown) => {
          this.#dropError ??= error;
        });
        return undefined;
      },
    };
  }

  async #drop(name: string): Promise<void> {
    // A drop behind a clone on the one control connection would delay a test waiting for that clone.
    // A few wait at most, so databases do not pile up while tests keep the pool busy.
    while (this.#cloning > 0 && !this.#stopped && this.#dropsWaiting.length < MAX_DEFERRED_DROPS) await new Promise<void>((resolve) => this.#dropsWaiting.push(resolve));
    await this.#session().exec(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  }

  /** Every role on the server now. */
  roleNames(): Promise<Set<string>> {
    return roleNames(this.#session());
  }

  /**
   * Drops the roles that appeared since `baseline` was read: the kit ran the SQL that created them
   * in databases of its own, which are gone by now (waits for pending drops). Each is marked as the
   * kit's first, so no role that was there before is ever touched. Returns what could not be dropped.
   */
  async dropRolesSince(baseline: ReadonlySet<string>, why: string): Promise<string[]> {
    await this.idle();
    const control = this.#session();
    const failed: string[] = [];
    for (const role of await this.roleNames()) {
      if (baseline.has(role)) continue;
      try {
        await control.exec(`COMMENT ON ROLE ${quoteIdent(role)} IS ${quoteLiteral(`${KIT_MARK}${why}`)}`);
        await control.exec(`DROP ROLE ${quoteIdent(role)}`);
      } catch (error) {
        failed.push(`${role} (${messageOf(error)})`);
      }
    }
    return failed;
  }

  /** Databases of this run still on the server (for tests of the kit itself). */
  async liveClones(): Promise<string[]> {
    const { rows } = await this.#session().query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname`,
      [`${KIT_PREFIX}${this.runId}\\_%`],
    );
    return rows.map((row) => row.datname);
  }

  /** Resolves when no clone or drop is running in the background. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    // Drops held back for clones go now: nothing is cloned any more.
    for (const wake of this.#dropsWaiting.splice(0)) wake();
    await this.idle();
    const control = this.#control;
    this.#summarizePool();
    if (control) {
      for (const entries of this.#pool.values()) {
        for (const entry of entries.splice(0)) {
          const clone = await entry.clone;
          if (!clone) continue;
          await this.#closeUnused(clone);
          await this.#drop(clone.name).catch((error: unknown) => {
            this.#dropError ??= error;
          });
        }
      }
      await control.close();
      this.#control = undefined;
    }
    await this.#endpoint.stop();
    // A database that could not be dropped is still on the server: say so instead of ending quietly.
    if (this.#dropError !== undefined) throw this.#dropError;
  }

  /** When tests outran the pool, says how often and how long they waited, and what would help. */
  #summarizePool(): void {
    for (const [template, stats] of this.#stats) {
      if (stats.waited === 0) continue;
      const sorted = [...stats.waitedMs].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      progress(
        `${stats.waited} of ${stats.acquired} tests waited for a clone of ${template} (median ${formatMs(median)}): they ran faster than clones are made with poolSize ${this.#options.poolSize}. A larger poolSize absorbs bursts; for a steady rate faster than a clone per test, use isolation 'transaction'.`,
      );
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * One connection shared by the foreground and the pool's background work: one statement at a time.
 * Its statements wait at most lock_timeout for locks; such a timeout becomes a named error.
 */
function serialized(session: OpenSession, lockTimeoutMs: number): OpenSession {
  const mutex = new Mutex();
  const named = (sql: string) => (error: unknown) => {
    if (sqlStateOf(error) !== '55P03') throw error;
    const statement = sql.trim().replace(/\s+/g, ' ').slice(0, 200);
    const object = /"((?:[^"]|"")+)"/.exec(statement)?.[1]?.replaceAll('""', '"') ?? 'an object';
    throw new LockWaitTimeoutError(statement, object, lockTimeoutMs, error);
  };
  return {
    query: <R>(sql: string, params?: readonly unknown[]) => mutex.run(() => session.query<R>(sql, params).catch(named(sql))),
    exec: (sql) => mutex.run(() => session.exec(sql).catch(named(sql))),
    close: () => mutex.run(() => session.close()),
  };
}

/** The database a template of `key` lives in on a server. */
export function templateDatabaseName(key: string): string {
  return `${KIT_PREFIX}tpl_${key}`;
}

/**
 * Drops the template of `key` that kits left on a server shared between runs (a mutant's run, a bench
 * suite), when it is there, so the next run with that key builds its own.
 */
export async function dropTemplateDatabase(adminUrl: string, key: string, applicationName: string): Promise<void> {
  const name = templateDatabaseName(key);
  const admin = await connectPg(adminUrl, applicationName);
  try {
    const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_database WHERE datname = $1', [name]);
    if (rows[0]?.n !== 1) return;
    await admin.exec(`ALTER DATABASE ${quoteIdent(name)} IS_TEMPLATE false`);
    await admin.exec(`DROP DATABASE ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.close();
  }
}
