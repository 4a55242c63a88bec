import { createHash } from 'node:crypto';
import { InvalidOptionError, MigrationFailedError, sqlStateOf } from '../errors.js';
import { readMigrationFile } from './migration-files.js';
import type { AppliedStep, MigrationTarget } from './migrator.js';

/**
 * The template key of a migration source. Every field is framed by its length, so no two different
 * inputs can feed the digest the same bytes; the kind leads, so two sources never share a key.
 */
export interface MigrationHash {
  field(data: string | Uint8Array): MigrationHash;
  /** A file's bytes as one field; a file that cannot be read is reported, never hashed as empty. */
  file(path: string): Promise<MigrationHash>;
  digest(): string;
}

export function migrationHash(kind: string): MigrationHash {
  const hash = createHash('sha256').update(`${kind}\0`);
  const self: MigrationHash = {
    field(data) {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      hash.update(`${bytes.length}:`);
      hash.update(bytes);
      return self;
    },
    async file(path) {
      return self.field(await readMigrationFile(path));
    },
    digest() {
      return hash.digest('hex');
    },
  };
  return self;
}

/** The first twenty versions, for messages. */
export function listVersions(migrations: readonly { readonly version: string }[]): string {
  const shown = migrations.slice(0, 20).map((m) => m.version);
  return migrations.length > shown.length ? `${shown.join(', ')}, ...` : shown.join(', ');
}

/**
 * The position of the migration `to` names, for up(to) and down(to). `matches` says when a
 * migration answers to the name (default: its version as written).
 */
export function indexOfVersion<M extends { readonly version: string }>(
  migrations: readonly M[],
  to: string,
  where: { readonly source: string; readonly direction: 'up' | 'down'; readonly matches?: (migration: M, to: string) => boolean },
): number {
  const matches = where.matches ?? ((migration: M, version: string) => migration.version === version);
  const index = migrations.findIndex((migration) => matches(migration, to));
  if (index < 0) {
    throw new InvalidOptionError(
      'to',
      `Version "${to}" passed to ${where.direction}() is not a migration of ${where.source} (known versions: ${listVersions(migrations)}). Pass one of them, or no version to ${where.direction === 'down' ? 'revert' : 'apply'} everything.`,
    );
  }
  return index;
}

/** The target's URL, for a source whose tool connects on its own; a target without one is refused. */
export function requireUrl(target: MigrationTarget, source: string): string {
  if (target.url === undefined || target.url === '') {
    throw new InvalidOptionError(
      'backend',
      `${source} runs a tool that connects to the database on its own, so it needs a database reachable by URL: use backend "native", "url" or "container".`,
    );
  }
  return target.url;
}

/** A migration tool's failure as the kit reports it, naming the migration (`label`) and the role. */
export function toolFailure(label: string, direction: 'up' | 'down', target: MigrationTarget, cause: unknown): MigrationFailedError {
  return new MigrationFailedError({
    migration: label,
    direction,
    role: target.role,
    sqlState: sqlStateOf(cause) ?? sqlStateOf((cause as { cause?: unknown } | null)?.cause),
    cause,
  });
}

/** One step run by a migration tool, timed; its failure is reported with toolFailure. */
export async function toolStep(
  target: MigrationTarget,
  migration: { readonly version: string; readonly name: string },
  direction: 'up' | 'down',
  label: string,
  work: () => Promise<unknown>,
): Promise<AppliedStep> {
  const startedAt = performance.now();
  try {
    await work();
  } catch (caught) {
    throw toolFailure(label, direction, target, caught);
  }
  return { version: migration.version, name: migration.name, direction, ms: performance.now() - startedAt };
}
