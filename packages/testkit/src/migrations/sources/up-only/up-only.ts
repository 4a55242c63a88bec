import { MigrationsInvalidError } from '../../../errors.js';
import type { Session } from '../../../queryable.js';
import { readMigrationFile } from '../../migration-files.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from '../../migrator.js';
import { decodeSqlFile, runScript } from '../../run-script.js';
import { indexOfVersion, migrationHash } from '../../source-helpers.js';
import { versionStateTable } from '../../state-table.js';

/** One migration of a tool that has no down steps (Prisma Migrate, drizzle-kit, Supabase). */
export interface UpOnlyStep {
  readonly version: string;
  readonly name: string;
  /** The SQL file the tool applies for it. */
  readonly file: string;
}

export interface UpOnlyOptions {
  /** Short name of the layout, e.g. "prisma". */
  readonly kind: string;
  /** Where the migrations come from, for messages. */
  readonly source: string;
}

/**
 * Migrations that only go up, applied in the order given, one step at a time: each step is
 * irreversible, so a check applies it on the state before it and reports that it has no down to
 * check (never a made-up down).
 *
 * The kit records how far it applied them in golang-migrate's table shape (left out of schema
 * snapshots and seeding like golang-migrate's own): the position (1, 2, ...) of the last applied
 * step, marked dirty while it runs.
 */
export function upOnlyMigrations(steps: readonly UpOnlyStep[], options: UpOnlyOptions): Migrator {
  if (steps.length === 0) throw new MigrationsInvalidError(options.source, `${options.source} holds no migrations.`);
  const seen = new Set<string>();
  for (const step of steps) {
    if (seen.has(step.version)) throw new MigrationsInvalidError(step.file, `${options.source}: two migrations have version ${step.version}; each needs its own.`);
    seen.add(step.version);
  }
  const record = versionStateTable('public', 'schema_migrations', `It is the state table the kit keeps for ${options.source}, and the migrations made a table of that name: rename theirs.`);
  /** How many steps the database has applied. */
  const position = async (session: Session): Promise<number> => {
    const state = await record.read(session);
    if (state?.dirty) throw new MigrationsInvalidError(record.qualified, `${options.source}: step ${state.version} failed half-way in this database; start from a fresh database.`);
    return Number(state?.version ?? 0n);
  };
  const read = async (file: string): Promise<string> => decodeSqlFile(await readMigrationFile(file), file);
  /** The number of steps applied once the database is at `to`. */
  const countTo = (to: string | undefined, direction: 'up' | 'down'): number =>
    to === undefined ? (direction === 'up' ? steps.length : 0) : indexOfVersion(steps, to, { source: options.source, direction }) + 1;
  return {
    kind: options.kind,
    source: options.source,
    stateTables: ['public.schema_migrations'],
    async hash() {
      const hash = migrationHash('up-only').field(options.kind);
      for (const step of steps) hash.field(step.version).field(step.name).field(await read(step.file));
      return hash.digest();
    },
    async list(): Promise<MigrationInfo[]> {
      return steps.map((step) => ({ version: step.version, name: step.name, reversible: false, upFile: step.file }));
    },
    async current(target: MigrationTarget) {
      const at = await position(target.session);
      return at === 0 ? null : (steps[at - 1]?.version ?? null);
    },
    async up(target: MigrationTarget, to?: string) {
      const last = countTo(to, 'up');
      await record.ensure(target.session);
      const applied: AppliedStep[] = [];
      for (let index = await position(target.session); index < last; index++) {
        const step = steps[index]!;
        const started = performance.now();
        await record.write(target.session, BigInt(index + 1), true);
        await runScript(target.session, { file: step.file, sql: await read(step.file) }, { migration: `${step.version}_${step.name}`, direction: 'up', role: target.role, transaction: 'auto' });
        await record.write(target.session, BigInt(index + 1), false);
        applied.push({ version: step.version, name: step.name, direction: 'up', ms: performance.now() - started });
      }
      return applied;
    },
    async down(target: MigrationTarget, to?: string) {
      if ((await position(target.session)) <= countTo(to, 'down')) return [];
      throw new MigrationsInvalidError(options.source, `${options.source} has no down migrations (${options.kind} migrations only go up): nothing was reverted. Recreate the database instead.`);
    },
  };
}
