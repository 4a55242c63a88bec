import { InvalidOptionError, MigrationsInvalidError } from '../../../errors.js';
import type { QueryResult, Session } from '../../../queryable.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from '../../migrator.js';
import { indexOfVersion, migrationHash, toolStep } from '../../source-helpers.js';

/** What umzug reports about a migration (`pending()`, `executed()`). */
export interface UmzugMigrationMeta {
  readonly name: string;
  readonly path?: string;
}

/** A resolved, runnable migration as umzug's `migrations(context)` returns it. */
export interface UmzugRunnableMigration extends UmzugMigrationMeta {
  readonly up: (...args: never[]) => unknown;
  readonly down?: ((...args: never[]) => unknown) | undefined;
}

/** The part of an Umzug instance the adapter uses; any umzug 3 instance fits. */
export interface UmzugLike {
  /** umzug 3 exposes the resolved migrations, which tells which ones have a down. */
  readonly migrations?: (context: never) => Promise<readonly UmzugRunnableMigration[]>;
  readonly options?: { readonly context?: unknown };
  pending(): Promise<readonly UmzugMigrationMeta[]>;
  executed(): Promise<readonly UmzugMigrationMeta[]>;
  up(options?: { to?: string }): Promise<unknown>;
  down(options?: { to?: string | 0; step?: number }): Promise<unknown>;
}

export interface UmzugMigratorOptions {
  /** For messages, e.g. "umzug (src/migrations)". Default "umzug". */
  readonly source?: string;
  /**
   * The tables the instance's storage keeps its record in, as schema.table (SequelizeStorage:
   * ['public.SequelizeMeta']), left out of schema comparisons. Default: none (a storage that
   * keeps its record outside the database, or that you list here).
   */
  readonly stateTables?: readonly string[];
}

function unusable(what: string): never {
  throw new InvalidOptionError('umzug', `the umzug factory touched the database (${what}) while only the list of migrations was asked for; create the Umzug instance without running queries.`);
}

/** Handed to the factory when only the list is needed: any use of it is a mistake. */
const LISTING_TARGET: MigrationTarget = {
  role: '(listing)',
  session: {
    async query<R = Record<string, unknown>>(): Promise<QueryResult<R>> {
      return unusable('query');
    },
    async exec(): Promise<void> {
      unusable('exec');
    },
  } as Session,
};

/**
 * Migrations run by a user's Umzug instance. `create` builds it for a target: give it the target's
 * session as context (`context: target.session`) so the steps run as the migrating role on every
 * backend, PGlite included. `create` is called once per session and the instance reused, so a
 * storage kept in memory stays consistent across calls; a storage in the database works too.
 * A migration without a down is irreversible when the instance exposes `migrations()` (umzug 3
 * does); otherwise every migration is taken as reversible.
 */
export function umzugMigrator(create: (target: MigrationTarget) => UmzugLike, options: UmzugMigratorOptions = {}): Migrator {
  const source = options.source ?? 'umzug';
  const instances = new WeakMap<Session, UmzugLike>();
  const instance = (target: MigrationTarget): UmzugLike => {
    let umzug = instances.get(target.session);
    if (!umzug) {
      umzug = create(target);
      instances.set(target.session, umzug);
    }
    return umzug;
  };

  const resolve = async (umzug: UmzugLike): Promise<{ info: MigrationInfo[]; runnable: readonly UmzugRunnableMigration[] | null }> => {
    if (typeof umzug.migrations === 'function') {
      const context = umzug.options?.context;
      const runnable = await umzug.migrations((typeof context === 'function' ? await (context as () => unknown)() : context) as never);
      const info = runnable.map((migration) => ({
        version: migration.name,
        name: migration.name,
        reversible: typeof migration.down === 'function',
        ...(migration.path ? { upFile: migration.path } : {}),
        ...(migration.path && typeof migration.down === 'function' ? { downFile: migration.path } : {}),
      }));
      return { info, runnable };
    }
    const [executed, pending] = await Promise.all([umzug.executed(), umzug.pending()]);
    const info = [...executed, ...pending].map((migration) => ({
      version: migration.name,
      name: migration.name,
      reversible: true,
      ...(migration.path ? { upFile: migration.path } : {}),
    }));
    return { info, runnable: null };
  };

  let listed: Promise<{ info: MigrationInfo[]; runnable: readonly UmzugRunnableMigration[] | null }> | undefined;
  const list = () => (listed ??= resolve(create(LISTING_TARGET)).catch((error: unknown) => {
    listed = undefined;
    throw error;
  }));

  const run = async (target: MigrationTarget, migration: MigrationInfo, direction: 'up' | 'down', step: () => Promise<unknown>): Promise<AppliedStep> => {
    // umzug wraps the migration's own error; report that one.
    const unwrapped = () =>
      step().catch((caught: unknown) => {
        throw caught instanceof Error && caught.cause !== undefined ? caught.cause : caught;
      });
    return toolStep(target, migration, direction, migration.name, unwrapped);
  };

  return {
    kind: 'umzug',
    source,
    stateTables: options.stateTables ?? [],
    async hash() {
      const { info, runnable } = await list();
      const hash = migrationHash('umzug').field(source);
      for (const [index, migration] of info.entries()) {
        hash.field(migration.name);
        const steps = runnable?.[index];
        if (steps) hash.field(String(steps.up)).field(String(steps.down ?? ''));
        if (migration.upFile) await hash.file(migration.upFile);
      }
      return hash.digest();
    },
    async list() {
      return (await list()).info;
    },
    /** What the instance's storage records: the target database when the storage lives there. */
    async current(target) {
      const executed = await instance(target).executed();
      return executed.at(-1)?.name ?? null;
    },
    async up(target, to) {
      const { info } = await list();
      const last = to === undefined ? info.length - 1 : indexOfVersion(info, to, { source, direction: 'up' });
      const umzug = instance(target);
      const done = new Set((await umzug.executed()).map((migration) => migration.name));
      const steps: AppliedStep[] = [];
      for (const migration of info.slice(0, last + 1)) {
        if (done.has(migration.name)) continue;
        steps.push(await run(target, migration, 'up', () => umzug.up({ to: migration.name })));
      }
      return steps;
    },
    async down(target, to) {
      const { info } = await list();
      const keep = to === undefined ? -1 : indexOfVersion(info, to, { source, direction: 'down' });
      const umzug = instance(target);
      const done = new Set((await umzug.executed()).map((migration) => migration.name));
      const toRevert = info.slice(keep + 1).filter((migration) => done.has(migration.name)).reverse();
      const first = toRevert.find((migration) => !migration.reversible);
      if (first) {
        throw new MigrationsInvalidError(first.upFile ?? first.name, `${source}: migration ${first.name} has no down and is irreversible, so nothing was reverted. Give it a down, or revert no further than ${first.name}.`);
      }
      const steps: AppliedStep[] = [];
      for (const migration of toRevert) steps.push(await run(target, migration, 'down', () => umzug.down({ to: migration.name })));
      return steps;
    },
  };
}
