import { afterAll, expect, test, vi } from 'vitest';
import { startKit } from '../src/kit.js';

const tables = (n: number) =>
  Array.from({ length: n }, (_, i) => `CREATE TABLE t${i} (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, body text);\nCREATE INDEX t${i}_tenant ON t${i} (tenant_id);`).join('\n');

// A server with a small lock table: the same failure a 5,000-table file meets on a server with default settings.
const SMALL_LOCK_TABLE = { native: { settings: { max_locks_per_transaction: '10', max_connections: '20' } } } as const;

const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops) await stop();
});

async function attempt(schema: string): Promise<{ error: unknown; printed: string; tables?: number }> {
  const printed: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed.push(String(chunk));
    return true;
  });
  try {
    const kit = await startKit({ backend: 'native', schema, poolSize: 0, ...SMALL_LOCK_TABLE });
    stops.push(() => kit.stop());
    await using db = await kit.acquire();
    const [row] = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)).rows;
    return { error: undefined, printed: printed.join(''), tables: row?.n };
  } catch (error) {
    return { error, printed: printed.join('') };
  } finally {
    spy.mockRestore();
  }
}

test('a schema file that fills the lock table in one transaction runs in several, with a warning that default servers refuse it', async () => {
  const { error, printed, tables: created } = await attempt(tables(600));
  expect(error).toBeUndefined();
  expect(created).toBe(600);
  expect(printed).toMatch(/filled the server's lock table in one transaction \(SQLSTATE 53200\), so it ran in \d+ transactions/);
  expect(printed).toContain('max_locks_per_transaction 64');
}, 180_000);

test('a file whose statements share one transaction (SET LOCAL) is not split: the error says why, with the setting to raise', async () => {
  const { error } = await attempt(`SET LOCAL lock_timeout = '1min';\n${tables(600)}`);
  expect(error).toMatchObject({ code: 'TENANTKIT_MIGRATION_FAILED', sqlState: '53200' });
  const message = (error as Error).message;
  expect(message).toContain('The server ran out of lock slots');
  expect(message).toContain('max_locks_per_transaction');
  expect(message).toContain('split the file into several migrations');
  expect(message).toContain('did not split it into several transactions itself because it uses SET LOCAL');
  expect(message).toContain('Nothing in that file was applied');
  expect(message).not.toContain('Fix the statement in that file');
}, 180_000);

test('a failing statement after the split names the statement and says the earlier ones stay applied', async () => {
  const { error } = await attempt(`${tables(600)}\nSELECT no_such_function();`);
  expect(error).toMatchObject({ code: 'TENANTKIT_MIGRATION_FAILED', sqlState: '42883' });
  const message = (error as Error).message;
  expect(message).toContain('no_such_function');
  // The batch holding the failure was rolled back; the batches before it were committed.
  expect(message).toMatch(/so it ran in several: its first \d+ statement\(s\) were committed and stay applied, none after them/);
}, 180_000);
