import { createTest } from '@tenantkit/testkit/vitest';
import { describe, expect } from 'vitest';
import { kit } from './kit.ts';

const test = createTest(kit);

const ACME = '00000000-0000-4000-8000-00000000000a';
const GLOBEX = '00000000-0000-4000-8000-00000000000b';

async function seedTwoTenants(db: import('@tenantkit/testkit').TestDatabase) {
  // Setup runs as admin, which bypasses RLS.
  await db.query(`INSERT INTO tenants (tenant_id, name) VALUES ($1, 'Acme'), ($2, 'Globex')`, [ACME, GLOBEX]);
  await db.query(
    `INSERT INTO documents (tenant_id, title) VALUES ($1, 'acme plan'), ($1, 'acme budget'), ($2, 'globex secrets')`,
    [ACME, GLOBEX],
  );
}

describe('documents are isolated per tenant', () => {
  test('the app role sees only its own tenant', async ({ db }) => {
    await seedTwoTenants(db);
    const titles = await db.app.withTenant(ACME, async (tx) => {
      const { rows } = await tx.query<{ title: string }>('SELECT title FROM documents ORDER BY title');
      return rows.map((row) => row.title);
    });
    expect(titles).toEqual(['acme budget', 'acme plan']);
  });

  test('the app role cannot write into another tenant', async ({ db }) => {
    await seedTwoTenants(db);
    await expect(
      db.app.withTenant(ACME, (tx) => tx.query(`INSERT INTO documents (tenant_id, title) VALUES ($1, 'planted')`, [GLOBEX])),
    ).rejects.toThrow(/row-level security/);
  });

  test('with no tenant set, nothing is visible', async ({ db }) => {
    await seedTwoTenants(db);
    const { rows } = await db.app.query('SELECT * FROM documents');
    expect(rows).toHaveLength(0);
  });

  test('each test starts from the migrated, empty database', async ({ db }) => {
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM documents');
    expect(rows[0]?.n).toBe(0);
  });

  test('the app role is a real non-bypassing role that owns nothing', async ({ db }) => {
    const { rows } = await db.query<{ rolsuper: boolean; rolbypassrls: boolean; owned: number }>(
      `SELECT rolsuper, rolbypassrls,
              (SELECT count(*)::int FROM pg_class WHERE relowner = r.oid) AS owned
         FROM pg_roles r WHERE rolname = $1`,
      [db.app.role],
    );
    expect(rows[0]).toEqual({ rolsuper: false, rolbypassrls: false, owned: 0 });
  });
});
