import { extensionBundle, extensionsCreatedByFiles, unavailableExtension } from '../../backends/pglite/pglite-extensions.js';
import type { KitOptions } from '../../config.js';
import type { TestDatabase } from '../../database.js';
import { RoleConflictError, messageOf } from '../../errors.js';
import { BACKENDS } from '../../backends/registry.js';
import { presetMigrator, resolveBackendKind, startKit } from '../../kit.js';
import { progress } from '../../progress.js';
import type { MigrationTarget, Migrator } from '../migrator.js';
import type { MigrationInfo } from '../migrator.js';
import { CHAIN_DATA_STEP, type SeedStep, checkChainData } from './chain-data.js';
import { type MigrationCheckReport, type MigrationStepReport, type StairwayOptions, checkMigration, runFullCycle } from './stairway.js';

/** Where the check runs and as whom: the kit's own options, less what it decides itself. */
export type CheckEveryMigrationOptions = Omit<KitOptions, 'migrations' | 'schema' | 'isolation' | 'poolSize'> & {
  /** Tables left out of the comparison besides the migrator's own state table. */
  readonly ignoreTables?: readonly string[];
  /**
   * Seeds the database after each migration on one more fresh database, whose rows every later up
   * must keep, with the NULL gate at the head (see checkChainData). Without it the chain's data is
   * reported as not checked.
   */
  readonly seed?: SeedStep;
  /** The NULL gate's tenant columns (default tenant_id; empty: no gate). */
  readonly tenantColumns?: readonly string[];
  /** Told after each migration's step (done of total); the cycle and the data check come after the last. */
  readonly onProgress?: (progress: { readonly done: number; readonly total: number; readonly version: string }) => void;
};

const EMPTY_DATABASE = '-- an empty database: the migrations under check build everything\n';

function targetOf(db: TestDatabase, as: 'owner' | 'admin'): MigrationTarget {
  const identity = as === 'admin' ? db.admin : db.owner;
  return { session: identity, role: identity.role, ...(identity.url ? { url: identity.url } : {}) };
}

function notChecked(migration: MigrationInfo, why: string): MigrationStepReport {
  return { version: migration.version, name: migration.name, status: 'skip', problems: [`not checked: ${why}`] };
}

/**
 * Every migration checked on its own: migration N gets a fresh database brought to version N-1,
 * then up, down (back to the same schema and roles), up again. A broken migration does not hide the
 * next one; a migration whose predecessors cannot be applied is reported as not checked, with why.
 * On servers, roles a step's migrations created are dropped with its database, so the next step's
 * CREATE ROLE meets the server as the migrations expect. When every step passes: base -> head ->
 * base -> head on one more fresh database; with a seed, the chain's data (checkChainData) on another.
 */
