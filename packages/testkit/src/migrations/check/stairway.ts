import { MigrationFailedError } from '../../errors.js';
import { findBackfillTraps } from './backfill-trap.js';
import type { Session } from '../../queryable.js';
import { roleNames } from '../../roles.js';
import { type SchemaSnapshot, diffSnapshots, formatDiff, isEmpty, snapshotSchema } from '../../snapshot/index.js';
import { readMigrationFile } from '../migration-files.js';
import { type MigrationInfo, type MigrationTarget, type Migrator, stateTablesOf } from '../migrator.js';

export type StepStatus = 'pass' | 'fail' | 'skip';

export interface MigrationStepReport {
  readonly version: string;
  readonly name: string;
  readonly status: StepStatus;
  readonly problems: readonly string[];
}

export interface MigrationCheckReport {
  readonly ok: boolean;
  readonly migrations: readonly MigrationStepReport[];
  /** The first SQL error, with where it is. */
  readonly error: { readonly file: string; readonly line: number; readonly message: string } | null;
}

export interface StairwayOptions {
  /** Where snapshots are read (admin: sees every object). */
  readonly inspect: Session;
  /** Where migrations run, as the migrating role. */
  readonly target: MigrationTarget;
  /** Tables left out of the comparison besides the state tables the migrator declares. */
  readonly ignoreTables?: readonly string[];
  /** Called after each migration's first up: seed data that later steps must keep. */
  readonly afterUp?: (migration: MigrationInfo, session: Session) => Promise<void>;
  /** Called after the down and after the second up: check the data survived. */
  readonly verify?: (migration: MigrationInfo, phase: 'down' | 'up-again', session: Session) => Promise<void>;
}

/** What a stairway carries from one step to the next. */
export interface Stairway {
  /** Runs the next migration's up -> down -> up; steps must be taken in order. */
  step(migration: MigrationInfo): Promise<MigrationStepReport>;
  /** The first SQL error met so far, with where it is. */
  readonly error: MigrationCheckReport['error'];
}

/** A stairway taken one migration at a time (what the vitest helper turns into one test each). */
export function createStairway(migrator: Migrator, options: StairwayOptions): Stairway {
  let error: MigrationCheckReport['error'] = null;
  let previous: string | undefined;
  return {
    get error() {
      return error;
    },
    async step(migration) {
      const checked = await checkMigration(migrator, migration, previous, options);
      error ??= checked.error;
      if (checked.advanced) previous = migration.version;
      return checked.report;
    },
  };
}

/**
 * One migration checked where the database is at `previous` (undefined: base): up, down (back to
 * the same schema and roles), up again (the same schema). `advanced` says the database is left at
 * this migration's version.
 */
export async function checkMigration(
  migrator: Migrator,
  migration: MigrationInfo,
  previous: string | undefined,
  options: StairwayOptions,
): Promise<{ report: MigrationStepReport; error: MigrationCheckReport['error']; advanced: boolean }> {
  const snapshot = () => snapshotSchema(options.inspect, { ignoreTables: stateTablesOf(migrator, options.ignoreTables) });
  let error: MigrationCheckReport['error'] = null;
  const problems: string[] = [];
  const done = (status: StepStatus, advanced: boolean) => ({ report: { version: migration.version, name: migration.name, status, problems }, error, advanced });
  const attempt = async (what: string, run: () => Promise<unknown>): Promise<boolean> => {
    try {
      await run();
      return true;
    } catch (caught) {
      problems.push(`${what} failed: ${caught instanceof Error ? caught.message.split('\n')[0] : String(caught)}`);
      if (!error && caught instanceof MigrationFailedError && caught.location) {
        error = { file: caught.location.file, line: caught.location.line, message: caught.message.split('\n')[0]! };
      } else if (!error && caught instanceof Error) {
        error = { file: migration.upFile ?? migration.name, line: 0, message: caught.message.split('\n')[0]! };
      }
      return false;
    }
  };
  const before = await snapshot();
  const rolesBefore = await roleNames(options.inspect);
  const upSql = migration.upFile ? (await readMigrationFile(migration.upFile)).toString('utf8') : undefined;
  if (upSql !== undefined) problems.push(...(await findBackfillTraps(upSql, migration.upFile!, before, options.inspect, options.target.role)));
  const warnings = problems.length;
  if (!(await attempt('up', () => migrator.up(options.target, migration.version)))) return done('fail', false);
  if (options.afterUp && !(await attempt('seeding after up', () => options.afterUp!(migration, options.inspect)))) return done('fail', true);
  const after = await snapshot();
  const created = [...(await roleNames(options.inspect))].filter((role) => !rolesBefore.has(role));
  if (!migration.reversible && migration.missingDown) {
    problems.push(`${migration.missingDown}. Down would leave behind what the up created: ${leftBehind(diffSnapshots(before, after), created)}`);
    return done('fail', true);
  }
  if (!migration.reversible) {
    problems.push('irreversible: its up applies on the state before it; with no down step, up -> down -> up is not checked');
    return done('skip', true);
  }
  const down = () => (previous === undefined ? migrator.down(options.target) : migrator.down(options.target, previous));
  // A down that ran but left the schema elsewhere is still followed by the second up: both are reported.
  if (await attempt('down', down)) {
    const diff = diffSnapshots(before, await snapshot());
    if (!isEmpty(diff)) problems.push(`down does not return the schema to where it was:\n${formatDiff(diff)}`);
    const rolesAfterDown = await roleNames(options.inspect);
    const kept = created.filter((role) => rolesAfterDown.has(role));
    if (kept.length > 0) {
      problems.push(`down leaves behind the role${kept.length === 1 ? '' : 's'} the up created: ${kept.join(', ')} (roles belong to the whole server, so the next up fails on "already exists"). Drop ${kept.length === 1 ? 'it' : 'them'} in the down, or create ${kept.length === 1 ? 'it' : 'them'} outside the migrations (a setup script).`);
    }
    if (options.verify) await attempt('data check after down', () => options.verify!(migration, 'down', options.inspect));
    if (await attempt('up after down', () => migrator.up(options.target, migration.version))) {
      const again = diffSnapshots(after, await snapshot());
      if (!isEmpty(again)) problems.push(`up after down builds a different schema:\n${formatDiff(again)}`);
      if (options.verify) await attempt('data check after up again', () => options.verify!(migration, 'up-again', options.inspect));
    } else {
      return done('fail', false);
    }
  } else {
    return done('fail', false);
  }
  // Warnings about backfills are reported but do not fail the step.
  const failed = problems.length > warnings;
  return done(failed ? 'fail' : 'pass', true);
}

