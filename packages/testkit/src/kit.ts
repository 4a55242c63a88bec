import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { BACKEND_KINDS, type BackendKind, PRESETS, type IsolationMode, type KitOptions, type ResolvedRoles, type ResolvedTenantContext } from './config.js';
import type { Backend, PhysicalDatabase, PreparedTemplate } from './backends/backend.js';
import { PGLITE_SESSION_USER } from './backends/pglite/pglite-config.js';
import { BACKENDS } from './backends/registry.js';
import type { ServerEndpoint } from './backends/server/server-engine.js';
import type { ReleaseOptions, TestDatabase } from './database.js';
import { ContextLeakError, DatabaseReleasedError, InvalidOptionError, MutantFailedError, RoleEscapeError, UnknownBackendError, messageOf } from './errors.js';
import { loadMutant, recordMutant, withMutant } from './mutation/mutant.js';
import { isCustomSettingName } from './sql/ident.js';
import { type SequenceState, captureSequences, restoreMovedSequences } from './isolation/sequences.js';
import { type TruncatePlan, applyTruncatePlan, captureTruncatePlan } from './isolation/truncate.js';
import type { Migrator } from './migrations/migrator.js';
import { schemaFile, schemaSql } from './migrations/sources/schema/schema.js';
import { schemaChain, schemaFiles } from './migrations/sources/schema/schema-files.js';
import { SUPABASE_STAND_INS, announceCachedStandIns, withStandIns } from './presets/stand-ins.js';
import { supabasePresetSql } from './presets/supabase.js';
import { sqlDirectory } from './migrations/sources/golang-migrate/golang-migrate.js';
import { progress } from './progress.js';
import { StatementRecorder } from './coverage/statement-recorder.js';
import { Identities, type IdentityTransport } from './session/identities.js';
import type { Identity } from './session/identity.js';

/** Bumped when what the kit puts into a template changes, so old templates are not reused. */
const TEMPLATE_FORMAT = 'tenantkit-template-2';

/** Set by the vitest global setup: a server started once for the whole run, shared by workers. */
export const SHARED_SERVER_ENV = 'TENANTKIT_SHARED_SERVER';

export interface SharedServer {
  readonly kind: Exclude<BackendKind, 'pglite'>;
  readonly adminUrl: string;
}

/** Types a configuration once, for the vitest helpers and startKit. */
export function defineKit(options: KitOptions): KitOptions {
  return options;
}

export function resolveBackendKind(options: Pick<KitOptions, 'backend'>): BackendKind {
  const fromEnv = process.env.TENANTKIT_BACKEND;
  const [name, source] = fromEnv ? [fromEnv, 'TENANTKIT_BACKEND'] : [options.backend ?? 'pglite', 'the backend option'];
  if (!(BACKEND_KINDS as readonly string[]).includes(name)) throw new UnknownBackendError(name, BACKEND_KINDS, source);
  return name as BackendKind;
}

export function resolveRoles(options: KitOptions): ResolvedRoles {
  const roles = options.roles ?? {};
  const resolved: ResolvedRoles = {
    owner: roles.owner ?? 'tk_owner',
    app: roles.app ?? 'tk_app',
    appGrants: roles.appGrants ?? 'crud',
    migrateAs: roles.migrateAs ?? 'owner',
    passwords: roles.passwords ?? {},
  };
  for (const which of ['owner', 'app'] as const) {
    if (!/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/.test(resolved[which])) {
      throw new InvalidOptionError(`roles.${which}`, `"${resolved[which]}" is not a plain role name (letters, digits, _ and $, at most 63).`);
    }
  }
  if (resolved.owner === resolved.app) {
    throw new InvalidOptionError('roles', `owner and app are both "${resolved.owner}": the app role must own nothing, or table owners would bypass RLS.`);
  }
  return resolved;
}

/** SQL text, one file, or several files, as a migrator of irreversible steps. */
function sqlSource(schema: string | URL | readonly (string | URL)[]): Migrator {
  if (schema instanceof URL) return schemaFile(schema);
  if (typeof schema !== 'string') return schemaFiles(schema);
  const looksLikeFile = !/[\n;]/.test(schema) && (schema.endsWith('.sql') || existsSync(schema));
  return looksLikeFile ? schemaFile(schema) : schemaSql(schema);
}

