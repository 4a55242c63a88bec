/**
 * A mutant: SQL applied on top of the migrations when the template is built (KitOptions.mutant, or
 * the file TENANTKIT_MUTANT names), so a test suite runs unchanged against a weakened RLS set-up.
 * Its content is part of the template key: templates of different mutants never mix.
 */
import { appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { MutantFailedError, MutantUnreadableError, type TenantkitError } from '../errors.js';
import type { Migrator } from '../migrations/migrator.js';
import { runScript } from '../migrations/run-script.js';
import { migrationHash } from '../migrations/source-helpers.js';

/** The SQL file of the mutant to apply, when KitOptions.mutant is not given. */
export const MUTANT_ENV = 'TENANTKIT_MUTANT';

/**
 * A file the kit appends one JSON line to each time a kit starts with the mutant in its template
 * (`applied`), or fails to apply it (`failed`): how a mutation runner tells a suite that ran against
 * the mutant from one that crashed before, or never used the kit.
 */
export const MUTANT_LOG_ENV = 'TENANTKIT_MUTANT_LOG';

export interface LoadedMutant {
  /** Absolute path of the SQL file. */
  readonly file: string;
  readonly sql: string;
}

/** The mutant to apply: the option when given (false: none), else TENANTKIT_MUTANT, else none. */
export async function loadMutant(option: string | false | undefined): Promise<LoadedMutant | undefined> {
  if (option === false) return undefined;
  const [given, source] = option !== undefined ? [option, 'the mutant option'] : [process.env[MUTANT_ENV], MUTANT_ENV];
  if (given === undefined || given === '') return undefined;
  const file = resolve(given);
  try {
    return { file, sql: await readFile(file, 'utf8') };
  } catch (error) {
    throw new MutantUnreadableError(file, source, error);
  }
}

/**
 * The migrator with the mutant run after its last step, as the identity that ran the migrations
 * (the schema's owner, or the admin with migrateAs 'admin'), so ALTER and DROP POLICY work. A
 * partial migration (up to a version) leaves the mutant out.
 */
export function withMutant(migrator: Migrator, mutant: LoadedMutant): Migrator {
  return {
    kind: migrator.kind,
    source: `${migrator.source} + mutant ${mutant.file}`,
    stateTables: migrator.stateTables,
    ...(migrator.connectsByUrl ? { connectsByUrl: migrator.connectsByUrl } : {}),
    async hash() {
      return migrationHash('mutant').field(await migrator.hash()).field(mutant.sql).digest();
    },
    list: () => migrator.list(),
    current: (target) => migrator.current(target),
    down: (target, to) => migrator.down(target, to),
    async up(target, to) {
      const steps = await migrator.up(target, to);
      if (to !== undefined) return steps;
      try {
        await runScript(target.session, { file: mutant.file, sql: mutant.sql }, { migration: `mutant ${basename(mutant.file)}`, direction: 'up', role: target.role, transaction: 'auto' });
      } catch (error) {
        throw new MutantFailedError(mutant.file, target.role, error);
      }
      return steps;
    },
  };
}

/** Appends what happened to the mutant to TENANTKIT_MUTANT_LOG, when a runner asked for it. */
export function recordMutant(mutant: LoadedMutant, outcome: { readonly applied: string } | { readonly failed: TenantkitError }): void {
  const log = process.env[MUTANT_LOG_ENV];
  if (!log) return;
  const entry =
    'applied' in outcome
      ? { mutant: mutant.file, status: 'applied', template: outcome.applied, pid: process.pid }
      : { mutant: mutant.file, status: 'failed', code: outcome.failed.code, message: outcome.failed.message, pid: process.pid };
  appendFileSync(log, `${JSON.stringify(entry)}\n`);
}
