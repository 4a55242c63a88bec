import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type AlembicOptions, BACKEND_KINDS, type BackendKind, alembicMigrator, type Kit, type KitOptions, type Migrator, PRESETS, type Preset, type TestDatabase, UnknownBackendError, dbmateDirectory, sqlDirectory, startKit, upOnlyFolder } from '@tenantkit/testkit';
import { BACKENDS, backendDefinition, backendSummaries, type OpenSession, connectPg, isLoopbackHost } from '@tenantkit/testkit/internal';
import { LAYOUTS, type Layout, detectLayout, isUpOnly } from './layouts.js';
import { FileNotFoundError, UsageError } from './errors.js';

/** Where a command's database comes from: SQL files or migrations on a disposable database, or a URL. */
export interface SourceArgs {
  readonly sql: readonly string[];
  readonly migrations: string | undefined;
  /** An Alembic project (--alembic alembic.ini), driven through Alembic itself. */
  readonly alembic: AlembicOptions | undefined;
  readonly url: string | undefined;
  /** Run as the admin before the schema or migrations. */
  readonly setup: readonly string[];
  readonly migrateAs: 'owner' | 'admin';
  /** The folder's layout; detected from the files when not given. */
  readonly format: Layout | undefined;
  /** Versions declared irreversible. */
  readonly irreversible: readonly string[];
  readonly backend: string | undefined;
  readonly allowRemote: boolean;
  /** --preset: the platform built before the migrations; undefined to follow the layout. */
  readonly preset: Preset | 'none' | undefined;
}

/** What every command's usage says about where the database comes from (one text, three commands). */
export const SOURCE_USAGE = `  --sql FILE...          schema files, applied in order
  --migrations DIR       a migrations folder: golang-migrate (NNN_name.up.sql / .down.sql), dbmate
                         (digits then anything .sql, with -- migrate:up / -- migrate:down sections),
                         or up only: Prisma Migrate (<ts>_<name>/migration.sql), drizzle-kit (journal
                         order), Supabase (supabase/migrations/<ts>_<name>.sql)
  --format NAME          golang-migrate | dbmate | prisma | drizzle | supabase (default: detected)
  --alembic FILE         an Alembic project's alembic.ini: revisions listed and applied by Alembic
                         itself (upgrade / downgrade) on a server (default --backend native)
  --python CMD           the Python that has Alembic (default python3; a virtualenv's bin/python)
  --alembic-url-env NAME the variable the project's env.py reads the database URL from, besides
                         DATABASE_URL (repeatable)
  --setup FILE           SQL run as the admin before the schema or migrations (repeatable): what the
                         project expects to exist already (a login role its README has you create,
                         extensions, grants)
  --preset NAME          supabase: before anything else, what a stock Supabase database has (roles
                         anon, authenticated, service_role, authenticator; auth.users, auth.uid(),
                         auth.jwt(); its default privileges); the default for a Supabase folder;
                         none turns it off
  --migrate-as WHO       owner (default: the kit's owner role, which may create roles, so tables keep a
                         non-superuser owner as in production) or admin (a superuser, for migrations
                         that need one, e.g. an untrusted extension)
  --backend NAME         where --sql and --migrations run (default pglite; with --alembic, native):
${backendSummaries().map((line) => `                           ${line}`).join('\n')}
  --allow-remote         allow --url to a host other than this machine`;

/** A database to work on, and how to let go of it. */
export interface OpenedSource {
  readonly description: string;
  /** The disposable database (for --sql and --migrations). */
  readonly database: TestDatabase | undefined;
  /** Admin access to the database. */
  readonly admin: OpenSession | TestDatabase;
  /** The schema or migration files it was built from (none for --url). */
  readonly files: readonly string[];
  close(): Promise<void>;
}

