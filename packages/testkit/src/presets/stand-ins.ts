import { extensionsCreatedBy, extensionsCreatedByFiles } from '../backends/pglite/pglite-extensions.js';
import type { MigrationTarget, Migrator } from '../migrations/migrator.js';
import { progress } from '../progress.js';
import type { Session } from '../queryable.js';

/**
 * Extensions a hosted platform installs that no test server here has (no package provides them).
 * When a migration creates one and the server does not offer it, the statement runs a stand-in
 * instead: the extension's schema and the functions migrations call, which record what they are
 * asked and never act (no job runs, no request is sent). Each use is announced on stderr, so
 * nobody mistakes a stand-in for the extension.
 */
export interface StandIn {
  readonly extension: string;
  /** The schema it creates, which holds all of it. */
  readonly schema: string;
  /** What the stand-in does, for the announcement. */
  readonly note: string;
  /** Idempotent SQL, run as the migrations' role. */
  readonly sql: string;
}

export const SUPABASE_STAND_INS: readonly StandIn[] = [
  {
    extension: 'pg_cron',
    schema: 'cron',
    note: 'cron.schedule() and cron.unschedule() record jobs in cron.job; no job ever runs',
    sql: `CREATE SCHEMA IF NOT EXISTS cron;
CREATE TABLE IF NOT EXISTS cron.job (
  jobid bigserial PRIMARY KEY, schedule text NOT NULL, command text NOT NULL, jobname text UNIQUE,
  nodename text NOT NULL DEFAULT 'localhost', nodeport integer NOT NULL DEFAULT 5432,
  database text NOT NULL DEFAULT current_database(), username text NOT NULL DEFAULT current_user, active boolean NOT NULL DEFAULT true
);
CREATE OR REPLACE FUNCTION cron.schedule(job_name text, schedule text, command text) RETURNS bigint LANGUAGE sql
  AS $fn$ INSERT INTO cron.job (jobname, schedule, command) VALUES (job_name, schedule, command)
          ON CONFLICT (jobname) DO UPDATE SET schedule = excluded.schedule, command = excluded.command RETURNING jobid $fn$;
CREATE OR REPLACE FUNCTION cron.schedule(schedule text, command text) RETURNS bigint LANGUAGE sql
  AS $fn$ INSERT INTO cron.job (schedule, command) VALUES (schedule, command) RETURNING jobid $fn$;
CREATE OR REPLACE FUNCTION cron.unschedule(job_id bigint) RETURNS boolean LANGUAGE sql
  AS $fn$ WITH gone AS (DELETE FROM cron.job WHERE jobid = job_id RETURNING 1) SELECT count(*) > 0 FROM gone $fn$;
CREATE OR REPLACE FUNCTION cron.unschedule(job_name text) RETURNS boolean LANGUAGE sql
  AS $fn$ WITH gone AS (DELETE FROM cron.job WHERE jobname = job_name RETURNING 1) SELECT count(*) > 0 FROM gone $fn$;`,
  },
  {
    extension: 'pg_net',
    schema: 'net',
    note: 'net.http_get(), net.http_post() and net.http_delete() record requests in net.http_request_queue; nothing is sent',
    sql: `CREATE SCHEMA IF NOT EXISTS net;
CREATE TABLE IF NOT EXISTS net.http_request_queue (
  id bigserial PRIMARY KEY, method text NOT NULL, url text NOT NULL, headers jsonb, body jsonb, timeout_milliseconds integer
);
CREATE OR REPLACE FUNCTION net.http_get(url text, params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}', timeout_milliseconds integer DEFAULT 5000) RETURNS bigint LANGUAGE sql
  AS $fn$ INSERT INTO net.http_request_queue (method, url, headers, timeout_milliseconds) VALUES ('GET', url, headers, timeout_milliseconds) RETURNING id $fn$;
CREATE OR REPLACE FUNCTION net.http_post(url text, body jsonb DEFAULT '{}', params jsonb DEFAULT '{}', headers jsonb DEFAULT '{"Content-Type": "application/json"}', timeout_milliseconds integer DEFAULT 5000) RETURNS bigint LANGUAGE sql
  AS $fn$ INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds) VALUES ('POST', url, headers, body, timeout_milliseconds) RETURNING id $fn$;
CREATE OR REPLACE FUNCTION net.http_delete(url text, params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}', timeout_milliseconds integer DEFAULT 5000) RETURNS bigint LANGUAGE sql
  AS $fn$ INSERT INTO net.http_request_queue (method, url, headers, timeout_milliseconds) VALUES ('DELETE', url, headers, timeout_milliseconds) RETURNING id $fn$;`,
  },
  {
    extension: 'supabase_vault',
    schema: 'vault',
    note: 'vault.create_secret() stores secrets in plain text in vault.secrets, read back through vault.decrypted_secrets',
    sql: `CREATE SCHEMA IF NOT EXISTS vault;
CREATE TABLE IF NOT EXISTS vault.secrets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text UNIQUE, description text NOT NULL DEFAULT '', secret text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE VIEW vault.decrypted_secrets AS SELECT *, secret AS decrypted_secret FROM vault.secrets;
CREATE OR REPLACE FUNCTION vault.create_secret(new_secret text, new_name text DEFAULT NULL, new_description text DEFAULT '') RETURNS uuid LANGUAGE sql
  AS $fn$ INSERT INTO vault.secrets (secret, name, description) VALUES (new_secret, new_name, new_description) RETURNING id $fn$;`,
  },
  {
    extension: 'pg_graphql',
    schema: 'graphql',
    note: 'only the graphql schema; graphql.resolve() answers every query with an error object',
    sql: `CREATE SCHEMA IF NOT EXISTS graphql;
CREATE OR REPLACE FUNCTION graphql.resolve(query text, variables jsonb DEFAULT '{}', "operationName" text DEFAULT NULL, extensions jsonb DEFAULT NULL) RETURNS jsonb LANGUAGE sql
  AS $fn$ SELECT '{"errors": [{"message": "pg_graphql is a tenantkit stand-in here"}]}'::jsonb $fn$;`,
  },
];

