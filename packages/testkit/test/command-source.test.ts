import { describe, expect, test } from 'vitest';
import { InvalidOptionError, MigrationsInvalidError } from '../src/errors.js';
import type { MigrationTarget } from '../src/migrations/migrator.js';
import { type CommandMigratorOptions, commandMigrator } from '../src/migrations/sources/command/command.js';

const MIGRATIONS = [
  { version: 'a1', name: 'first' },
  { version: 'b2', name: 'second', reversible: false },
];
const base: CommandMigratorOptions = { source: 'tool (test)', migrations: MIGRATIONS, up: (v) => ['true', v], down: () => ['true'] };

/** A target whose session answers the state-table queries with `versions` (none: no table). */
function targetWith(versions: readonly string[] | undefined): MigrationTarget {
  return {
    role: 'owner',
    url: 'postgres://localhost/none',
    session: {
      async query(sql: string) {
        if (sql.includes('to_regclass')) return { rows: [{ name: versions ? 'public.tool_version' : null }], rowCount: 1 } as never;
        return { rows: (versions ?? []).map((version) => ({ version })), rowCount: versions?.length ?? 0 } as never;
      },
      async exec() {},
    },
  };
}

describe('commandMigrator reads the version from the database', () => {
  test('without a state table or a current command it refuses to be created', () => {
    expect(() => commandMigrator(base)).toThrow(InvalidOptionError);
    expect(() => commandMigrator(base)).toThrow(/neither a state table nor a current command/);
  });

  test('from the state table it declares', async () => {
    const migrator = commandMigrator({ ...base, stateTable: { table: 'tool_version', column: 'version' } });
    expect(migrator.stateTables).toEqual(['public.tool_version']);
    expect(await migrator.current(targetWith(undefined))).toBeNull();
    expect(await migrator.current(targetWith(['a1']))).toBe('a1');
    expect(await migrator.current(targetWith(['a1', 'b2']))).toBe('b2');
    await expect(migrator.up(targetWith(['zz']))).rejects.toBeInstanceOf(MigrationsInvalidError);
    await expect(migrator.down(targetWith(['b2']))).rejects.toThrow(/irreversible/);
  });

  test('from a current command: the first word of its last line, nothing printed at base', async () => {
    const printing = (text: string) => commandMigrator({ ...base, current: ['sh', '-c', `printf '${text}'`] });
    expect(await printing('INFO context\\nb2 (head)\\n').current(targetWith(undefined))).toBe('b2');
    expect(await printing('').current(targetWith(undefined))).toBeNull();
    await expect(printing('a1').current({ ...targetWith(undefined), url: undefined } as MigrationTarget)).rejects.toThrow(/backend "native", "url" or "container"/);
  });
});
