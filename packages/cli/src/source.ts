import { existsSync } from 'node:fs';
import {
  BACKEND_KINDS,
  type BackendKind,
  type Kit,
  type KitOptions,
  type OpenSession,
  type TestDatabase,
  TenantkitError,
  isLoopbackHost,
  openConnection,
  startKit,
} from '@tenantkit/testkit';
import { UsageError } from './usage.js';

/** Where a command's database comes from: SQL files or migrations on a disposable database, or a URL. */
export interface SourceArgs {
  readonly sql: readonly string[];
  readonly migrations: string | undefined;
  readonly url: string | undefined;
  readonly backend: string | undefined;
  readonly allowRemote: boolean;
}

/** A database to work on, and how to let go of it. */
export interface OpenedSource {
  readonly description: string;
  /** The disposable database (for --sql and --migrations). */
  readonly database: TestDatabase | undefined;
  /** Admin access to the database. */
  readonly admin: OpenSession | TestDatabase;
  close(): Promise<void>;
}

/** The options every command that opens a database takes (parseArgs form). */
export const SOURCE_OPTIONS = {
  sql: { type: 'string', multiple: true },
  migrations: { type: 'string' },
  url: { type: 'string' },
  backend: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  'app-grants': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `--app-grants schema` (exactly what the SQL grants) or `crud` (SELECT, INSERT, UPDATE,
 * DELETE on every table of the user's schemas and USAGE on their sequences, as a deployment does).
 */
export function appGrantsArg(value: string | undefined, fallback: 'schema' | 'crud'): 'schema' | 'crud' {
  if (value === undefined) return fallback;
  if (value === 'schema' || value === 'crud') return value;
  throw new UsageError(`unknown --app-grants "${value}": use schema (only what the SQL grants) or crud (what a deployment script grants)`);
}

/** `--sql a.sql b.sql` as well as `--sql a.sql --sql b.sql`; stray positionals are a usage error. */
export function sourceArgs(
  values: { sql?: string[]; migrations?: string; url?: string; backend?: string; 'allow-remote'?: boolean },
  positionals: readonly string[],
): SourceArgs {
  if (positionals.length > 0 && values.sql === undefined) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  return {
    sql: [...(values.sql ?? []), ...positionals],
    migrations: values.migrations,
    url: values.url,
    backend: values.backend,
    allowRemote: Boolean(values['allow-remote']),
  };
}

/** A failed command: the message on stderr and, with --json, one JSON object on stdout. */
export function failureResult(command: string, code: 1 | 2, error: unknown, json: boolean, jsonBody: Record<string, unknown> = {}): { code: number; stdout: string; stderr: string } {
  const named = error instanceof TenantkitError ? error : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const stderr = `tenantkit ${command}: ${named ? `${named.code}: ` : ''}${message}\n`;
  if (!json) return { code, stdout: '', stderr };
  const body = { ...jsonBody, error: { code: named?.code ?? 'TENANTKIT_ERROR', object: named?.object ?? null, message } };
  return { code, stdout: `${JSON.stringify(body)}\n`, stderr };
}

export function checkSource(args: SourceArgs): void {
  const given = [args.sql.length > 0, args.migrations !== undefined, args.url !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UsageError('give exactly one of --sql FILE..., --migrations DIR or --url URL');
  if (args.backend !== undefined && !(BACKEND_KINDS as readonly string[]).includes(args.backend)) {
    throw new UsageError(`unknown --backend "${args.backend}": use one of ${BACKEND_KINDS.join(', ')}`);
  }
  if (args.url !== undefined && args.backend !== undefined) throw new UsageError('--backend applies to --sql and --migrations, not to --url');
  for (const file of args.sql) if (!existsSync(file)) throw new UsageError(`--sql ${file}: no such file`);
  if (args.migrations !== undefined && !existsSync(args.migrations)) throw new UsageError(`--migrations ${args.migrations}: no such directory`);
}

export async function openSource(args: SourceArgs, extra: Partial<KitOptions> = {}): Promise<OpenedSource> {
  if (args.url !== undefined) {
    const url = args.url;
    let host: string;
    try {
      const parsed = new URL(url);
      host = parsed.searchParams.get('host') ?? parsed.hostname;
    } catch {
      throw new UsageError(`--url is not a postgres:// URL`);
    }
    if (!args.allowRemote && !isLoopbackHost(host || 'localhost')) {
      throw new UsageError(`--url points at "${host}", which is not this machine; the command writes to that database. Add --allow-remote if it really is a test database.`);
    }
    const session = await openConnection(url, 'tenantkit cli');
    return { description: `${host}${new URL(url).pathname}`, database: undefined, admin: session, close: () => session.close() };
  }
  const options: KitOptions = {
    ...(args.backend ? { backend: args.backend as BackendKind } : {}),
    ...(args.migrations !== undefined ? { migrations: args.migrations } : { schema: [...args.sql] }),
    isolation: 'none',
    poolSize: 0,
    ...extra,
  };
  const kit: Kit = await startKit(options);
  try {
    const database = await kit.acquire();
    return {
      description: `a disposable ${kit.backend.kind} database (${kit.backend.serverVersion}) from ${args.migrations ?? args.sql.join(', ')}`,
      database,
      admin: database,
      close: async () => {
        await database.release();
        await kit.stop();
      },
    };
  } catch (error) {
    await kit.stop();
    throw error;
  }
}