export async function checkEveryMigration(given: Migrator, options: CheckEveryMigrationOptions = {}): Promise<MigrationCheckReport> {
  const migrator = presetMigrator(given, options.preset);
  const migrations = await migrator.list();
  const as = options.roles?.migrateAs ?? 'owner';
  // In an embedded database, the extensions a migration creates must be loaded when each instance starts.
  const embedded = BACKENDS[resolveBackendKind(options)].embedded;
  const extensions = embedded ? await shippedExtensions(migrations.flatMap((migration) => (migration.upFile ? [migration.upFile] : []))) : [];
  const pglite = { extensions: [...new Set([...(options.pglite?.extensions ?? []), ...extensions])] };
  const kit = await startKit({ ...options, pglite, schema: EMPTY_DATABASE, mutant: false, isolation: 'database', poolSize: 0 });
  const backend = kit.backend;
  const baseline = await backend.roleNames?.();
  const stepOptions = (db: TestDatabase): StairwayOptions => ({ inspect: db.admin, target: targetOf(db, as), ...(options.ignoreTables ? { ignoreTables: options.ignoreTables } : {}) });
  let error: MigrationCheckReport['error'] = null;
  const steps: MigrationStepReport[] = [];
  /**
   * Runs fn on a fresh database, then lets go of it and of the roles made in it. With fn's value
   * comes why the database could not be released (a release check failed), if it could not.
   */
  const onFreshDatabase = async <T>(fn: (db: TestDatabase) => Promise<T>): Promise<{ value: T; releaseFailure: string | undefined }> => {
    const db = await kit.acquire();
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await fn(db) };
    } catch (error) {
      outcome = { error };
    }
    const releaseFailure = await db.release().then(
      () => undefined,
      (caught: unknown) => `releasing its database failed: ${messageOf(caught)}`,
    );
    if (baseline && backend.dropRolesSince) {
      const stuck = await backend.dropRolesSince(baseline, 'role created by a migration under check');
      if (stuck.length > 0) throw new RoleConflictError(stuck.join(', '), `Roles created by the migrations under check could not be dropped after their step (${stuck.join('; ')}), so the next step would meet them already there. Have each migration's down drop the roles its up creates, or drop what they own first (DROP OWNED BY ...).`);
    }
    if ('error' in outcome) {
      // fn's own failure is what propagates; the release failure is still told.
      if (releaseFailure !== undefined) progress(`migration check: ${releaseFailure}`);
      throw outcome.error;
    }
    return { value: outcome.value, releaseFailure };
  };
  const gaps = versionGaps(migrations);
  try {
    let unreachable: string | undefined;
    for (const [index, migration] of migrations.entries()) {
      const previous = index === 0 ? undefined : migrations[index - 1]!.version;
      if (unreachable) {
        steps.push(notChecked(migration, unreachable));
        continue;
      }
      const { value: step, releaseFailure } = await onFreshDatabase(async (db) => {
        const at = stepOptions(db);
        if (previous !== undefined) {
          try {
            await migrator.up(at.target, previous);
          } catch (caught) {
            return { reached: caught };
          }
        }
        return { checked: await checkMigration(migrator, migration, previous, at) };
      });
      if ('reached' in step) {
        // Already reported as its own step's failure; later migrations cannot be reached either.
        unreachable = `version ${previous} cannot be reached: ${step.reached instanceof Error ? step.reached.message.split('\n')[0] : String(step.reached)}`;
        steps.push(withReleaseFailure(notChecked(migration, unreachable), releaseFailure));
        continue;
      }
      error ??= step.checked.error;
      const report = embedded ? withExtensionHint(step.checked.report) : step.checked.report;
      const gap = gaps.get(migration.version);
      steps.push(withReleaseFailure(gap ? { ...report, problems: [gap, ...report.problems] } : report, releaseFailure));
      options.onProgress?.({ done: index + 1, total: migrations.length, version: migration.version });
    }
    let ok = steps.every((entry) => entry.status !== 'fail') && !unreachable;
    if (ok && migrations.every((migration) => migration.reversible)) {
      const { value: cycle, releaseFailure } = await onFreshDatabase((db) => runFullCycle(migrator, stepOptions(db)));
      const problems = releaseFailure === undefined ? cycle : [...cycle, releaseFailure];
      if (problems.length > 0) {
        ok = false;
        steps.push({ version: 'cycle', name: 'base -> head -> base -> head', status: 'fail', problems });
      }
    }
    if (!options.seed) {
      steps.push({ ...CHAIN_DATA_STEP, status: 'skip', problems: ['not checked: no seed given (API: pass seed, e.g. seedTenants from @tenantkit/fixtures; CLI: leave out --no-data-check)'] });
    } else if (!ok) {
      steps.push({ ...CHAIN_DATA_STEP, status: 'skip', problems: ['not checked: a migration above fails'] });
    } else {
      const seed = options.seed;
      const { value: data, releaseFailure } = await onFreshDatabase((db) => checkChainData(migrator, { ...stepOptions(db), seed, ...(options.tenantColumns ? { tenantColumns: options.tenantColumns } : {}) }));
      const report = withReleaseFailure(data, releaseFailure);
      steps.push(report);
      if (report.status === 'fail') ok = false;
    }
    return { ok, migrations: steps, error };
  } finally {
    await kit.stop();
  }
}

/**
 * A step whose database failed its release check (the migrations left a session setting or a role
 * behind that the kit refuses) fails with that reason: nothing of the kind is dropped silently.
 */
function withReleaseFailure(report: MigrationStepReport, failure: string | undefined): MigrationStepReport {
  return failure === undefined ? report : { ...report, status: 'fail', problems: [...report.problems, failure] };
}

/** The extensions these files create that PGlite ships (the others fail where they are created). */
async function shippedExtensions(files: readonly string[]): Promise<string[]> {
  const shipped: string[] = [];
  for (const name of await extensionsCreatedByFiles(files)) if ((await extensionBundle(name)) !== undefined) shipped.push(name);
  return shipped;
}

/** On PGlite, a missing extension is the backend's limit, not the migration's defect: say so. */
function withExtensionHint(report: MigrationStepReport): MigrationStepReport {
  const missing = report.problems.map(unavailableExtension).find(Boolean);
  if (!missing) return report;
  return { ...report, problems: [...report.problems, `PGlite does not ship the extension "${missing}": check these migrations on a real server (--backend native, backend: 'native') with the extension installed.`] };
}

/**
 * Numbered versions (0001, 0002, ...; not timestamps) that skip a number: a warning on the migration
 * after the gap, since a file deleted or not yet merged changes what the chain builds.
 */
export function versionGaps(migrations: readonly MigrationInfo[]): Map<string, string> {
  const gaps = new Map<string, string>();
  const numbers = migrations.map((migration) => (/^\d{1,6}$/.test(migration.version) ? Number(migration.version) : Number.NaN));
  if (migrations.length < 2 || numbers.some((n) => Number.isNaN(n))) return gaps;
  // Numbered in steps of 10 (or any spacing with no consecutive pair) is a convention, not a gap.
  if (!numbers.some((n, index) => index > 0 && n - numbers[index - 1]! === 1)) return gaps;
  for (let index = 1; index < numbers.length; index++) {
    const [before, after] = [numbers[index - 1]!, numbers[index]!];
    if (after - before <= 1) continue;
    const width = migrations[index]!.version.length;
    const missing = after - before === 2 ? `version ${String(before + 1).padStart(width, '0')} is` : `versions ${String(before + 1).padStart(width, '0')} to ${String(after - 1).padStart(width, '0')} are`;
    gaps.set(migrations[index]!.version, `warning: ${missing} missing between ${migrations[index - 1]!.version} and ${migrations[index]!.version}: a migration deleted, renamed or not yet merged? Numbered migrations are applied in order, so a missing one changes what the chain builds.`);
  }
  return gaps;
}
