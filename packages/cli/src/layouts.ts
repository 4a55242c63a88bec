import { UP_ONLY_LAYOUTS, type UpOnlyLayout, detectUpOnlyLayout } from '@tenantkit/testkit';
import { detectMigrationsFormat } from '@tenantkit/testkit/internal';

/**
 * The migration folder layouts the CLI reads: golang-migrate and dbmate, which have downs, and the
 * up-only folders of Prisma Migrate, drizzle-kit and Supabase (read by testkit's upOnlyFolder, in
 * the order each tool applies them).
 */
export const LAYOUTS = ['golang-migrate', 'dbmate', ...UP_ONLY_LAYOUTS] as const;
export type Layout = (typeof LAYOUTS)[number];

export function isUpOnly(layout: Layout): layout is UpOnlyLayout {
  return (UP_ONLY_LAYOUTS as readonly string[]).includes(layout);
}

/** The layout of a migrations folder, from what is in it (and, for Supabase, beside it). */
export async function detectLayout(dir: string): Promise<Layout> {
  return (await detectUpOnlyLayout(dir)) ?? (detectMigrationsFormat(dir));
}
