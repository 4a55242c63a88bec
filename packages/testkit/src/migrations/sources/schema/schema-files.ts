import { MigrationsInvalidError } from '../../../errors.js';
import type { AppliedStep, MigrationInfo, Migrator } from '../../migrator.js';
import { indexOfVersion, migrationHash } from '../../source-helpers.js';
import { SCHEMA_STATE_TABLES, schemaFile } from './schema.js';

/**
 * Several schema files applied in the order given, each as one irreversible step (versions 1, 2,
 * ...): the shape of `psql -f a.sql -f b.sql`, but stopping at the first error with its file:line.
 */
export function schemaFiles(paths: readonly (string | URL)[]): Migrator {
  if (paths.length === 0) throw new MigrationsInvalidError('(no files)', 'No schema files were given. Pass at least one .sql file.');
  if (paths.length === 1) return schemaFile(paths[0]!);
  return schemaChain(paths.map((path) => schemaFile(path)));
}

/** Schema sources (files, SQL text, a preset) applied in order, each an irreversible step. */
export function schemaChain(files: readonly Migrator[]): Migrator {
  if (files.length === 1) return files[0]!;
  const source = files.map((file) => file.source).join(', ');
  const versions = files.map((_, index) => ({ version: String(index + 1) }));
  const step = (index: number, applied: readonly AppliedStep[]): AppliedStep[] => applied.map((entry) => ({ ...entry, version: String(index + 1) }));
  return {
    kind: 'schema',
    source,
    stateTables: SCHEMA_STATE_TABLES,
    async hash() {
      const hash = migrationHash('schema-files');
      for (const file of files) hash.field(await file.hash());
      return hash.digest();
    },
    async list() {
      const lists = await Promise.all(files.map((file) => file.list()));
      return lists.flatMap((list, index): MigrationInfo[] => list.map((info) => ({ ...info, version: String(index + 1) })));
    },
    /** Always null: schema files record nothing in the database (see schemaFile). */
    async current() {
      return null;
    },
    async up(target, to) {
      const last = to === undefined ? files.length - 1 : indexOfVersion(versions, to, { source: `the schema files ${source}`, direction: 'up' });
      const applied: AppliedStep[] = [];
      for (let index = 0; index <= last; index++) applied.push(...step(index, await files[index]!.up(target)));
      return applied;
    },
    async down() {
      throw new MigrationsInvalidError(source, `Schema files cannot be reverted: they have no down steps. Use a migrations directory for up/down cycles.`);
    },
  };
}
