import { PgliteExtensionUnavailableError, messageOf } from '../../errors.js';
import { readMigrationFile } from '../../migrations/migration-files.js';

/**
 * Extensions on PGlite: each contrib module is a bundle the instance must be given when it starts,
 * so the kit learns which ones the migrations create and starts every instance of that template
 * with them.
 */

/** What PGlite takes in its `extensions` option. */
export type PgliteExtensions = Record<string, unknown>;

/** The extension a failed CREATE EXTENSION asked for, when PGlite said it is not available. */
export function unavailableExtension(error: unknown): string | undefined {
  for (let current = error; current; current = (current as { cause?: unknown }).cause) {
    const match = /extension "([^"]+)" is not available/.exec(messageOf(current));
    if (match) return match[1];
    if (typeof current !== 'object') break;
  }
  return undefined;
}

/** The bundle for an extension PGlite ships, or undefined when it ships none by that name. */
export async function extensionBundle(name: string): Promise<unknown> {
  const exported = name.replace(/-/g, '_');
  if (!/^[a-z0-9_]+$/.test(exported)) return undefined;
  for (const path of [`@electric-sql/pglite/contrib/${exported}`, `@electric-sql/pglite/${exported}`]) {
    try {
      const module = (await import(path)) as Record<string, unknown>;
      if (module[exported] !== undefined) return module[exported];
    } catch {
      // not shipped under this path
    }
  }
  return undefined;
}

/** The `extensions` option for a list of extension names; one PGlite does not ship is a named error. */
export async function extensionsOption(names: readonly string[]): Promise<PgliteExtensions> {
  const option: PgliteExtensions = {};
  for (const name of names) {
    const bundle = await extensionBundle(name);
    if (bundle === undefined) throw new PgliteExtensionUnavailableError(name, undefined);
    option[name.replace(/-/g, '_')] = bundle;
  }
  return option;
}

/** The extensions these files create, in order; a file that cannot be read is a named error. */
export async function extensionsCreatedByFiles(files: Iterable<string>): Promise<string[]> {
  const names = new Set<string>();
  for (const file of new Set(files)) for (const name of extensionsCreatedBy((await readMigrationFile(file)).toString('utf8'))) names.add(name);
  return [...names];
}

/** The extensions SQL text creates (CREATE EXTENSION [IF NOT EXISTS] name), lower-cased, in order. */
export function extensionsCreatedBy(sql: string): string[] {
  const names: string[] = [];
  const pattern = /\bcreate\s+extension\s+(?:if\s+not\s+exists\s+)?(?:"([^"]+)"|([A-Za-z_][A-Za-z0-9_]*))/gi;
  for (const match of sql.matchAll(pattern)) {
    const name = match[1] ?? match[2]!.toLowerCase();
    if (!names.includes(name)) names.push(name);
  }
  return names;
}
