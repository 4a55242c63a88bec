// Reads, inserts, updates, deletes and TRUNCATE across tenants, and the owner bound by FORCE:
// `tenantkit mutate` finds no mutant of the schema's RLS that this suite does not kill.
import type { TestDatabase } from '@tenantkit/testkit';
import { createTest } from '@tenantkit/testkit/vitest';
import { describe, expect } from 'vitest';
import { ACME, GLOBEX, kit, seedTwoTenants } from '../kit.ts';

const test = createTest(kit);

function asAcme<T>(db: TestDatabase, sql: string, params: readonly unknown[] = []): Promise<{ rows: T[]; rowCount: number }> {
  return db.app.withTenant(ACME, async (tx) => {
    const result = await tx.query<T & Record<string, unknown>>(sql, params);
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  });
}

/** What the admin (which bypasses RLS) sees of a tenant's rows: the ground truth after a write. */
async function count(db: TestDatabase, table: string, tenant: string, where = 'true'): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE tenant_id = $1 AND ${where}`, [tenant]);
  return rows[0]!.n;
}

describe('reads', () => {
  test('a tenant reads its own projects, invoices (not void) and notes, nothing of another', async ({ db }) => {
    await seedTwoTenants(db);
    expect((await asAcme(db, 'SELECT name FROM projects')).rows).toEqual([{ name: 'acme project' }]);
    expect((await asAcme(db, 'SELECT amount_cents FROM invoices ORDER BY 1')).rows).toEqual([{ amount_cents: 100 }, { amount_cents: 200 }]);
    expect((await asAcme(db, 'SELECT body FROM notes')).rows).toEqual([{ body: 'acme note' }]);
  });

  test('the owner is bound by RLS too where it is forced', async ({ db }) => {
    await seedTwoTenants(db);
    const seen = await db.owner.transaction(async (tx) => {
      await tx.query(`SELECT set_config('app.tenant_id', $1, true)`, [ACME]);
      const projects = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM projects');
      const invoices = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM invoices');
      return [projects.rows[0]!.n, invoices.rows[0]!.n];
    });
    expect(seen).toEqual([1, 2]);
  });
});

describe('inserts', () => {
  test('a tenant inserts its own invoice and note', async ({ db }) => {
    await seedTwoTenants(db);
    await asAcme(db, `INSERT INTO invoices (tenant_id, amount_cents) VALUES ($1, 5)`, [ACME]);
    await asAcme(db, `INSERT INTO notes (tenant_id, body) VALUES ($1, 'mine')`, [ACME]);
    expect(await count(db, 'invoices', ACME)).toBe(4);
    expect(await count(db, 'notes', ACME)).toBe(2);
  });

  test('no row for another tenant, and no note longer than 500 characters', async ({ db }) => {
    await seedTwoTenants(db);
    await expect(asAcme(db, `INSERT INTO invoices (tenant_id, amount_cents) VALUES ($1, 5)`, [GLOBEX])).rejects.toThrow(/row-level security/);
    await expect(asAcme(db, `INSERT INTO notes (tenant_id, body) VALUES ($1, 'planted')`, [GLOBEX])).rejects.toThrow(/row-level security/);
    await expect(asAcme(db, `INSERT INTO notes (tenant_id, body) VALUES ($1, repeat('x', 501))`, [ACME])).rejects.toThrow(/row-level security/);
  });
});

describe('updates', () => {
  test('a tenant updates its own open invoice, never a paid one', async ({ db }) => {
    await seedTwoTenants(db);
    expect((await asAcme(db, `UPDATE invoices SET amount_cents = 150 WHERE status = 'open'`)).rowCount).toBe(1);
    expect((await asAcme(db, `UPDATE invoices SET amount_cents = 1 WHERE status = 'paid'`)).rowCount).toBe(0);
    expect(await count(db, 'invoices', ACME, 'amount_cents = 1')).toBe(0);
  });

  test('an update that reads no column does not reach another tenant', async ({ db }) => {
    await seedTwoTenants(db);
    await asAcme(db, `UPDATE invoices SET amount_cents = 7`);
    await asAcme(db, `UPDATE notes SET body = 'overwritten'`);
    expect(await count(db, 'invoices', GLOBEX, 'amount_cents = 7')).toBe(0);
    expect(await count(db, 'notes', GLOBEX, `body = 'overwritten'`)).toBe(0);
  });
});

describe('deletes and truncate', () => {
  test('a delete that reads no column removes only the tenant\'s own rows', async ({ db }) => {
    await seedTwoTenants(db);
    await asAcme(db, 'DELETE FROM notes');
    await asAcme(db, 'DELETE FROM projects');
    expect([await count(db, 'notes', ACME), await count(db, 'notes', GLOBEX)]).toEqual([0, 1]);
    expect([await count(db, 'projects', ACME), await count(db, 'projects', GLOBEX)]).toEqual([0, 1]);
  });

  test('the app role may not TRUNCATE a tenant table (TRUNCATE ignores RLS)', async ({ db }) => {
    for (const table of ['projects', 'invoices', 'notes']) {
      await expect(asAcme(db, `TRUNCATE ${table}`), table).rejects.toThrow(/permission denied/);
    }
  });
});
