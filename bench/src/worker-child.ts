// A PGlite worker as vitest runs one, in a process of its own so its peak RSS is its own:
// node src/worker-child.ts <migrations dir> <cache dir>. Starts the kit from the cached snapshot,
// runs 50 tests (rows for two tenants, reads as the app), prints {maxRssMb, tests}.
import { startKit } from '@tenantkit/testkit';

const [migrations, cacheDir] = process.argv.slice(2) as [string, string];
const kit = await startKit({ backend: 'pglite', migrations, cacheDir });
const TESTS = 50;
try {
  for (let i = 0; i < TESTS; i++) {
    await using db = await kit.acquire();
    const { rows } = await db.admin.query<{ tenant_id: string }>(`INSERT INTO tenants (name) VALUES ('a'), ('b') RETURNING tenant_id`);
    for (const { tenant_id } of rows) await db.admin.query(`INSERT INTO entity_01 (tenant_id, title) VALUES ($1, 'x'), ($1, 'y')`, [tenant_id]);
    const seen = await db.app.withTenant(rows[0]!.tenant_id, (tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM entity_01'));
    if (seen.rows[0]!.n !== 2) throw new Error(`test ${i}: the app saw ${seen.rows[0]!.n} rows of its tenant, not 2`);
  }
} finally {
  await kit.stop();
}
console.log(JSON.stringify({ maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024), tests: TESTS }));
