import type { QueryResult } from '../queryable.js';
import type { OpenSession } from '../backends/backend.js';
import { ConnectionLostError, LoginRefusedError, ServerUnreachableError, TenantkitError, sqlStateOf } from '../errors.js';
import { importPeer } from '../peer.js';
import { quoteIdent } from '../sql/ident.js';

/** The part of node-postgres the kit uses, typed structurally so `pg` stays an optional peer. */
export interface PgClient {
  connect(): Promise<void>;
  query(config: { text: string; values?: readonly unknown[] } | string): Promise<{ rows: unknown[]; rowCount: number | null } | Array<{ rows: unknown[]; rowCount: number | null }>>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** node-postgres internals, used only to drop an abandoned connection attempt at once. */
  readonly connection?: { readonly stream?: { destroy(): void } };
}

/** A node-postgres pool, for the migration tools that take one. */
export interface PgPool {
  end(): Promise<void>;
  on(event: 'connect', listener: (client: { on(event: 'error', listener: () => void): unknown }) => void): unknown;
  on(event: 'error', listener: () => void): unknown;
}

/** The `pg` module as `import('pg')` returns it. */
export interface PgModule {
  default: {
    Client: new (config: { connectionString: string; application_name?: string; connectionTimeoutMillis?: number }) => PgClient;
    Pool: new (config: { connectionString: string; max: number }) => PgPool;
  };
}

let pgModule: Promise<PgModule> | undefined;

export function loadPg(): Promise<PgModule> {
  pgModule ??= importPeer<PgModule>('pg', 'A Postgres server backend');
  return pgModule;
}

/** How long a connection attempt may wait for the server: the URL's connect_timeout (seconds, as in libpq), else 10 s. */
export function connectTimeoutMs(url: string): number {
  let seconds: number;
  try {
    seconds = Number(new URL(url).searchParams.get('connect_timeout') ?? 'NaN');
  } catch {
    seconds = Number.NaN;
  }
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 10_000;
}

/**
 * One connected node-postgres client, listened to: a server-side disconnect (a test database
 * dropped, a server stopped) must not crash the test process; the next query reports it.
 * A server that accepts the connection but never answers fails it after connectTimeoutMs. A failed
 * connection comes out as the kit's error (connectionError): TENANTKIT_LOGIN_REFUSED or
 * TENANTKIT_SERVER_UNREACHABLE.
 */
export async function connectPgClient(url: string, applicationName: string): Promise<PgClient> {
  const pg = await loadPg();
  const timeoutMs = connectTimeoutMs(url);
  let client: PgClient;
  try {
    // Inside the try: a URL the driver cannot parse fails here, and is named like any failed connect.
    client = new pg.default.Client({ connectionString: url, application_name: applicationName, connectionTimeoutMillis: timeoutMs });
    client.on('error', () => {});
    await client.connect();
  } catch (error) {
    if (error instanceof Error && /timeout/i.test(error.message)) {
      throw new ServerUnreachableError(
        describeUrl(url),
        new Error(`no answer within ${timeoutMs} ms (connect_timeout; set it in the URL, in seconds, if the server is just slow)`, { cause: error }),
      );
    }
    throw connectionError(url, error);
  }
  return client;
}

/** Opens one node-postgres connection and adapts it to the kit's Session. */
export async function connectPg(url: string, applicationName = 'tenantkit'): Promise<OpenSession> {
  const client = await connectPgClient(url, applicationName);
  let closed = false;
  return {
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const result = await client.query(params === undefined ? { text: sql } : { text: sql, values: params });
      const last = Array.isArray(result) ? result[result.length - 1] : result;
      return { rows: (last?.rows ?? []) as R[], rowCount: last?.rowCount ?? 0 };
    },
    async exec(sql: string): Promise<void> {
      await client.query(sql);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await client.end().catch(() => {});
    },
  };
}

/** Same server, another user and database. */
export function withCredentials(url: string, user: string, password: string | undefined, database: string): string {
  const parsed = new URL(url);
  parsed.username = encodeURIComponent(user);
  parsed.password = password === undefined ? '' : encodeURIComponent(password);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Why the connection to `url` failed, as the kit's error: a server that is running but refuses the
 * role, the password or the database is told apart from one that does not answer.
 */
export function connectionError(url: string, cause: unknown): TenantkitError {
  // Already told apart (connectPg does it): said once, not wrapped again.
  if (cause instanceof TenantkitError) return cause;
  const target = describeUrl(url);
  const sqlState = sqlStateOf(cause);
  // The server answered, then ended the session while it logged in (a restart, pg_terminate_backend): it is there.
  if (sqlState === '57P01' || sqlState === '57P02') return new ConnectionLostError(target, cause);
  if (sqlState === undefined || !['28000', '28P01', '3D000'].includes(sqlState)) return new ServerUnreachableError(target, cause);
  const parsed = new URL(url);
  const role = decodeURIComponent(parsed.username) || process.env.PGUSER || 'the OS user name';
  const database = decodeURIComponent(parsed.pathname.slice(1)) || role;
  const message = cause instanceof Error ? cause.message : '';
  if (sqlState === '3D000') {
    return new LoginRefusedError(
      target,
      database,
      sqlState,
      `Database "${database}" (the URL's path) does not exist there. Put an existing database in the URL (e.g. /postgres), or create it: CREATE DATABASE ${quoteIdent(database)};`,
      cause,
    );
  }
  const create = `CREATE ROLE ${quoteIdent(role)} LOGIN CREATEDB CREATEROLE PASSWORD '...';`;
  const fix =
    sqlState === '28P01'
      ? `Role "${role}" does not exist there or its password is wrong (the server does not say which). Fix the user and password in the URL (DATABASE_URL), or have a superuser create the role: ${create}`
      : /does not exist/.test(message)
        ? `Role "${role}" does not exist there. Fix the user in the URL (DATABASE_URL), or have a superuser create the role: ${create}`
        : `Role "${role}" may not connect to database "${database}" from this host. Allow it in pg_hba.conf (then SELECT pg_reload_conf()), or use a role that may.`;
  return new LoginRefusedError(target, role, sqlState, fix, cause);
}