/**
 * The stairway: for every migration in order, snapshot, up, snapshot, down, compare with the first,
 * up again, compare with the second. The first migration that fails is reported with the diff;
 * later ones are not tried (the database is no longer where they expect it).
 */
export async function runStairway(migrator: Migrator, options: StairwayOptions): Promise<MigrationCheckReport> {
  const migrations = await migrator.list();
  const stairway = createStairway(migrator, options);
  const steps: MigrationStepReport[] = [];
  for (const migration of migrations) {
    const step = await stairway.step(migration);
    steps.push(step);
    if (step.status === 'fail') break;
  }
  for (const migration of migrations.slice(steps.length)) {
    steps.push({ version: migration.version, name: migration.name, status: 'skip', problems: ['not checked: an earlier migration failed'] });
  }
  return { ok: steps.every((entry) => entry.status !== 'fail'), migrations: steps, error: stairway.error };
}

/** base -> head -> base -> head, comparing the two heads and the base with the empty start. */
export async function runFullCycle(migrator: Migrator, options: StairwayOptions): Promise<string[]> {
  const snapshot = () => snapshotSchema(options.inspect, { ignoreTables: stateTablesOf(migrator, options.ignoreTables) });
  const migrations = await migrator.list();
  if (migrations.some((migration) => !migration.reversible)) return [];
  const problems: string[] = [];
  const base = await snapshot();
  await migrator.up(options.target);
  const head = await snapshot();
  await migrator.down(options.target);
  const again = diffSnapshots(base, await snapshot());
  if (!isEmpty(again)) problems.push(`head -> base does not return to the empty start:\n${formatDiff(again)}`);
  await migrator.up(options.target);
  const second = diffSnapshots(head, await snapshot());
  if (!isEmpty(second)) problems.push(`base -> head a second time builds a different schema:\n${formatDiff(second)}`);
  return problems;
}

export type { SchemaSnapshot };

/** "4 tables, 4 policies, 1 index": what an up created, counted by kind. */
function leftBehind(diff: ReturnType<typeof diffSnapshots>, roles: readonly string[] = []): string {
  const counts = new Map<string, number>();
  if (roles.length > 0) counts.set('role', roles.length);
  for (const change of diff.changes) {
    const kind = change.object.split(' ')[0] ?? 'object';
    const key = change.kind === '+' ? kind : `changed ${kind}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  if (counts.size === 0) return 'no schema change (data changes are not counted)';
  const plural = (word: string) => (word.endsWith('y') ? `${word.slice(0, -1)}ies` : word.endsWith('x') ? `${word}es` : `${word}s`);
  return [...counts].map(([kind, n]) => `${n} ${n === 1 ? kind : plural(kind)}`).join(', ');
}
