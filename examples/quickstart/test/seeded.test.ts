import { seedTenants } from '@tenantkit/fixtures';
import { createFixtureTest } from '@tenantkit/fixtures/vitest';
import { expect } from 'vitest';
import { kit } from './kit.ts';

const test = createFixtureTest(kit);

test('every tenant sees exactly its own seeded documents', async ({ db, fx }) => {
  const world = await seedTenants(db, { tenants: 3, rowsPerTable: 5, seed: fx.seed });
  const documents = world.table('documents')!;
  for (const tenant of world.tenants) {
    const visible = await db.app.withTenant(tenant, async (tx) => (await tx.query('SELECT document_id FROM documents')).rows);
    expect(visible).toHaveLength(documents.perTenant[tenant]!);
  }
});
