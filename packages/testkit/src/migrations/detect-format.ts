import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MigrationsInvalidError, MigrationsUnreadableError, messageOf } from '../errors.js';
import { errnoOf, readMigrationsDirectory, refuseSubChains, sqlFileNames, toFsPath } from './migration-files.js';
import { decodeSqlFile } from './run-script.js';
import { hasDbmateUpMarker } from './sources/dbmate/dbmate-file.js';
import { GOLANG_MIGRATE_FILE } from './sources/golang-migrate/golang-migrate.js';

/**
 * Tells which migration layout a directory uses: golang-migrate's `.up.sql`/`.down.sql` pairs
 * ('golang-migrate', for sqlDirectory()) or dbmate's single `.sql` files with a `-- migrate:up` line
 * ('dbmate', for dbmateDirectory()). A directory mixing the two, or holding neither, is refused.
 */
export async function detectMigrationsFormat(dir: string | URL): Promise<'golang-migrate' | 'dbmate'> {
  const directory = toFsPath(dir);
  const entries = await readMigrationsDirectory(directory, 'detectMigrationsFormat', '.sql migration');
  await refuseSubChains(directory, entries);
  const names = sqlFileNames(entries);
  const pairs = names.filter((n) => GOLANG_MIGRATE_FILE.test(n));
  const singles = names.filter((n) => !GOLANG_MIGRATE_FILE.test(n));
  if (pairs.length > 0 && singles.length > 0) {
    throw new MigrationsInvalidError(
      join(directory, singles[0] ?? ''),
      `Migrations directory ${directory} mixes golang-migrate files (${pairs.slice(0, 3).join(', ')}) with other .sql files (${singles.slice(0, 3).join(', ')}), so its format is ambiguous. Keep one layout: {version}_{title}.up.sql/.down.sql pairs, or dbmate files {version}_{name}.sql with "-- migrate:up" and "-- migrate:down" sections.`,
    );
  }
  if (pairs.length > 0) return 'golang-migrate';
  if (singles.length === 0) {
    throw new MigrationsInvalidError(
      directory,
      `Migrations directory ${directory} contains no .sql migration files, so its format cannot be told. Add golang-migrate pairs ({version}_{title}.up.sql and .down.sql) or dbmate files ({version}_{name}.sql with a "-- migrate:up" line).`,
    );
  }
  const unmarked: string[] = [];
  for (const name of singles) {
    const path = join(directory, name);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      if (errnoOf(error) === 'EISDIR') continue;
      throw new MigrationsUnreadableError(path, `Migration file ${path} could not be read: ${messageOf(error)}. Check its permissions.`, error);
    }
    if (!hasDbmateUpMarker(decodeSqlFile(bytes, path))) unmarked.push(path);
  }
  if (unmarked.length > 0) {
    throw new MigrationsInvalidError(
      unmarked[0] ?? directory,
      `Migrations directory ${directory} holds .sql files that are neither golang-migrate pairs ({version}_{title}.up.sql/.down.sql) nor dbmate migrations: ${unmarked.slice(0, 5).join(', ')} ${unmarked.length === 1 ? 'has' : 'have'} no "-- migrate:up" line. Add "-- migrate:up" (and "-- migrate:down") sections to make them dbmate migrations, or rename them to the golang-migrate pattern.`,
    );
  }
  return 'dbmate';
}
