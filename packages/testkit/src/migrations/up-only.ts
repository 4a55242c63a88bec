import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { MigrationsInvalidError, MigrationsUnreadableError, TenantkitError } from '../errors.js';
import type { Session } from '../queryable.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from './migrator.js';
import { decodeSqlFile, runScript } from './run-script.js';
import { readStateTable } from './state-table.js';

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
 * The kit's record of how far it applied them, in golang-migrate's shape (left out of schema
 * snapshots and seeding like golang-migrate's own): the position (1, 2, ...) of the last applied step.
 */
const STATE = 'public.schema_migrations';

async function ensureState(session: Session, source: string): Promise<void> {
  const shape = await readStateTable(session, 'public', 'schema_migrations');
  if (shape === undefined) {
    await session.exec('CREATE TABLE IF NOT EXISTS public.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)');
    return;
  }
  const typeOf = (name: string) => shape.columns.find((column) => column.name === name)?.type;
  if (typeOf('version') !== 'bigint' || typeOf('dirty') !== 'boolean') {
    throw new MigrationsInvalidError(STATE, `${STATE} exists but is not the state table the kit keeps for ${source} (version bigint, dirty boolean): the migrations made a table of that name. Rename theirs.`);
  }
}

async function position(session: Session, source: string): Promise<number> {
  if ((await readStateTable(session, 'public', 'schema_migrations')) === undefined) return 0;
  const { rows } = await session.query<{ version: string; dirty: boolean }>(`SELECT version::text AS version, dirty FROM ${STATE} LIMIT 1`);
  const row = rows[0];
  if (!row) return 0;
  if (row.dirty) throw new MigrationsInvalidError(STATE, `${source}: step ${row.version} failed half-way in this database; start from a fresh database.`);
  return Number(row.version);
}

async function record(session: Session, at: number, dirty: boolean): Promise<void> {
  await session.exec(`DELETE FROM ${STATE}`);
  await session.query(`INSERT INTO ${STATE} (version, dirty) VALUES ($1, $2)`, [at, dirty]);
}

/**
 * Migrations that only go up, applied in the order given, one step at a time: each step is
 * irreversible, so a check applies it on the state before it and reports that it has no down to
 * check (never a made-up down).
 */
export function upOnlyMigrations(steps: readonly UpOnlyStep[], options: UpOnlyOptions): Migrator {
  if (steps.length === 0) throw new MigrationsInvalidError(options.source, `${options.source} holds no migrations.`);
  const seen = new Set<string>();
  for (const step of steps) {
    if (seen.has(step.version)) throw new MigrationsInvalidError(step.file, `${options.source}: two migrations have version ${step.version}; each needs its own.`);
    seen.add(step.version);
  }
  const read = async (file: string): Promise<string> => {
    try {
      return decodeSqlFile(await readFile(file), file);
    } catch (error) {
      if (error instanceof TenantkitError) throw error;
      throw new MigrationsUnreadableError(file, `Migration file ${file} could not be read: ${(error as Error).message}. Check that it exists and that this user may read it.`, error);
    }
  };
  const indexOf = (to: string | undefined): number => {
    if (to === undefined) return steps.length;
    const index = steps.findIndex((step) => step.version === to);
    if (index < 0) throw new MigrationsInvalidError(options.source, `Version "${to}" is not a migration of ${options.source} (versions: ${steps.map((step) => step.version).join(', ')}).`);
    return index + 1;
  };
  return {
    kind: options.kind,
    source: options.source,
    async hash() {
      const hash = createHash('sha256').update(`up-only\0${options.kind}\0`);
      for (const step of steps) hash.update(`${step.version}\0${step.name}\0${await read(step.file)}\0`);
      return hash.digest('hex');
    },
    async list(): Promise<MigrationInfo[]> {
      return steps.map((step) => ({ version: step.version, name: step.name, reversible: false, upFile: step.file }));
    },
    async current(target: MigrationTarget) {
      const at = await position(target.session, options.source);
      return at === 0 ? null : (steps[at - 1]?.version ?? null);
    },
    async up(target: MigrationTarget, to?: string) {
      const last = indexOf(to);
      await ensureState(target.session, options.source);
      const from = await position(target.session, options.source);
      const applied: AppliedStep[] = [];
      for (let index = from; index < last; index++) {
        const step = steps[index]!;
        const started = performance.now();
        await record(target.session, index + 1, true);
        await runScript(target.session, { file: step.file, sql: await read(step.file) }, { migration: `${step.version}_${step.name}`, direction: 'up', role: target.role, transaction: 'auto' });
        await record(target.session, index + 1, false);
        applied.push({ version: step.version, name: step.name, direction: 'up', ms: performance.now() - started });
      }
      return applied;
    },
    async down(target: MigrationTarget, to?: string) {
      const at = await position(target.session, options.source);
      if (at <= (to === undefined ? 0 : indexOf(to))) return [];
      throw new MigrationsInvalidError(options.source, `${options.source} has no down migrations (${options.kind} migrations only go up): nothing was reverted. Recreate the database instead.`);
    },
  };
}
