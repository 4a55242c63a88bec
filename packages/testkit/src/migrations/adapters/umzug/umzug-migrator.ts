import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InvalidOptionError, MigrationFailedError } from '../../../errors.js';
import type { QueryResult, Session } from '../../../queryable.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from '../../migrator.js';
import { sqlStateOf } from '../../run-script.js';

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

  const position = (migrations: readonly MigrationInfo[], version: string): number => {
    const index = migrations.findIndex((migration) => migration.version === version);
    if (index < 0) throw new InvalidOptionError('to', `${source} has no migration "${version}"; known: ${migrations.map((m) => m.version).join(', ')}.`);
    return index;
  };

  const run = async (target: MigrationTarget, migration: MigrationInfo, direction: 'up' | 'down', step: () => Promise<unknown>): Promise<AppliedStep> => {
    const startedAt = performance.now();
    try {
      await step();
    } catch (caught) {
      // umzug wraps the migration's own error; report that one.
      const cause = caught instanceof Error && caught.cause !== undefined ? caught.cause : caught;
      throw new MigrationFailedError({
        migration: migration.name,
        direction,
        role: target.role,
        sqlState: sqlStateOf(cause),
        cause,
      });
    }
    return { version: migration.version, name: migration.name, direction, ms: performance.now() - startedAt };
  };

  return {
    kind: 'umzug',
    source,
    async hash() {
      const { info, runnable } = await list();
      const hash = createHash('sha256').update(`umzug\0${source}\0`);
      for (const [index, migration] of info.entries()) {
        hash.update(`${migration.name}\0`);
        const steps = runnable?.[index];
        if (steps) hash.update(`${String(steps.up)}\0${String(steps.down ?? '')}\0`);
        if (migration.upFile) hash.update(await readFile(migration.upFile).catch(() => Buffer.from('')));
      }
      return hash.digest('hex');
    },
    async list() {
      return (await list()).info;
    },
    async current(target) {
      const executed = await instance(target).executed();
      return executed.at(-1)?.name ?? null;
    },
    async up(target, to) {
      const { info } = await list();
      const last = to === undefined ? info.length - 1 : position(info, to);
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
      const keep = to === undefined ? -1 : position(info, to);
      const umzug = instance(target);
      const done = new Set((await umzug.executed()).map((migration) => migration.name));
      const steps: AppliedStep[] = [];
      for (let index = info.length - 1; index > keep; index--) {
        const migration = info[index]!;
        if (!done.has(migration.name)) continue;
        if (!migration.reversible) throw new InvalidOptionError('down', `${source}: migration ${migration.name} has no down and is irreversible.`);
        steps.push(await run(target, migration, 'down', () => umzug.down({ to: migration.name })));
      }
      return steps;
    },
  };
}
