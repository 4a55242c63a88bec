// Deliberately incomplete: it only reads, as the app role with a tenant context. `tenantkit mutate`
// lists what it misses (test/mutate.test.ts asserts the exact list).
import { createTest } from '@tenantkit/testkit/vitest';
import { describe, expect } from 'vitest';
import { ACME, GLOBEX, kit, seedTwoTenants } from '../kit.ts';

const test = createTest(kit);

async function readAs(db: import('@tenantkit/testkit').TestDatabase, tenant: string, sql: string): Promise<unknown[]> {
  return db.app.withTenant(tenant, async (tx) => (await tx.query(sql)).rows);
}

describe('a tenant reads its own rows only', () => {
  test('projects', async ({ db }) => {
    await seedTwoTenants(db);
    expect(await readAs(db, ACME, 'SELECT name FROM projects')).toEqual([{ name: 'acme project' }]);
    expect(await readAs(db, GLOBEX, 'SELECT name FROM projects')).toEqual([{ name: 'globex project' }]);
  });

  test('invoices, void ones hidden', async ({ db }) => {
    await seedTwoTenants(db);
    expect(await readAs(db, ACME, 'SELECT amount_cents, status FROM invoices ORDER BY amount_cents')).toEqual([
      { amount_cents: 100, status: 'open' },
      { amount_cents: 200, status: 'paid' },
    ]);
  });

  test('notes', async ({ db }) => {
    await seedTwoTenants(db);
    expect(await readAs(db, GLOBEX, 'SELECT body FROM notes')).toEqual([{ body: 'globex note' }]);
  });
});
