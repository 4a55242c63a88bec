import type { QueryResult } from '../queryable.js';
import type { OpenSession } from '../backends/backend.js';
import { importPeer } from '../peer.js';

/** The part of node-postgres the kit uses, typed structurally so `pg` stays an optional peer. */
export interface PgClient {
  connect(): Promise<void>;
  query(config: { text: string; values?: readonly unknown[] } | string): Promise<{ rows: unknown[]; rowCount: number | null } | Array<{ rows: unknown[]; rowCount: number | null }>>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}
interface PgModule {
  default: { Client: new (config: { connectionString: string; application_name?: string }) => PgClient };
}

let pgModule: Promise<PgModule> | undefined;

export function loadPg(): Promise<PgModule> {
  pgModule ??= importPeer<PgModule>('pg', 'A Postgres server backend');
  return pgModule;
}

/**
 * One connected node-postgres client, listened to: a server-side disconnect (a test database
 * dropped, a server stopped) must not crash the test process; the next query reports it.
 */
export async function connectPgClient(url: string, applicationName: string): Promise<PgClient> {
  const pg = await loadPg();
  const client = new pg.default.Client({ connectionString: url, application_name: applicationName });
  client.on('error', () => {});
  await client.connect();
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
