// One large-schema measurement in a process of its own, so its peak RSS is its own:
// node src/large-child.ts <backend> <file.sql | migrations dir>
import { seedTenants } from '@tenantkit/fixtures';
import { checkIsolation } from '@tenantkit/rls-assert';
import { sqlDirectory, startKit } from '@tenantkit/testkit';

process.env.TENANTKIT_QUIET ??= '1';
const [backend, source] = process.argv.slice(2) as ['native' | 'pglite', string];
const from = source.endsWith('.sql') ? { schema: [source] } : { migrations: sqlDirectory(source) };

const started = performance.now();
const kit = await startKit({ backend, ...from, roles: { appGrants: 'crud' }, isolation: 'database', poolSize: 0 });
const startMs = performance.now() - started;
try {
  const audited = performance.now();
  const report = await (async () => {
    await using db = await kit.acquire();
    return await checkIsolation(db);
  })();
  const auditMs = performance.now() - audited;
  const seeding = performance.now();
  const world = await (async () => {
    await using db = await kit.acquire();
    return await seedTenants(db.admin, { tenants: 2, rowsPerTable: 2 });
  })();
  const seedMs = performance.now() - seeding;
  const proven = report.tables.filter((table) => table.status === 'proven').length;
  const rows = world.tables.reduce((sum, table) => sum + table.rows, 0);
  console.log(JSON.stringify({ ok: true, startMs, auditMs, seedMs, proven, rows, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
} catch (error) {
  const code = (error as { code?: string }).code;
  console.log(JSON.stringify({ ok: false, code, message: (error as Error).message.split('\n')[0], maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
} finally {
  await kit.stop();
}
