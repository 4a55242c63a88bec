import { defineFactory } from '@tenantkit/fixtures';
import { createFixtureTest } from '@tenantkit/fixtures/vitest';
import { expect } from 'vitest';
import { kit } from './kit.ts';

const test = createFixtureTest(kit);

interface Tenant {
  tenant_id?: string;
  name: string;
}

interface Document {
  document_id?: string;
  tenant_id?: string;
  title: string;
}

const tenants = defineFactory<Tenant>('tenants', ({ faker }) => ({ name: faker.company.name() }));
const documents = defineFactory<Document>('documents', ({ sequence }) => ({ title: `document ${sequence}` }), {
  tenantColumn: 'tenant_id',
});

test('hand-written factories write rows for one tenant at a time', async ({ db, fx }) => {
  const [acme, globex] = await tenants.createList(fx, 2);
  await documents.forTenant(acme!.tenant_id!).createList(fx, 2);
  await documents.forTenant(globex!.tenant_id!).create(fx);
  const visible = await db.app.withTenant(acme!.tenant_id!, async (tx) => (await tx.query('SELECT title FROM documents')).rows);
  expect(visible).toHaveLength(2);
});

