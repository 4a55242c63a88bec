import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { MigrationsInvalidError, MigrationsNotFoundError } from '../../../errors.js';
import type { Migrator } from '../../migrator.js';
import { readDrizzleJournal } from '../drizzle/drizzle.js';
import { type UpOnlyStep, upOnlyMigrations } from './up-only.js';

/**
 * The folders of tools that write migrations with no down, read the way each tool applies them:
 * - prisma: prisma/migrations/<timestamp>_<name>/migration.sql, in folder-name order;
 * - drizzle: drizzle-kit's <n>_<name>.sql files, in the order of meta/_journal.json;
 * - supabase: supabase/migrations/<timestamp>_<name>.sql, in file-name order.
 */
export const UP_ONLY_LAYOUTS = ['prisma', 'drizzle', 'supabase'] as const;
export type UpOnlyLayout = (typeof UP_ONLY_LAYOUTS)[number];

async function subfoldersWith(dir: string, file: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, file))).map((entry) => entry.name).sort();
}

/** The up-only layout of a folder, from what is in it (and, for Supabase, beside it); undefined for none. */
export async function detectUpOnlyLayout(dir: string): Promise<UpOnlyLayout | undefined> {
  if (existsSync(path.join(dir, 'migration_lock.toml')) || (await subfoldersWith(dir, 'migration.sql')).length > 0) return 'prisma';
  if (existsSync(path.join(dir, 'meta', '_journal.json'))) return 'drizzle';
  // supabase init makes supabase/config.toml beside supabase/migrations.
  const parent = path.dirname(path.resolve(dir));
  if (path.basename(dir) === 'migrations' && (existsSync(path.join(parent, 'config.toml')) || path.basename(parent) === 'supabase')) return 'supabase';
  return undefined;
}

/** "20240101000000_init" -> version 20240101000000, name init (no leading digits: the whole label twice). */
function stepOf(label: string, file: string): UpOnlyStep {
  const match = /^(\d+)[_-]?(.*)$/.exec(label);
  return match ? { version: match[1]!, name: match[2] || match[1]!, file } : { version: label, name: label, file };
}

/** An up-only folder's migrations, in the order its tool applies them. */
export async function upOnlyFolderSteps(dir: string, layout: UpOnlyLayout): Promise<UpOnlyStep[]> {
  if (!existsSync(dir)) throw new MigrationsNotFoundError(dir, `Migrations folder ${dir} does not exist. Pass the folder your ${layout} migrations are in.`);
  if (layout === 'prisma') return (await subfoldersWith(dir, 'migration.sql')).map((name) => stepOf(name, path.join(dir, name, 'migration.sql')));
  if (layout === 'drizzle') {
    const steps = (await readDrizzleJournal(dir)).map((entry) => stepOf(entry.tag, path.join(dir, `${entry.tag}.sql`)));
    const missing = steps.find((step) => !existsSync(step.file));
    if (missing) throw new MigrationsInvalidError(missing.file, `drizzle journal in ${dir} lists ${path.basename(missing.file, '.sql')}, but ${missing.file} does not exist. Regenerate the folder with drizzle-kit generate.`);
    return steps;
  }
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.sql')).map((entry) => entry.name).sort().map((name) => stepOf(name.slice(0, -'.sql'.length), path.join(dir, name)));
}

/**
 * A Prisma Migrate, drizzle-kit or Supabase migrations folder as a migrator: each migration applied
 * as its tool applies it, with no down (see upOnlyMigrations). The layout is detected when not given.
 */
export async function upOnlyFolder(dir: string, layout?: UpOnlyLayout): Promise<Migrator> {
  const found = layout ?? (await detectUpOnlyLayout(dir));
  if (found === undefined) {
    throw new MigrationsInvalidError(dir, `${dir} is not a Prisma Migrate, drizzle-kit or Supabase migrations folder (no migration_lock.toml or */migration.sql, no meta/_journal.json, no supabase/config.toml beside it). Name the layout, or use sqlDirectory or dbmateDirectory for folders with downs.`);
  }
  return upOnlyMigrations(await upOnlyFolderSteps(dir, found), { kind: found, source: `${found} migrations in ${dir}` });
}