/** The extension a statement creates, or undefined. */
export function extensionCreatedBy(sql: string): string | undefined {
  const text = sql.replace(/^(?:\s*--[^\n]*\n|\s*\/\*[^]*?\*\/)*/, '');
  return /^\s*create\s+extension\b/i.test(text) ? extensionsCreatedBy(text)[0] : undefined;
}

/** Announced once per process and extension. */
const announced = new Set<string>();

function announce(standIn: StandIn, where = ''): void {
  if (announced.has(standIn.extension)) return;
  announced.add(standIn.extension);
  progress(`${standIn.extension} is not available on this server: a stand-in was created instead${where} (${standIn.note})`);
}

/**
 * For a PGlite snapshot taken from the cache, where no migration ran in this process: the stand-ins
 * its migrations created (PGlite offers none of these extensions), announced as if they had run.
 */
export async function announceCachedStandIns(migrator: Migrator, standIns: readonly StandIn[]): Promise<void> {
  const created = await extensionsCreatedByFiles((await migrator.list()).flatMap((migration) => (migration.upFile ? [migration.upFile] : [])));
  for (const standIn of standIns) if (created.includes(standIn.extension)) announce(standIn, ' when the cached snapshot was built');
}

/**
 * The session, except that CREATE EXTENSION of an extension with a stand-in, which the server
 * does not offer, runs the stand-in.
 */
function withStandInSession(session: Session, standIns: readonly StandIn[]): Session {
  const exec = async (sql: string): Promise<void> => {
    const name = extensionCreatedBy(sql);
    const standIn = name === undefined ? undefined : standIns.find((entry) => entry.extension === name);
    if (standIn) {
      const { rows } = await session.query('SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = $1', [standIn.extension]);
      if (rows.length === 0) {
        await session.exec(standIn.sql);
        announce(standIn);
        return;
      }
    }
    await session.exec(sql);
  };
  return new Proxy(session, {
    get(target, property) {
      if (property === 'exec') return exec;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The migrator, its sessions running stand-ins for the platform extensions the server lacks. */
export function withStandIns(migrator: Migrator, standIns: readonly StandIn[]): Migrator {
  const on = (target: MigrationTarget): MigrationTarget => ({ ...target, session: withStandInSession(target.session, standIns) });
  return {
    kind: migrator.kind,
    source: migrator.source,
    stateTables: migrator.stateTables,
    ...(migrator.connectsByUrl ? { connectsByUrl: migrator.connectsByUrl } : {}),
    hash: () => migrator.hash(),
    list: () => migrator.list(),
    current: (target) => migrator.current(target),
    up: (target, to) => migrator.up(on(target), to),
    down: (target, to) => migrator.down(on(target), to),
  };
}
