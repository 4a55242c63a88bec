import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ResolvedRoles } from '../../config.js';
import { BackendMisuseError, CacheCorruptError, PgliteExtensionUnavailableError } from '../../errors.js';
import { importPeer } from '../../peer.js';
import { elapsedMs, formatMs, progress } from '../../progress.js';
import type { QueryResult } from '../../queryable.js';
import { ensureRoles, grantCrud, letOwnerCreateRoles } from '../../roles.js';
import { quoteIdent } from '../../sql/ident.js';
import { Identities } from '../../session/identities.js';
import type { Backend, BackendCapabilities, OpenSession, PhysicalDatabase, PreparedTemplate, TemplateSpec } from '../backend.js';
import { DumpBlob } from './dump-blob.js';
import { PGLITE_SESSION_USER, defaultCacheDir, pgliteVersion } from './pglite-config.js';
import { type PgliteExtensions, extensionBundle, extensionsOption, unavailableExtension } from './pglite-extensions.js';
import { cacheMaxBytes, evictSnapshots, touchSnapshot } from './snapshot-cache.js';

/** The part of PGlite the kit uses, typed structurally so the package stays an optional peer. */
interface PGliteInstance {
  readonly waitReady: Promise<void>;
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  exec(sql: string): Promise<unknown>;
  dumpDataDir(compression?: 'gzip' | 'none' | 'auto'): Promise<Blob>;
  close(): Promise<void>;
}
interface PGliteModule {
  PGlite: {
    new (options?: { loadDataDir?: Blob; username?: string; database?: string; extensions?: PgliteExtensions; startParams?: string[] }): PGliteInstance;
    readonly defaultStartParams?: readonly string[];
  };
}

/**
 * A schema file runs in one transaction, which locks every object it creates: PGlite's default lock
 * table fills near 2,000 tables (SQLSTATE 53200); 512 per connection holds tens of thousands.
 */
const START_SETTINGS = ['-c', 'max_locks_per_transaction=512'];

export interface PgliteBackendOptions {
  readonly cacheDir?: string;
  /** Size cap of the snapshot cache in MB (default TENANTKIT_CACHE_MAX_MB, else 256). */
  readonly cacheMaxMb?: number;
  /** Extensions every instance starts with (KitOptions.pglite.extensions). */
  readonly extensions?: readonly string[];
}

const CAPABILITIES: BackendCapabilities = {
  realLoginRoles: false,
  keepsFailedDatabases: false,
  defaultIsolation: 'transaction',
};

function sessionOf(instance: PGliteInstance): OpenSession {
  return {
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const result = await instance.query<R>(sql, params === undefined ? undefined : [...params]);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(sql: string): Promise<void> {
      await instance.exec(sql);
    },
    async close(): Promise<void> {
      await instance.close();
    },
  };
}

/**
 * Embedded Postgres in the test process. The migrated database is dumped once per migration hash
 * and PGlite version into the cache directory; every worker starts from that dump.
 */
export class PgliteBackend implements Backend {
  readonly kind = 'pglite' as const;
  readonly capabilities = CAPABILITIES;
  serverVersion = 'PGlite';

  readonly #cacheDir: string;
  #module: PGliteModule | undefined;
  #version = 'unknown';
  /** The dump each new instance is restored from, read once per process. */
  readonly #snapshots = new Map<string, Blob>();
  /** The extensions each template's instances start with. */
  readonly #extensions = new Map<string, readonly string[]>();
  readonly #open = new Set<PGliteInstance>();
  /** The instance that proved a cached snapshot loads, handed to the first database. */
  readonly #spare = new Map<string, PGliteInstance>();
  /** Extensions every instance starts with, besides its template's. */
  readonly #always: readonly string[];
  readonly #cacheMaxBytes: number;
  /** Cache files this process reads or wrote: never evicted by it. */
  readonly #inUse = new Set<string>();

  constructor(options: PgliteBackendOptions = {}) {
    this.#always = options.extensions ?? [];
    this.#cacheMaxBytes = cacheMaxBytes(options.cacheMaxMb);
    this.#cacheDir = options.cacheDir ?? process.env.TENANTKIT_CACHE_DIR ?? defaultCacheDir();
  }

  async start(): Promise<this> {
    this.#module = await importPeer<PGliteModule>('@electric-sql/pglite', 'Backend "pglite"');
    this.#version = await pgliteVersion();
    this.serverVersion = `PGlite ${this.#version}`;
    return this;
  }

