import { defineKit } from '@tenantkit/testkit';

/** The kit both suites use; `tenantkit mutate` hands it each mutant through TENANTKIT_MUTANT. */
export const kit = defineKit({
  schema: new URL('../schema.sql', import.meta.url),
  tenant: { setting: 'app.tenant_id' },
});

export const ACME = '00000000-0000-4000-8000-00000000000a';
export const GLOBEX = '00000000-0000-4000-8000-00000000000b';

/** Two tenants with a project, an open, a paid and a void invoice, and a note each. Run as the admin. */
export async function seedTwoTenants(db: import('@tenantkit/testkit').TestDatabase): Promise<void> {
  await db.query(`INSERT INTO tenants (tenant_id, name) VALUES ($1, 'Acme'), ($2, 'Globex')`, [ACME, GLOBEX]);
  for (const tenant of [ACME, GLOBEX]) {
    const label = tenant === ACME ? 'acme' : 'globex';
    await db.query(`INSERT INTO projects (tenant_id, name) VALUES ($1, $2)`, [tenant, `${label} project`]);
    await db.query(`INSERT INTO invoices (tenant_id, amount_cents, status) VALUES ($1, 100, 'open'), ($1, 200, 'paid'), ($1, 300, 'void')`, [tenant]);
    await db.query(`INSERT INTO notes (tenant_id, body) VALUES ($1, $2)`, [tenant, `${label} note`]);
  }
}
