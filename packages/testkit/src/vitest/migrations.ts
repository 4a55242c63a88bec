import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { KitOptions } from '../config.js';
import type { TestDatabase } from '../database.js';
import { MigrationCheckFailedError, messageOf } from '../errors.js';
import { type Kit, startKit } from '../kit.js';
import { type StairwayOptions, createStairway } from '../migrations/check/stairway.js';
import type { Migrator } from '../migrations/migrator.js';
import { sqlDirectory } from '../migrations/sources/golang-migrate/golang-migrate.js';
import type { Queryable } from '../queryable.js';
import { type SchemaSnapshot, diffSnapshots, formatDiff, isEmpty, snapshotSchema } from '../snapshot/index.js';

export interface MigrationSuiteOptions extends Pick<StairwayOptions, 'afterUp' | 'verify' | 'ignoreTables'> {
  /** A Migrator or a directory of golang-migrate style files. */
  readonly migrations: Migrator | string | URL;
  /** Backend and roles of the empty database the stairway runs on. */
  readonly kit?: Omit<KitOptions, 'migrations' | 'schema' | 'isolation'>;
}

const EMPTY_DATABASE = '-- an empty database: the migrations under test build everything\n';

/**
 * The stairway as a suite: one test per migration, in order (up, down to exactly where it was, up
 * again). Call it with top-level await in a test file:
 *
 *   await describeMigrations('migrations', { migrations: new URL('../migrations', import.meta.url) })
 */
export async function describeMigrations(name: string, options: MigrationSuiteOptions): Promise<void> {
  const migrator = typeof options.migrations === 'string' || options.migrations instanceof URL ? sqlDirectory(options.migrations) : options.migrations;
  const migrations = await migrator.list();
  describe(name, () => {
    let kit: Kit | undefined;
    let db: TestDatabase | undefined;
    let stairway: ReturnType<typeof createStairway> | undefined;
    let failed: string | undefined;
    beforeAll(async () => {
      kit = await startKit({ ...options.kit, schema: EMPTY_DATABASE, mutant: false, isolation: 'database', poolSize: 0 });
      db = await kit.acquire();
      stairway = createStairway(migrator, {
        inspect: db,
        target: { session: db.owner, role: db.owner.role, ...(db.owner.url ? { url: db.owner.url } : {}) },
        ...(options.afterUp ? { afterUp: options.afterUp } : {}),
        ...(options.verify ? { verify: options.verify } : {}),
        ...(options.ignoreTables ? { ignoreTables: options.ignoreTables } : {}),
      });
    });
    afterAll(async () => {
      await db?.release();
      await kit?.stop();
    });
    for (const migration of migrations) {
      const title = migration.reversible
        ? `${migration.version} ${migration.name}: up, down to where it was, up again`
        : `${migration.version} ${migration.name}: up (irreversible: no down to check)`;
      test(title, async () => {
        const name = `${migration.version} ${migration.name}`;
        if (failed) {
          throw new MigrationCheckFailedError(name, `Migration ${name} was not checked: migration ${failed} failed first, so the database is not where this one expects it. Fix migration ${failed}; this one is checked once it passes.`);
        }
        const step = await stairway!.step(migration);
        if (step.status === 'fail') {
          failed = name;
          throw new MigrationCheckFailedError(name, step.problems.join('\n'));
        }
      });
    }
  });
}

function pathOf(file: string | URL): string {
  return file instanceof URL ? fileURLToPath(file) : file;
}

/** Every list a snapshot holds: the comparison reads each, so a file missing one cannot be compared. */
const SNAPSHOT_LISTS: Record<keyof SchemaSnapshot, true> = {
  schemas: true,
  tables: true,
  constraints: true,
  indexes: true,
  enums: true,
  domains: true,
  sequences: true,
  views: true,
  functions: true,
  triggers: true,
  policies: true,
  grants: true,
  extensions: true,
  roles: true,
};

/** The committed snapshot, or why it is not one the kit wrote (unreadable, not JSON, wrong shape). */
async function readCommittedSnapshot(path: string): Promise<SchemaSnapshot | string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    return error instanceof SyntaxError ? `it is not JSON (${error.message})` : `it cannot be read (${messageOf(error)})`;
  }
  const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  const missing = Object.keys(SNAPSHOT_LISTS).filter((key) => !Array.isArray(record?.[key]));
  return missing.length === 0 ? (parsed as SchemaSnapshot) : `it is not a schema snapshot (no ${missing.join(', ')} list)`;
}

/**
 * `await expect(db).toMatchSchemaSnapshot(file)`: the schema equals the committed snapshot file.
 * A missing file is written (outside CI); TENANTKIT_UPDATE_SNAPSHOTS=1 rewrites a differing one.
 */
export const schemaMatchers = {
  async toMatchSchemaSnapshot(received: Queryable, file: string | URL) {
    const path = pathOf(file);
    const current = await snapshotSchema(received);
    const write = async () => {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, `${JSON.stringify(current, null, 2)}\n`);
    };
    if (!existsSync(path)) {
      if (process.env.CI) {
        return { pass: false, message: () => `No schema snapshot at ${path}, and CI does not write one. Run the test locally and commit the file.` };
      }
      await write();
      return { pass: true, message: () => `wrote the schema snapshot ${path}` };
    }
    const committed = await readCommittedSnapshot(path);
    if (typeof committed === 'string') {
      if (process.env.TENANTKIT_UPDATE_SNAPSHOTS === '1') {
        await write();
        return { pass: true, message: () => `replaced the unreadable schema snapshot ${path}` };
      }
      return {
        pass: false,
        message: () =>
          `The schema snapshot ${path} cannot be compared: ${committed}. Delete it and run the test locally to write it again, or set TENANTKIT_UPDATE_SNAPSHOTS=1 to replace it.`,
      };
    }
    const diff = diffSnapshots(committed, current);
    if (!isEmpty(diff) && process.env.TENANTKIT_UPDATE_SNAPSHOTS === '1') {
      await write();
      return { pass: true, message: () => `updated the schema snapshot ${path}` };
    }
    return {
      pass: isEmpty(diff),
      message: () =>
        isEmpty(diff)
          ? `expected the schema to differ from ${path}`
          : `The schema differs from the snapshot ${path} (set TENANTKIT_UPDATE_SNAPSHOTS=1 to accept it):\n${formatDiff(diff)}`,
      actual: diff.changes.map((change) => `${change.kind} ${change.object}${change.detail ? `: ${change.detail}` : ''}`),
      expected: [],
    };
  },
};

expect.extend(schemaMatchers);

// vitest's Matchers and Assertion interfaces changed their type parameters between majors (3.2 and 4:
// <T>; 5: <R, T>), and an augmentation must repeat them exactly. Every version maps the members of
// Chai.Assertion onto its expect(), so the matchers are declared there, valid for each of them.
declare global {
  namespace Chai {
    interface Assertion {
      /** The database's schema equals the committed snapshot file (written when missing, outside CI). */
      toMatchSchemaSnapshot(file: string | URL): Promise<void>;
    }
  }
}
