import { afterAll, expect, test } from 'vitest';
import { startKit } from '../src/kit.js';

const tables = (n: number) =>
  Array.from({ length: n }, (_, i) => `CREATE TABLE t${i} (id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, body text);\nCREATE INDEX t${i}_tenant ON t${i} (tenant_id);`).join('\n');

const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops) await stop();
});

test('a schema file that fills the lock table is named as such, with the setting to raise and the split to make', async () => {
  // A server with a small lock table: the same failure a 5,000-table file meets on a default server.
  const error = await startKit({ backend: 'native', schema: tables(600), native: { settings: { max_locks_per_transaction: '10', max_connections: '20' } } }).then(
    (kit) => {
      stops.push(() => kit.stop());
      return undefined;
    },
    (caught: unknown) => caught,
  );
  expect(error).toMatchObject({ code: 'TENANTKIT_MIGRATION_FAILED', sqlState: '53200' });
  const message = (error as Error).message;
  expect(message).toContain('The server ran out of lock slots');
  expect(message).toContain('max_locks_per_transaction');
  expect(message).toContain('split the file into several migrations');
  expect(message).not.toContain('Fix the statement in that file');
}, 180_000);
