import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PGlite } from '@electric-sql/pglite';
import { describe, expect, it } from 'vitest';
import { MigrationFailedError } from '../src/errors.js';
import { startKit } from '../src/kit.js';
import type { MigrationTarget } from '../src/migrations/migrator.js';
import { sqlDirectory } from '../src/migrations/sources/golang-migrate/golang-migrate.js';
import { freshPglite, pgliteSession } from './helpers.js';

process.env.TENANTKIT_QUIET = '1';
delete process.env.TENANTKIT_BACKEND;

const CORPUS = fileURLToPath(new URL('./fixtures/migration-corpus/', import.meta.url));

interface CorpusSet {
  readonly name: string;
  readonly dir: string;
  readonly broken: boolean;
  /** What the stairway check must report, from the first up file's `-- expect:` header line. */
  readonly expect: string;
  /** For sets whose up fails on the second run: the up file that fails. */
  readonly failsOnReapply: string | undefined;
}

function loadCorpus(): CorpusSet[] {
  return readdirSync(CORPUS, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const dir = join(CORPUS, name);
      const firstUp = readdirSync(dir)
        .filter((f) => f.endsWith('.up.sql'))
        .sort()[0];
      const header = firstUp ? readFileSync(join(dir, firstUp), 'utf8') : '';
      const expectLine = /^-- expect: (.+)$/m.exec(header)?.[1] ?? '';
      return {
        name,
        dir,
        broken: name.startsWith('broken-'),
        expect: expectLine,
        failsOnReapply: /^second up fails in (\S+?):/.exec(expectLine)?.[1],
      };
    });
}

const corpus = loadCorpus();

/** A PGlite database set up as the kit sets it up: migrations run as tk_owner, tk_app exists. */
async function ownerDatabase(): Promise<{ pg: PGlite; target: MigrationTarget }> {
  const pg = await freshPglite();
  await pg.waitReady;
  await pg.exec(`CREATE ROLE tk_owner NOSUPERUSER NOBYPASSRLS;
CREATE ROLE tk_app NOSUPERUSER NOBYPASSRLS;
ALTER DATABASE postgres OWNER TO tk_owner;
SET ROLE tk_owner;`);
  return { pg, target: { session: pgliteSession(pg), role: 'tk_owner' } };
}

/**
 * For each migration in turn: up to it, back down to the one before (unless it is irreversible),
 * and up to it again. Returns the first failure, if any.
 */
async function stairway(dir: string, target: MigrationTarget): Promise<unknown> {
  const migrator = sqlDirectory(dir);
  const list = await migrator.list();
  try {
    for (const [index, m] of list.entries()) {
      await migrator.up(target, m.version);
      if (!m.reversible) continue;
      await migrator.down(target, list[index - 1]?.version);
      await migrator.up(target, m.version);
    }
  } catch (error) {
    return error;
  }
  expect(await migrator.current(target)).toBe(list.at(-1)?.version);
  return undefined;
}

describe('migration corpus', () => {
  it('has the promised sets, each with at least two migrations and an expect header', () => {
    const broken = corpus.filter((s) => s.broken);
    const ok = corpus.filter((s) => !s.broken);
    expect(broken.length).toBeGreaterThanOrEqual(12);
    expect(broken.filter((s) => s.failsOnReapply !== undefined).length).toBeGreaterThanOrEqual(2);
    expect(ok.length).toBeGreaterThanOrEqual(4);
    for (const set of corpus) {
      expect(set.name, set.name).toMatch(/^(broken|ok)-\d{2}-[a-z0-9-]+$/);
      expect(set.expect, `${set.name} has no "-- expect:" header`).not.toBe('');
      const ups = readdirSync(set.dir).filter((f) => f.endsWith('.up.sql'));
      expect(ups.length, set.name).toBeGreaterThanOrEqual(2);
      if (set.failsOnReapply) expect(ups, set.name).toContain(set.failsOnReapply);
    }
  });

  for (const set of corpus) {
    describe(set.name, () => {
      it('migrates up in a kit', { timeout: 120_000 }, async () => {
        const kit = await startKit({ backend: 'pglite', migrations: set.dir, poolSize: 0 });
        try {
          expect(kit.template.migrations).toBe((await sqlDirectory(set.dir).list()).length);
        } finally {
          await kit.stop();
        }
      });

      const behaviour = set.failsOnReapply
        ? `fails on the second up in ${set.failsOnReapply}`
        : 'goes down and up again step by step without errors';
      it(behaviour, { timeout: 120_000 }, async () => {
        const { pg, target } = await ownerDatabase();
        try {
          const error = await stairway(set.dir, target);
          if (set.failsOnReapply) {
            expect(error).toBeInstanceOf(MigrationFailedError);
            const failed = error as MigrationFailedError;
            expect(failed.location?.file).toBe(join(set.dir, set.failsOnReapply));
            expect(failed.message).toContain(set.failsOnReapply);
            expect(failed.message).toContain('(up)');
            // duplicate_table or duplicate_object: something the down should have removed is still there.
            expect(['42P07', '42710']).toContain(failed.sqlState);
          } else {
            expect(error).toBeUndefined();
          }
        } finally {
          await pg.close();
        }
      });
    });
  }
});
