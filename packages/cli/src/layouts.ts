import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { type UpOnlyStep } from '@tenantkit/testkit';
import { detectMigrationsFormat } from '@tenantkit/testkit/internal';
import { UsageError } from './errors.js';

/**
 * The migration folder layouts the CLI reads. golang-migrate and dbmate have downs; the others are
 * up only, applied in the order their tool applies them:
 * - prisma: prisma/migrations/<timestamp>_<name>/migration.sql, in folder-name order;
 * - drizzle: drizzle-kit's <n>_<name>.sql files, in the order of meta/_journal.json;
 * - supabase: supabase/migrations/<timestamp>_<name>.sql, in file-name order.
 */
export const LAYOUTS = ['golang-migrate', 'dbmate', 'prisma', 'drizzle', 'supabase'] as const;
export type Layout = (typeof LAYOUTS)[number];
export type UpOnlyLayout = Exclude<Layout, 'golang-migrate' | 'dbmate'>;

export function isUpOnly(layout: Layout): layout is UpOnlyLayout {
  return layout === 'prisma' || layout === 'drizzle' || layout === 'supabase';
}

async function subfoldersWith(dir: string, file: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, file))).map((entry) => entry.name).sort();
}

/** The layout of a migrations folder, from what is in it (and, for Supabase, beside it). */
export async function detectLayout(dir: string): Promise<Layout> {
  if (existsSync(path.join(dir, 'migration_lock.toml')) || (await subfoldersWith(dir, 'migration.sql')).length > 0) return 'prisma';
  if (existsSync(path.join(dir, 'meta', '_journal.json'))) return 'drizzle';
  // supabase init makes supabase/config.toml beside supabase/migrations.
  const parent = path.dirname(path.resolve(dir));
  if (path.basename(dir) === 'migrations' && (existsSync(path.join(parent, 'config.toml')) || path.basename(parent) === 'supabase')) return 'supabase';
  return (await detectMigrationsFormat(dir)) === 'dbmate' ? 'dbmate' : 'golang-migrate';
}

interface JournalEntry {
  readonly idx: number;
  readonly tag: string;
}

/** "20240101000000_init" -> version 20240101000000, name init (no digits: the whole name twice). */
function stepOf(label: string, file: string): UpOnlyStep {
  const match = /^(\d+)[_-]?(.*)$/.exec(label);
  return match ? { version: match[1]!, name: match[2] || match[1]!, file } : { version: label, name: label, file };
}

/** An up-only folder's migrations, in the order its tool applies them. */
export async function upOnlySteps(dir: string, layout: UpOnlyLayout): Promise<UpOnlyStep[]> {
  let steps: UpOnlyStep[];
  if (layout === 'prisma') {
    steps = (await subfoldersWith(dir, 'migration.sql')).map((name) => stepOf(name, path.join(dir, name, 'migration.sql')));
  } else if (layout === 'drizzle') {
    const journal = path.join(dir, 'meta', '_journal.json');
    let entries: JournalEntry[];
    try {
      entries = (JSON.parse(await readFile(journal, 'utf8')) as { entries?: JournalEntry[] }).entries ?? [];
    } catch (error) {
      throw new UsageError(`--migrations ${dir}: ${journal} is not drizzle-kit's journal (${(error as Error).message}); regenerate it with drizzle-kit generate`);
    }
    steps = [...entries].sort((a, b) => a.idx - b.idx).map((entry) => stepOf(entry.tag, path.join(dir, `${entry.tag}.sql`)));
    const missing = steps.find((step) => !existsSync(step.file));
    if (missing) throw new UsageError(`--migrations ${dir}: the journal lists ${path.basename(missing.file, '.sql')}, but ${missing.file} does not exist; regenerate the folder with drizzle-kit generate`);
  } else {
    const entries = await readdir(dir, { withFileTypes: true });
    steps = entries.filter((entry) => entry.isFile() && entry.name.endsWith('.sql')).map((entry) => entry.name).sort().map((name) => stepOf(name.slice(0, -'.sql'.length), path.join(dir, name)));
  }
  if (steps.length === 0) throw new UsageError(`--migrations ${dir}: this ${layout} folder holds no migrations`);
  return steps;
}
