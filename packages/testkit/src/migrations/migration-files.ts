import type { BigIntStats, Dirent } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MigrationsInvalidError, MigrationsNotFoundError, MigrationsUnreadableError, messageOf } from '../errors.js';
import { decodeSqlFile } from './run-script.js';

/** A migration file as read: its bytes, its text, and the key that says whether it changed since. */
export interface LoadedFile {
  readonly path: string;
  /** cacheKeyOf() at read time; null: re-read on next use. */
  readonly key: string | null;
  readonly bytes: Buffer;
  readonly text: string;
}

export function errnoOf(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** A migration file's bytes; one that cannot be read is TENANTKIT_MIGRATIONS_UNREADABLE, naming it. */
export async function readMigrationFile(path: string, what = 'Migration file'): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new MigrationsUnreadableError(path, `${what} ${path} could not be read: ${messageOf(error)}. Check that it exists and that this user may read it.`, error);
  }
}

/** Converts a `file:` URL (object or string) to a path; other strings resolve against the cwd. */
export function toFsPath(pathOrUrl: string | URL): string {
  if (pathOrUrl instanceof URL) return fileURLToPath(pathOrUrl);
  return resolve(pathOrUrl.startsWith('file:') ? fileURLToPath(pathOrUrl) : pathOrUrl);
}

/**
 * Lists a migrations directory. `caller` is the function the user called and `expected` the files
 * it wants, both for the messages.
 */
export async function readMigrationsDirectory(directory: string, caller: string, expected: string): Promise<Dirent[]> {
  try {
    return await readdir(directory, { withFileTypes: true });
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT') {
      throw new MigrationsNotFoundError(
        directory,
        `Migrations directory ${directory} does not exist. Create it, or pass the right path to ${caller}(): a relative path resolves against the current directory (${process.cwd()}); new URL('./migrations/', import.meta.url) resolves against your module.`,
        error,
      );
    }
    if (code === 'ENOTDIR') {
      throw new MigrationsNotFoundError(
        directory,
        `Migrations directory ${directory} is not a directory (it is a file). Pass the directory that holds the ${expected} files to ${caller}().`,
        error,
      );
    }
    throw new MigrationsUnreadableError(
      directory,
      `Migrations directory ${directory} could not be read: ${messageOf(error)}. Check that it exists and that this user may list it.`,
      error,
    );
  }
}

/** The names of the .sql files in a directory listing, sorted. */
export function sqlFileNames(entries: readonly Dirent[]): string[] {
  return entries
    .filter((e) => /\.sql$/i.test(e.name) && !e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** File systems record times at coarse granularity; a younger change may hide a later one. */
const SETTLE_NS = 2_000_000_000n;

/**
 * A key that changes whenever the file does, for caching its content, or null when the file
 * changed so recently that another write in the same timestamp tick would go unnoticed.
 */
export function cacheKeyOf(info: BigIntStats): string | null {
  const now = BigInt(Date.now()) * 1_000_000n;
  if (now - info.mtimeNs < SETTLE_NS || now - info.ctimeNs < SETTLE_NS) return null;
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

/**
 * Reads migration files, each again only when it changed: one loader per migrator, used by the
 * SQL-directory and dbmate formats alike. Returns null for a path that is not a regular file.
 */
export interface FileLoader {
  load(path: string): Promise<LoadedFile | null>;
  /** Forgets files no longer in the directory. */
  keepOnly(paths: readonly string[]): void;
}

export function fileLoader(): FileLoader {
  const cache = new Map<string, LoadedFile>();
  async function load(path: string): Promise<LoadedFile | null> {
    let info;
    try {
      info = await stat(path, { bigint: true });
    } catch (error) {
      const broken = errnoOf(error) === 'ENOENT';
      throw new MigrationsUnreadableError(
        path,
        broken
          ? `Migration file ${path} is a symbolic link to a file that does not exist. Fix or remove the link.`
          : `Migration file ${path} could not be read: ${messageOf(error)}. Check its permissions.`,
        error,
      );
    }
    if (!info.isFile()) return null;
    const key = cacheKeyOf(info);
    const cached = cache.get(path);
    if (cached && key !== null && cached.key === key) return cached;
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (error) {
      throw new MigrationsUnreadableError(path, `Migration file ${path} could not be read: ${messageOf(error)}. Check its permissions.`, error);
    }
    const loaded: LoadedFile = { path, key, bytes, text: decodeSqlFile(bytes, path) };
    cache.set(path, loaded);
    return loaded;
  }
  return {
    load,
    keepOnly(paths) {
      for (const path of cache.keys()) if (!paths.includes(path)) cache.delete(path);
    },
  };
}

/** The first line an up file starts with to declare its migration irreversible. */
export const IRREVERSIBLE_MARKER = '-- tenantkit: irreversible';

/**
 * Declared irreversible: the up file's first non-empty line is the marker, or the version is in
 * the caller's list (as written, or the same number).
 */
export function declaredIrreversible(upText: string, version: string, declared: readonly string[] | undefined): boolean {
  const first = upText.split('\n').find((line) => line.trim() !== '')?.trim().toLowerCase();
  if (first === IRREVERSIBLE_MARKER) return true;
  return (declared ?? []).some((entry) => entry === version || (/^\d+$/.test(entry) && BigInt(entry) === BigInt(version)));
}

/** True when SQL text holds nothing but whitespace and comments. */
export function isEmptySql(text: string): boolean {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/--[^\n]*/g, '').trim() === '';
}

/** The reason a missing or empty down step fails the stairway, with both ways out. */
export function missingDownReason(what: string, version: string): string {
  return `${what}. Write the down migration, or declare the migration irreversible (first line "${IRREVERSIBLE_MARKER}" in its up file, the option irreversible: ['${version}'], or --irreversible ${version})`;
}

/**
 * A migrations folder is one chain. Subfolders that hold .sql files of their own (a chain per
 * module or per tenant, as some tools lay them out) would be silently left out, so they are refused.
 */
export async function refuseSubChains(directory: string, entries: readonly Dirent[]): Promise<void> {
  const chains: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const path = join(directory, entry.name);
    const inside = await readdir(path).catch(() => [] as string[]);
    if (inside.some((name) => /\.sql$/i.test(name))) chains.push(path);
  }
  if (chains.length > 0) {
    throw new MigrationsInvalidError(
      chains[0]!,
      `Migrations directory ${directory} holds subfolders with migrations of their own (${chains.join(', ')}): they form separate chains, which one run cannot order against the top folder's. Check each folder on its own (one --migrations DIR each), or move their files into one folder.`,
    );
  }
}