/** The options every command that opens a database takes (parseArgs form). */
export const SOURCE_OPTIONS = {
  sql: { type: 'string', multiple: true },
  migrations: { type: 'string' },
  alembic: { type: 'string' },
  python: { type: 'string' },
  'alembic-url-env': { type: 'string', multiple: true },
  url: { type: 'string' },
  setup: { type: 'string', multiple: true },
  'migrate-as': { type: 'string' },
  preset: { type: 'string' },
  format: { type: 'string' },
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
  values: {
    sql?: string[];
    migrations?: string;
    alembic?: string;
    python?: string;
    'alembic-url-env'?: string[];
    url?: string;
    setup?: string[];
    'migrate-as'?: string;
    format?: string;
    irreversible?: string[];
    backend?: string;
    'allow-remote'?: boolean;
    preset?: string;
  },
  positionals: readonly string[],
): SourceArgs {
  if (positionals.length > 0 && values.sql === undefined) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const migrateAs = values['migrate-as'] ?? 'owner';
  if (migrateAs !== 'owner' && migrateAs !== 'admin') throw new UsageError(`unknown --migrate-as "${migrateAs}": use owner or admin`);
  const format = values.format === 'sql-files' ? 'golang-migrate' : values.format;
  if (format !== undefined && !(LAYOUTS as readonly string[]).includes(format)) throw new UsageError(`unknown --format "${values.format}": use ${LAYOUTS.join(', ')}`);
  const irreversible = values.irreversible ?? [];
  const notVersion = irreversible.find((entry) => !/^\d+$/.test(entry));
  if (notVersion !== undefined) throw new UsageError(`--irreversible takes a migration version (digits), got "${notVersion}"`);
  const preset = values.preset;
  if (preset !== undefined && preset !== 'none' && !(PRESETS as readonly string[]).includes(preset)) throw new UsageError(`unknown --preset "${preset}": use ${[...PRESETS, 'none'].join(', ')}`);
  if (values.alembic === undefined && (values.python !== undefined || values['alembic-url-env'] !== undefined)) throw new UsageError('--python and --alembic-url-env apply to --alembic');
  const badEnv = (values['alembic-url-env'] ?? []).find((name) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name));
  if (badEnv !== undefined) throw new UsageError(`--alembic-url-env "${badEnv}" is not an environment variable name`);
  return {
    sql: [...(values.sql ?? []), ...positionals],
    migrations: values.migrations,
    alembic: values.alembic === undefined ? undefined : { ini: resolve(values.alembic), python: values.python ?? 'python3', urlEnv: values['alembic-url-env'] ?? [] },
    url: values.url,
    setup: values.setup ?? [],
    migrateAs,
    format: format as Layout | undefined,
    irreversible,
    backend: values.backend,
    allowRemote: Boolean(values['allow-remote']),
    preset: preset as Preset | 'none' | undefined,
  };
}

/**
 * The migrator for --migrations DIR in the layout given or detected; every --irreversible version
 * must name one of its migrations. An up-only layout is its migrations in the order its tool applies
 * them, each an irreversible step.
 */
export async function migratorFor(args: SourceArgs): Promise<Migrator | undefined> {
  if (args.alembic) return alembicMigrator(args.alembic);
  const dir = args.migrations;
  if (dir === undefined) return undefined;
  const layout = args.format ?? (await detectLayout(dir));
  if (isUpOnly(layout)) {
    if (args.irreversible.length > 0) throw new UsageError(`--irreversible does not apply to a ${layout} folder: every migration in it is up only`);
    return upOnlyFolder(dir, layout);
  }
  const options = { irreversible: args.irreversible };
  const migrator = layout === 'dbmate' ? dbmateDirectory(dir, options) : sqlDirectory(dir, options);
  const listed = await migrator.list();
  const missing = args.irreversible.find((entry) => !listed.some((m) => m.version === entry || BigInt(m.version) === BigInt(entry)));
  if (missing !== undefined) throw new UsageError(`--irreversible ${missing} names no migration in ${dir} (versions: ${listed.map((m) => m.version).join(', ')})`);
  return migrator;
}

/** The platform to build before the migrations: the one named, else Supabase's for a Supabase folder. */
export async function presetFor(args: SourceArgs): Promise<Preset | undefined> {
  if (args.preset === 'none') return undefined;
  if (args.preset !== undefined) return args.preset;
  if (args.migrations === undefined || args.alembic !== undefined) return undefined;
  return (args.format ?? (await detectLayout(args.migrations))) === 'supabase' ? 'supabase' : undefined;
}