/** The admin's setup, run before the migrations (the preset's platform first), or undefined. */
export function resolveSetup(options: Pick<KitOptions, 'setup' | 'preset'>, roles: ResolvedRoles): Migrator | undefined {
  const { setup, preset } = options;
  const parts: Migrator[] = [];
  if (preset !== undefined) {
    if (!(PRESETS as readonly string[]).includes(preset)) throw new InvalidOptionError('preset', `unknown preset "${String(preset)}": the presets are ${PRESETS.join(', ')}.`);
    parts.push(schemaSql(supabasePresetSql({ owner: roles.owner, app: roles.app }), 'preset supabase'));
  }
  if (setup !== undefined && !(Array.isArray(setup) && setup.length === 0)) parts.push(sqlSource(setup));
  return parts.length === 0 ? undefined : schemaChain(parts);
}

/** The migrator as the preset runs it: on Supabase, platform extensions the server lacks get stand-ins. */
export function presetMigrator(migrator: Migrator, preset: KitOptions['preset']): Migrator {
  return preset === 'supabase' ? withStandIns(migrator, SUPABASE_STAND_INS) : migrator;
}

export function resolveMigrator(options: KitOptions): Migrator {
  const { migrations, schema } = options;
  if (migrations !== undefined && schema !== undefined) {
    throw new InvalidOptionError('migrations', 'pass migrations or schema, not both.');
  }
  if (migrations !== undefined) {
    return typeof migrations === 'string' || migrations instanceof URL ? sqlDirectory(migrations) : migrations;
  }
  if (schema !== undefined) return sqlSource(schema);
  throw new InvalidOptionError('migrations', 'nothing to migrate: pass migrations (a directory of NNNN_name.up.sql files, or a Migrator) or schema (an SQL file or text).');
}

/**
 * The run's server, when the vitest global setup started one of this kind for every worker (or a
 * process that runs the suite, such as `tenantkit mutate`, handed it one).
 */
export function sharedServer(kind: BackendKind): ServerEndpoint | undefined {
  const shared = process.env[SHARED_SERVER_ENV];
  if (!shared) return undefined;
  let parsed: Partial<SharedServer> | undefined;
  try {
    parsed = JSON.parse(shared) as Partial<SharedServer>;
  } catch {
    parsed = undefined;
  }
  if (typeof parsed?.kind !== 'string' || typeof parsed.adminUrl !== 'string') {
    throw new InvalidOptionError(
      SHARED_SERVER_ENV,
      `${SHARED_SERVER_ENV} holds something the kit's vitest global setup does not write (expected {"kind":"native","adminUrl":"postgres://..."}). Unset it; the global setup sets it for the run it starts.`,
    );
  }
  return parsed.kind === kind ? { kind, adminUrl: parsed.adminUrl, stop: async () => {} } : undefined;
}

export async function templateKey(migrator: Migrator, roles: ResolvedRoles, setup?: Migrator): Promise<string> {
  const identity = JSON.stringify({ owner: roles.owner, app: roles.app, grants: roles.appGrants, as: roles.migrateAs });
  const before = setup ? await setup.hash() : '';
  return createHash('sha256')
    .update(`${TEMPLATE_FORMAT}\0${before}\0${migrator.kind}\0${await migrator.hash()}\0${identity}`)
    .digest('hex')
    .slice(0, 16);
}

/** A started kit: a backend, a migrated template, and databases for tests. */
export interface Kit extends AsyncDisposable {
  readonly backend: Backend;
  readonly template: PreparedTemplate;
  readonly isolation: IsolationMode;
  readonly roles: ResolvedRoles;
  readonly tenant: ResolvedTenantContext;
  /** A database for one test, already migrated. Release it (or `await using`) when the test ends. */
  acquire(): Promise<TestDatabase>;
  stop(): Promise<void>;
}

/** One database reused by every test of a worker (isolation transaction, truncate, none). */
interface WorkerDatabase {
  readonly physical: PhysicalDatabase;
  readonly admin: Awaited<ReturnType<PhysicalDatabase['open']>>;
  readonly truncatePlan: TruncatePlan | undefined;
  /** Transaction isolation: sequences as migrated, since nextval() is not undone by ROLLBACK. */
  readonly sequences: readonly SequenceState[];
}

/**
 * The tenant setting, checked before anything starts: Postgres takes only a dotted name of
 * identifiers (app.tenant_id) for a custom setting, and would refuse any other at the first test.
 */
function tenantSetting(setting: string | undefined): string {
  if (setting === undefined) return 'app.tenant_id';
  if (typeof setting !== 'string' || !isCustomSettingName(setting)) {
    throw new InvalidOptionError('tenant.setting', `${JSON.stringify(setting)} is not a name Postgres accepts for a custom setting (SQLSTATE 42602 at the first test). Use a dotted name of letters, digits and underscores, the one your policies read with current_setting(), e.g. app.tenant_id.`);
  }
  return setting;
}

