import { describe, expect, test } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { startKit } from '../src/kit.js';
import type { Migrator } from '../src/migrations/migrator.js';

/** A source whose tool connects on its own; nothing of it may run, the refusal comes first. */
function urlTool(): Migrator {
  const never = (): never => {
    throw new Error('the migrator ran, although the pairing should have been refused first');
  };
  return {
    kind: 'command',
    source: 'a tool that connects by URL',
    connectsByUrl: true,
    stateTables: [],
    hash: async () => 'h',
    list: never,
    current: never,
    up: never,
    down: never,
  };
}

describe('a source that connects by URL on a backend without one', () => {
  test('is refused before anything starts, naming the backends that can', async () => {
    const error = await startKit({ backend: 'pglite', migrations: urlTool() }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as InvalidOptionError).code).toBe('TENANTKIT_INVALID_OPTION');
    expect((error as Error).message).toMatch(/needs a database reachable by URL.*backend "pglite"/);
  });

  test('is refused the same way with preset "supabase" (the stand-ins keep the flag)', async () => {
    const error = await startKit({ backend: 'pglite', preset: 'supabase', migrations: urlTool() }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(/needs a database reachable by URL.*backend "pglite"/);
  });
});