  #snapshotFile(key: string): string {
    return join(this.#cacheDir, `pglite-${this.#version}-${key}.tar`);
  }

  async #newInstance(snapshot?: Blob, extensions: readonly string[] = []): Promise<PGliteInstance> {
    if (!this.#module) await this.start();
    const wanted = [...new Set([...this.#always, ...extensions])];
    const options = {
      ...(snapshot ? { loadDataDir: snapshot } : {}),
      ...(wanted.length > 0 ? { extensions: await extensionsOption(wanted) } : {}),
      // Without the defaults (an older PGlite) its own start parameters are kept.
      ...(this.#module!.PGlite.defaultStartParams ? { startParams: [...this.#module!.PGlite.defaultStartParams, ...START_SETTINGS] } : {}),
    };
    const instance = new this.#module!.PGlite(options);
    await instance.waitReady;
    this.#open.add(instance);
    return instance;
  }

  async prepare(spec: TemplateSpec): Promise<PreparedTemplate> {
    const startedAt = performance.now();
    const file = this.#snapshotFile(spec.key);
    const name = `pglite:${spec.key}`;
    const cached = await readFile(file).catch((error: unknown) => {
      // Not there is a miss; a file that cannot be read is said, then rebuilt over.
      if ((error as { code?: unknown }).code !== 'ENOENT') progress(new CacheCorruptError(file, error).message);
      return undefined;
    });
    this.#inUse.add(basename(file));
    if (cached) {
      await touchSnapshot(file);
      const snapshot = new DumpBlob(cached);
      try {
        // A snapshot that does not load is rebuilt rather than failing the run.
        const { extensions } = JSON.parse(await readFile(`${file}.json`, 'utf8')) as { extensions: string[] };
        const probe = await this.#newInstance(snapshot, extensions);
        await probe.query('SELECT 1');
        this.#spare.set(spec.key, probe);
        this.#snapshots.set(spec.key, snapshot);
        this.#extensions.set(spec.key, extensions);
        return { name, key: spec.key, built: false, migrations: (await spec.migrator.list()).length, ms: elapsedMs(startedAt) };
      } catch (cause) {
        progress(new CacheCorruptError(file, cause).message);
        await rm(file, { force: true });
      }
    }
    const base = await this.#baseSnapshot(spec.roles);
    const extensions: string[] = [];
    for (;;) {
      const instance = await this.#newInstance(base, extensions);
      let migrations: number;
      try {
        migrations = await this.#migrate(instance, spec);
      } catch (error) {
        await this.#closeInstance(instance);
        // A CREATE EXTENSION for a module PGlite ships: start again with it loaded.
        const wanted = unavailableExtension(error);
        if (wanted === undefined || extensions.includes(wanted)) throw error;
        if ((await extensionBundle(wanted)) === undefined) throw new PgliteExtensionUnavailableError(wanted, error);
        extensions.push(wanted);
        continue;
      }
      try {
        return await this.#store(instance, spec, file, extensions, migrations, startedAt);
      } finally {
        await this.#closeInstance(instance);
      }
    }
  }

  /** Dumps the migrated instance into the cache, with the extensions its copies must start with. */
  async #store(instance: PGliteInstance, spec: TemplateSpec, file: string, extensions: readonly string[], migrations: number, startedAt: number): Promise<PreparedTemplate> {
    // Uncompressed: about ten times the bytes on disk, but restored in roughly half the time.
    const dump = await instance.dumpDataDir('none');
    const bytes = new Uint8Array(await dump.arrayBuffer());
    await writeAtomically(this.#cacheDir, `${file}.json`, new TextEncoder().encode(JSON.stringify({ extensions })));
    await writeAtomically(this.#cacheDir, file, bytes);
    await evictSnapshots(this.#cacheDir, this.#inUse, this.#cacheMaxBytes);
    this.#snapshots.set(spec.key, new DumpBlob(bytes));
    this.#extensions.set(spec.key, extensions);
    const ms = elapsedMs(startedAt);
    progress(`PGlite snapshot ${spec.key} built: ${migrations} migration(s) from ${spec.migrator.source} in ${formatMs(ms)} (cached in ${this.#cacheDir})`);
    return { name: `pglite:${spec.key}`, key: spec.key, built: true, migrations, ms };
  }

  /**
   * An empty cluster with the kit's roles, dumped once per PGlite version and role names: restoring
   * it takes a fraction of a fresh PGlite's start, so each new migration hash builds faster.
   */
  async #baseSnapshot(roles: ResolvedRoles): Promise<Blob> {
    const key = createHash('sha256').update(JSON.stringify(['base-2', roles.owner, roles.app])).digest('hex').slice(0, 12);
    const file = join(this.#cacheDir, `pglite-${this.#version}-base-${key}.tar`);
    this.#inUse.add(basename(file));
    const cached = await readFile(file).catch((error: unknown) => {
      // Not there is a miss; a file that cannot be read is said, then rebuilt over.
      if ((error as { code?: unknown }).code !== 'ENOENT') progress(new CacheCorruptError(file, error).message);
      return undefined;
    });
    if (cached) {
      await touchSnapshot(file);
      return new DumpBlob(cached);
    }
    const instance = await this.#newInstance();
    try {
      await prepareRoles(sessionOf(instance), roles);
      const bytes = new Uint8Array(await (await instance.dumpDataDir('none')).arrayBuffer());
      await writeAtomically(this.#cacheDir, file, bytes);
      return new DumpBlob(bytes);
    } finally {
      await this.#closeInstance(instance);
    }
  }

  async #migrate(instance: PGliteInstance, spec: TemplateSpec): Promise<number> {
    const session = sessionOf(instance);
    // Idempotent: the base snapshot has them already, unless it came from an older cache.
    await prepareRoles(session, spec.roles);
    if (spec.setup) await spec.setup.up({ session, role: PGLITE_SESSION_USER });
    // SET ROLE does not apply the role's own settings: what the owner creates, it may act as.
    await session.exec(`RESET ROLE; SET createrole_self_grant = 'set, inherit'`);
    const identities = new Identities(
      { kind: 'shared', session, inTestTransaction: false },
      { admin: PGLITE_SESSION_USER, owner: spec.roles.owner, app: spec.roles.app },
      { setting: 'tenantkit.unused' },
    );
    const migrator = spec.roles.migrateAs === 'owner' ? identities.owner : identities.admin;
    const steps = await spec.migrator.up({ session: migrator, role: migrator.role });
    await session.exec('RESET ROLE');
    if (spec.roles.appGrants === 'crud') await grantCrud(session, spec.roles.app);
    return steps.length;
  }

  /** Nothing to do ahead: prepare() already keeps one started instance spare for the first test. */
  async warm(_template: PreparedTemplate): Promise<void> {}

  async createDatabase(template: PreparedTemplate): Promise<PhysicalDatabase> {
    const snapshot = this.#snapshots.get(template.key);
    if (!snapshot) throw new BackendMisuseError('pglite', `PGlite template ${template.name} was not prepared in this process, so no database can be made from it. Call prepare() with its spec on this backend first.`);
    const spare = this.#spare.get(template.key);
    this.#spare.delete(template.key);
    const instance = spare ?? (await this.#newInstance(snapshot, this.#extensions.get(template.key)));
    const session = sessionOf(instance);
    const name = `pglite-${template.key}-${randomUUID().slice(0, 8)}`;
    return {
      name,
      urlFor: () => undefined,
      open: async (identity) => {
        if (identity !== 'admin') throw new BackendMisuseError('pglite', `PGlite has one session, so it cannot open one for "${identity}". Open "admin" and switch roles with SET LOCAL ROLE.`);
        // The instance outlives the handle; dispose() closes it.
        return { ...session, close: async () => {} };
      },
      dispose: async () => {
        await this.#closeInstance(instance);
        return undefined;
      },
    };
  }

  async #closeInstance(instance: PGliteInstance): Promise<void> {
    if (!this.#open.delete(instance)) return;
    await instance.close().catch(() => {});
  }

  async stop(): Promise<void> {
    this.#spare.clear();
    await Promise.all([...this.#open].map((instance) => this.#closeInstance(instance)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Write then rename, so a concurrent reader never sees half a file. */
async function writeAtomically(dir: string, file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dir, { recursive: true });
  const partial = `${file}.${process.pid}.${randomUUID()}.tmp`;
  await writeFile(partial, bytes);
  await rename(partial, file);
}

/** On PGlite the roles exist only to be SET; the owner owns the database so it may create schemas. */
async function prepareRoles(session: OpenSession, roles: ResolvedRoles): Promise<void> {
  await ensureRoles(session, roles, { createOnlyPrefixed: false });
  await letOwnerCreateRoles(session, roles.owner);
  await session.exec(`ALTER DATABASE ${quoteIdent('postgres')} OWNER TO ${quoteIdent(roles.owner)}`);
}