export async function startKit(options: KitOptions = {}): Promise<Kit> {
  const kind = resolveBackendKind(options);
  const roles = resolveRoles(options);
  const mutant = await loadMutant(options.mutant);
  const migrated = presetMigrator(resolveMigrator(options), options.preset);
  // The mutant is part of the migrator's hash, and so of the template key.
  const migrator = mutant ? withMutant(migrated, mutant) : migrated;
  const setup = resolveSetup(options, roles);
  const tenant: ResolvedTenantContext = {
    setting: tenantSetting(options.tenant?.setting),
    ...(options.tenant?.apply ? { apply: options.tenant.apply } : {}),
  };
  if (migrator.connectsByUrl && !BACKENDS[kind].reachableByUrl) {
    const servers = Object.values(BACKENDS).filter((definition) => definition.reachableByUrl).map((definition) => `"${definition.kind}"`);
    throw new InvalidOptionError('backend', `The ${migrator.kind} source (${migrator.source}) runs a tool that connects to the database on its own, so it needs a database reachable by URL, which backend "${kind}" does not have: use backend ${servers.join(', ')}.`);
  }
  const backend = await BACKENDS[kind].start(options, roles, sharedServer(kind));
  try {
    const isolation = options.isolation ?? backend.capabilities.defaultIsolation;
    const template = await backend.prepare({ migrator, roles, ...(setup ? { setup } : {}), key: await templateKey(migrator, roles, setup) }).catch((error: unknown) => {
      if (mutant && error instanceof MutantFailedError) recordMutant(mutant, { failed: error });
      throw error;
    });
    if (mutant) recordMutant(mutant, { applied: template.key });
    if (options.preset === 'supabase' && BACKENDS[kind].embedded && !template.built) await announceCachedStandIns(migrator, SUPABASE_STAND_INS);
    if (isolation === 'database') await backend.warm(template);
    return new KitImpl(backend, template, isolation, roles, tenant, options.keepFailed ?? process.env.TENANTKIT_KEEP_FAILED === '1');
  } catch (error) {
    await backend.stop().catch(() => {});
    throw error;
  }
}

class KitImpl implements Kit {
  #worker: Promise<WorkerDatabase> | undefined;
  #active: TestDatabase | undefined;
  /**
   * The worker's one database is handed out in turns: an acquire waits until the previous one has
   * been released and rolled back, so an abandoned test's late acquire and release can never
   * interleave with the next test's.
   */
  #turn: Promise<void> = Promise.resolve();
  readonly #handles = new Set<TestDatabase>();

  constructor(
    readonly backend: Backend,
    readonly template: PreparedTemplate,
    readonly isolation: IsolationMode,
    readonly roles: ResolvedRoles,
    readonly tenant: ResolvedTenantContext,
    readonly keepFailed: boolean,
  ) {}

