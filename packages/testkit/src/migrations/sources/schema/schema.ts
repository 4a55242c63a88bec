import { stat } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { MigrationsInvalidError, MigrationsNotFoundError, MigrationsUnreadableError, messageOf } from '../../../errors.js';
import { cacheKeyOf, errnoOf, readMigrationFile, toFsPath } from '../../migration-files.js';
import type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from '../../migrator.js';
import { decodeSqlFile, runScript } from '../../run-script.js';
import { indexOfVersion, migrationHash } from '../../source-helpers.js';

/** The single version a schema migrator knows. */
const SCHEMA_VERSION = '1';

/**
 * A schema keeps no state of its own; one dumped from a golang-migrate or dbmate database carries
 * their table, which comparisons leave out.
 */
export const SCHEMA_STATE_TABLES: readonly string[] = ['public.schema_migrations'];

interface LoadedSchema {
  readonly bytes: Uint8Array;
  readonly text: string;
  readonly hash: string;
}

function hashSchema(bytes: Uint8Array): string {
  // Only the content shapes the database; the name is a label for messages.
  return migrationHash('schema').field(bytes).digest();
}

function schemaMigrator(name: string, source: string, file: string | undefined, load: () => Promise<LoadedSchema>): Migrator {
  const info: MigrationInfo = {
    version: SCHEMA_VERSION,
    name,
    reversible: false,
    ...(file === undefined ? {} : { upFile: file }),
  };

  const checkTarget = (to: string | undefined, direction: 'up' | 'down'): void => {
    if (to !== undefined) indexOfVersion([info], to, { source: `the schema ${source} (a single migration)`, direction });
  };

  return {
    kind: 'schema',
    source,
    stateTables: SCHEMA_STATE_TABLES,

    async hash() {
      return (await load()).hash;
    },

    async list() {
      await load();
      return [info];
    },

    /**
     * Always null: a schema records nothing in the database. It is meant to be applied once, to
     * an empty database (the template), so there is nothing to look up.
     */
    async current(_target: MigrationTarget) {
      return null;
    },

    async up(target: MigrationTarget, to?: string) {
      checkTarget(to, 'up');
      const { text } = await load();
      const started = performance.now();
      await runScript(
        target.session,
        { file: file ?? name, sql: text },
        { migration: name, direction: 'up', role: target.role, transaction: 'auto' },
      );
      const step: AppliedStep = { version: SCHEMA_VERSION, name, direction: 'up', ms: performance.now() - started };
      return [step];
    },

    async down(_target: MigrationTarget, to?: string) {
      checkTarget(to, 'down');
      // Reverting to version 1 keeps the schema: nothing to do.
      if (to === SCHEMA_VERSION) return [];
      throw new MigrationsInvalidError(
        source,
        `The schema ${source} cannot be reverted: a schema is a single irreversible step. Recreate the database instead of migrating it down, or use sqlDirectory() with .down.sql files.`,
      );
    },
  };
}

/**
 * A migrator that applies one SQL file, a complete schema, to an empty database in a single step
 * (version "1", irreversible). Nothing is recorded in the database, so current() is always null:
 * apply it once, to a fresh database. The file is re-read only when it changes on disk.
 */
export function schemaFile(pathOrUrl: string | URL): Migrator {
  const path = toFsPath(pathOrUrl);
  const name = basename(path, extname(path)) || basename(path);
  let cached: { key: string | null; loaded: LoadedSchema } | undefined;

  const load = async (): Promise<LoadedSchema> => {
    let info;
    try {
      info = await stat(path, { bigint: true });
    } catch (error) {
      if (errnoOf(error) === 'ENOENT' || errnoOf(error) === 'ENOTDIR') {
        throw new MigrationsNotFoundError(
          path,
          `Schema file ${path} does not exist. Create it, or pass the right path to schemaFile(): a relative path resolves against the current directory (${process.cwd()}); new URL('./schema.sql', import.meta.url) resolves against your module.`,
          error,
        );
      }
      throw new MigrationsUnreadableError(path, `Schema file ${path} could not be read: ${messageOf(error)}. Check its permissions.`, error);
    }
    if (!info.isFile()) {
      throw new MigrationsNotFoundError(
        path,
        `Schema file ${path} is not a file (it is a directory). Pass the path of the .sql file to schemaFile(), or use sqlDirectory() for a directory of migrations.`,
      );
    }
    const key = cacheKeyOf(info);
    if (key !== null && cached?.key === key) return cached.loaded;
    const bytes = await readMigrationFile(path, 'Schema file');
    const loaded: LoadedSchema = { bytes, text: decodeSqlFile(bytes, path), hash: hashSchema(bytes) };
    cached = { key, loaded };
    return loaded;
  };

  return schemaMigrator(name, path, path, load);
}

/**
 * Like schemaFile(), for SQL held in memory. `name` labels the schema in messages and error
 * locations (`name:line:column`).
 */
export function schemaSql(sql: string, name = 'schema'): Migrator {
  const bytes = new TextEncoder().encode(sql);
  const loaded: LoadedSchema = { bytes, text: sql, hash: hashSchema(bytes) };
  return schemaMigrator(name, name, undefined, async () => loaded);
}
