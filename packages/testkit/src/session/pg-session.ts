import type { QueryResult } from '../queryable.js';
import type { OpenSession } from '../backends/backend.js';
import { importPeer } from '../peer.js';

/** The part of node-postgres the kit uses, typed structurally so `pg` stays an optional peer. */
interface PgClient {
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

/** Opens one node-postgres connection and adapts it to the kit's Session. */
export async function connectPg(url: string, applicationName = 'tenantkit'): Promise<OpenSession> {
  const pg = await loadPg();
  const client = new pg.default.Client({ connectionString: url, application_name: applicationName });
  // A server-side disconnect must not crash the test process; the next query reports it.
  client.on('error', () => {});
  await client.connect();
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