export function checkSource(args: SourceArgs): void {
  const given = [args.sql.length > 0, args.migrations !== undefined, args.url !== undefined, args.alembic !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UsageError('give exactly one of --sql FILE..., --migrations DIR, --alembic alembic.ini or --url URL');
  if (args.alembic && args.backend !== undefined && backendDefinition(args.backend)?.reachableByUrl === false) {
    const servers = Object.values(BACKENDS).filter((definition) => definition.reachableByUrl).map((definition) => definition.kind);
    throw new UsageError(`--alembic runs Alembic, which connects by URL, and backend ${args.backend} has no database reachable by one: use --backend ${servers.join(', ')} (native is the default with --alembic)`);
  }
  if (args.alembic && !existsSync(args.alembic.ini)) throw new FileNotFoundError('--alembic', args.alembic.ini);
  // The same error as an unknown TENANTKIT_BACKEND, so both ways of naming a backend fail alike.
  if (args.backend !== undefined && !(BACKEND_KINDS as readonly string[]).includes(args.backend)) throw new UnknownBackendError(args.backend, BACKEND_KINDS, '--backend');
  if (args.url !== undefined && args.backend !== undefined) throw new UsageError('--backend applies to --sql and --migrations, not to --url');
  if (args.url !== undefined && (args.setup.length > 0 || args.migrateAs !== 'owner' || args.preset !== undefined)) {
    throw new UsageError('--setup, --preset and --migrate-as shape a database the kit builds (--sql, --migrations); --url is an existing database, taken as it is');
  }
  if (args.format !== undefined && args.migrations === undefined) throw new UsageError('--format applies to --migrations DIR');
  for (const file of args.setup) if (!existsSync(file)) throw new FileNotFoundError('--setup', file);
  for (const file of args.sql) if (!existsSync(file)) throw new FileNotFoundError('--sql', file);
  if (args.migrations !== undefined && !existsSync(args.migrations)) throw new FileNotFoundError('--migrations', args.migrations, 'directory');
}

/** The host --url names; one that is not this machine needs --allow-remote. */
export function checkLocalUrl(url: string, allowRemote: boolean): string {
  let host: string;
  try {
    const parsed = new URL(url);
    host = parsed.searchParams.get('host') ?? parsed.hostname;
  } catch {
    throw new UsageError(`--url is not a postgres:// URL`);
  }
  if (!allowRemote && !isLoopbackHost(host || 'localhost')) {
    throw new UsageError(`--url points at "${host}", which is not this machine; the command writes to that database. Add --allow-remote if it really is a test database.`);
  }
  return host;
}

/** user@host:port/database, without the password, for messages. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.username ? `${decodeURIComponent(parsed.username)}@` : ''}${parsed.host}${parsed.pathname}`;
  } catch {
    return 'the --url database';
  }
}

export async function openSource(args: SourceArgs, extra: Partial<KitOptions> = {}): Promise<OpenedSource> {
  if (args.url !== undefined) {
    const url = args.url;
    const host = checkLocalUrl(url, args.allowRemote);
    const session = await connectPg(url, 'tenantkit cli');
    return { description: `${host}${new URL(url).pathname}`, database: undefined, admin: session, files: [], close: () => session.close() };
  }
  const migrator = await migratorFor(args);
  const preset = await presetFor(args);
  const files = migrator ? (await migrator.list()).flatMap((m) => [m.upFile, m.downFile]).filter((file): file is string => file !== undefined) : [...args.sql];
  const options: KitOptions = {
    ...(args.backend ? { backend: args.backend as BackendKind } : args.alembic ? { backend: 'native' as BackendKind } : {}),
    ...(migrator ? { migrations: migrator } : { schema: [...args.sql] }),
    ...(args.setup.length > 0 ? { setup: [...args.setup] } : {}),
    ...(preset ? { preset } : {}),
    isolation: 'none',
    poolSize: 0,
    ...extra,
    roles: { migrateAs: args.migrateAs, ...extra.roles },
  };
  const kit: Kit = await startKit(options);
  try {
    const database = await kit.acquire();
    return {
      description: `a disposable ${kit.backend.kind} database (${kit.backend.serverVersion}) from ${args.alembic?.ini ?? args.migrations ?? args.sql.join(', ')}`,
      database,
      admin: database,
      files: [...new Set(files)],
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