  #adminRole(url: string | undefined): string {
    return url ? decodeURIComponent(new URL(url).username) : PGLITE_SESSION_USER;
  }

  #workerDatabase(): Promise<WorkerDatabase> {
    this.#worker ??= (async () => {
      const physical = await this.backend.createDatabase(this.template);
      const admin = await physical.open('admin');
      const truncatePlan = this.isolation === 'truncate' ? await captureTruncatePlan(admin) : undefined;
      const sequences = this.isolation === 'transaction' ? await captureSequences(admin) : [];
      return { physical, admin, truncatePlan, sequences };
    })();
    return this.#worker;
  }

  async acquire(): Promise<TestDatabase> {
    const perTest = this.isolation === 'database';
    if (!perTest && this.#active) {
      throw new InvalidOptionError(
        'isolation',
        `isolation "${this.isolation}" shares one database per worker, and ${this.#active.name} is still in use by another test. Release it first, or use isolation "database" for concurrent tests.`,
      );
    }
    if (perTest) return this.#acquire(perTest, () => {});
    const previous = this.#turn;
    let endTurn!: () => void;
    this.#turn = new Promise<void>((resolve) => {
      endTurn = resolve;
    });
    await previous;
    try {
      return await this.#acquire(perTest, endTurn);
    } catch (error) {
      endTurn();
      throw error;
    }
  }

  async #acquire(perTest: boolean, endTurn: () => void): Promise<TestDatabase> {
    const physical = perTest ? await this.backend.createDatabase(this.template) : (await this.#workerDatabase()).physical;
    const worker = perTest ? undefined : await this.#workerDatabase();
    const inTestTransaction = this.isolation === 'transaction';
    const shared = !this.backend.capabilities.realLoginRoles || inTestTransaction;
    const adminSession = shared ? (worker?.admin ?? (await physical.open('admin'))) : undefined;
    const transport: IdentityTransport = adminSession
      ? { kind: 'shared', session: adminSession, inTestTransaction }
      : { kind: 'connections', open: (identity) => physical.open(identity), urlFor: (identity) => physical.urlFor(identity) };
    const adminUrl = physical.urlFor('admin');
    const identities = new Identities(
      transport,
      { admin: this.#adminRole(adminUrl), owner: this.roles.owner, app: this.roles.app },
      this.tenant,
      StatementRecorder.fromEnvironment(physical.name, this.roles.app, this.tenant),
    );
    if (inTestTransaction) await adminSession!.exec('BEGIN');

    let released = false;
    const guard = <T extends (...args: never[]) => unknown>(fn: T): T =>
      ((...args: never[]) => {
        if (released) throw new DatabaseReleasedError(physical.name);
        return fn(...args);
      }) as T;

    const release = (releaseOptions: ReleaseOptions = {}): Promise<void> => {
      if (released) return Promise.resolve();
      released = true;
      const done = finishRelease(releaseOptions);
      void done.then(endTurn, endTurn);
      return done;
    };
    const finishRelease = async (releaseOptions: ReleaseOptions): Promise<void> => {
      this.#handles.delete(handle);
      if (this.#active === handle) this.#active = undefined;
      let failure: unknown;
      try {
        await identities.verify();
      } catch (error) {
        failure = error;
      }
      await identities.close();
      if (inTestTransaction) {
        await adminSession!.exec('ROLLBACK; RESET ROLE');
        identities.resetAfterRollback();
        await restoreMovedSequences(adminSession!, worker!.sequences);
      } else if (this.isolation === 'truncate' && worker?.truncatePlan) {
        await adminSession?.exec('RESET ROLE');
        await applyTruncatePlan(worker.admin, worker.truncatePlan);
      }
      if (perTest) {
        if (adminSession) await adminSession.close();
        const keep = Boolean(releaseOptions.failed) && this.keepFailed && this.backend.capabilities.keepsFailedDatabases;
        const kept = await physical.dispose({ keep });
        if (kept) progress(`kept database of failed test: ${kept}`);
      }
      if (failure) throw failure;
    };

    const handle: TestDatabase = {
      name: physical.name,
      backend: this.backend.kind,
      capabilities: this.backend.capabilities,
      isolation: this.isolation,
      templateKey: this.template.key,
      url: adminUrl,
      // Every way in is closed at release: a test abandoned mid-way can never reach a session a
      // later test uses (on single-session backends the next test shares it).
      admin: guardIdentity(identities.admin, guard),
      owner: guardIdentity(identities.owner, guard),
      app: { ...guardIdentity(identities.app, guard), withTenant: guard(identities.app.withTenant) },
      query: guard((sql: string, params?: readonly unknown[]) => identities.admin.query(sql, params)) as TestDatabase['query'],
      exec: guard((sql: string) => identities.admin.exec(sql)),
      release,
      [Symbol.asyncDispose]: () => release(),
    };
    this.#handles.add(handle);
    if (!perTest) this.#active = handle;
    return handle;
  }

  /**
   * Releases what tests left unreleased, then stops the backend. A release check that fails on such
   * a handle (the app role escaped, a tenant context leaked) is thrown once everything is stopped: a
   * test that never released its database must not hide what its code did. Other release failures
   * (a connection the test broke) are reported and do not stop the rest. When stopping the backend
   * fails too, the release check is still what is thrown: its message ends with the stop failure,
   * which it carries as `suppressed`.
   */
  async stop(): Promise<void> {
    let verdict: RoleEscapeError | ContextLeakError | undefined;
    for (const handle of [...this.#handles]) {
      await handle.release().catch((error: unknown) => {
        if (error instanceof RoleEscapeError || error instanceof ContextLeakError) verdict ??= error;
        else progress(`releasing ${handle.name} at stop failed: ${messageOf(error)}`);
      });
    }
    try {
      await this.#stopWorkerAndBackend();
    } catch (stopFailure) {
      if (verdict === undefined) throw stopFailure;
      verdict.message += `\nStopping the ${this.backend.kind} backend afterwards failed as well: ${messageOf(stopFailure)}`;
      Object.assign(verdict, { suppressed: stopFailure });
    }
    if (verdict !== undefined) throw verdict;
  }

  async #stopWorkerAndBackend(): Promise<void> {
    if (this.#worker) {
      const worker = await this.#worker.catch(() => undefined);
      this.#worker = undefined;
      if (worker) {
        await worker.admin.close();
        await worker.physical.dispose({ keep: false });
      }
    }
    await this.backend.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** The identity with each entry point passed through `guard` (which refuses once released). */
function guardIdentity<I extends Identity>(identity: I, guard: <T extends (...args: never[]) => unknown>(fn: T) => T): I {
  return { ...identity, query: guard(identity.query), exec: guard(identity.exec), transaction: guard(identity.transaction) };
}
