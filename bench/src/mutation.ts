// What `tenantkit mutate` costs a real suite: a schema of `tables` tenant tables with three policies
// each (read, insert, update; FORCE on), a vitest suite of five tests per table using the kit's
// vitest integration, and the CLI run from spawn to exit, native with 2 jobs and PGlite.
import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../packages/cli/bin/tenantkit.js', import.meta.url));
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));

function schema(tables: number): string {
  const parts = ['CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);'];
  for (let i = 1; i <= tables; i++) {
    const t = `t${String(i).padStart(2, '0')}`;
    const tenant = `tenant_id = current_setting('app.tenant_id', true)::uuid`;
    parts.push(`CREATE TABLE ${t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, title text NOT NULL);
ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${t} FORCE ROW LEVEL SECURITY;
CREATE POLICY ${t}_read ON ${t} FOR SELECT USING (${tenant});
CREATE POLICY ${t}_insert ON ${t} FOR INSERT WITH CHECK (${tenant});
CREATE POLICY ${t}_update ON ${t} FOR UPDATE USING (${tenant}) WITH CHECK (${tenant});`);
  }
  return `${parts.join('\n')}\n`;
}

const KIT = `import { defineKit } from '@tenantkit/testkit';
export const kit = defineKit({ schema: new URL('./schema.sql', import.meta.url), tenant: { setting: 'app.tenant_id' } });
export const A = '00000000-0000-4000-8000-00000000000a';
export const B = '00000000-0000-4000-8000-00000000000b';
`;

const CONFIG = `import { tenantkit } from '@tenantkit/testkit/vitest/config';
import { defineConfig } from 'vitest/config';
import { kit } from './kit.ts';
export default defineConfig({ plugins: [tenantkit(kit)], test: { include: ['*.spec.ts'] } });
`;

/** Five tests per table: reads its own, not another's; inserts its own, not for another; updates nothing of another's. */
function suite(tables: number): string {
  const lines = [
    `import { createTest } from '@tenantkit/testkit/vitest';`,
    `import { describe, expect } from 'vitest';`,
    `import { A, B, kit } from './kit.ts';`,
    `const test = createTest(kit);`,
    `async function seed(db, t) {`,
    `  await db.query("INSERT INTO tenants VALUES ($1, 'a'), ($2, 'b')", [A, B]);`,
    `  await db.query(\`INSERT INTO \${t} (tenant_id, title) VALUES ($1, 'a1'), ($2, 'b1')\`, [A, B]);`,
    `}`,
  ];
  for (let i = 1; i <= tables; i++) {
    const t = `t${String(i).padStart(2, '0')}`;
    lines.push(`describe('${t}', () => {
  test('reads its own row', async ({ db }) => {
    await seed(db, '${t}');
    const { rows } = await db.app.withTenant(A, (tx) => tx.query('SELECT title FROM ${t}'));
    expect(rows).toEqual([{ title: 'a1' }]);
  });
  test('reads nothing of another tenant by id', async ({ db }) => {
    await seed(db, '${t}');
    const { rows } = await db.app.withTenant(A, (tx) => tx.query("SELECT id FROM ${t} WHERE title = 'b1'"));
    expect(rows).toEqual([]);
  });
  test('inserts its own row', async ({ db }) => {
    await seed(db, '${t}');
    await db.app.withTenant(A, (tx) => tx.query("INSERT INTO ${t} (tenant_id, title) VALUES ($1, 'a2')", [A]));
    const { rows } = await db.query('SELECT count(*)::int AS n FROM ${t} WHERE tenant_id = $1', [A]);
    expect(rows[0].n).toBe(2);
  });
  test('cannot insert a row for another tenant', async ({ db }) => {
    await seed(db, '${t}');
    await expect(db.app.withTenant(A, (tx) => tx.query("INSERT INTO ${t} (tenant_id, title) VALUES ($1, 'x')", [B]))).rejects.toThrow(/row-level security/);
  });
  test('updates its own row and none of another, and cannot move a row away', async ({ db }) => {
    await seed(db, '${t}');
    const own = await db.app.withTenant(A, (tx) => tx.query("UPDATE ${t} SET title = title || '!'"));
    expect(own.rowCount).toBe(1);
    await expect(db.app.withTenant(A, (tx) => tx.query('UPDATE ${t} SET tenant_id = $1', [B]))).rejects.toThrow(/row-level security/);
    const { rows } = await db.query("SELECT title FROM ${t} WHERE tenant_id = $1", [B]);
    expect(rows).toEqual([{ title: 'b1' }]);
  });
});`);
  }
  return `${lines.join('\n')}\n`;
}

export interface MutationFigure {
  readonly backend: 'native' | 'pglite';
  readonly policies: number;
  readonly tests: number;
  readonly jobs: number;
  readonly wallMs: number;
  readonly mutants: number;
  readonly killed: number;
  readonly survived: number;
  readonly notRun: number;
  readonly baselineMs: number;
}

/** One `tenantkit mutate` run per backend on a generated project inside the bench package (so it resolves the kit and vitest). */
export async function measureMutation(tables: number, backends: readonly ('native' | 'pglite')[]): Promise<MutationFigure[]> {
  const dir = fileURLToPath(new URL(`../.mutation-suite-${process.pid}/`, import.meta.url));
  await mkdir(dir, { recursive: true });
  try {
    await writeFile(join(dir, 'schema.sql'), schema(tables));
    await writeFile(join(dir, 'kit.ts'), KIT);
    await writeFile(join(dir, 'vitest.config.ts'), CONFIG);
    await writeFile(join(dir, 'isolation.spec.ts'), suite(tables));
    const figures: MutationFigure[] = [];
    for (const backend of backends) {
      const jobs = 2;
      const started = performance.now();
      const run = spawnSync(process.execPath, [bin, 'mutate', '--sql', 'schema.sql', '--backend', backend, '--jobs', String(jobs), '--json', '--', process.execPath, vitest, 'run', '--config', 'vitest.config.ts'], {
        cwd: dir,
        encoding: 'utf8',
        env: { ...process.env, TENANTKIT_QUIET: '1', TENANTKIT_BACKEND: '' },
        maxBuffer: 64 * 1024 * 1024,
      });
      const wallMs = Math.round(performance.now() - started);
      let report: { killed?: number; survived?: number; notRun?: number; mutants?: unknown[]; baselineMs?: number; error?: { code: string; message: string } };
      try {
        report = JSON.parse(run.stdout) as typeof report;
      } catch {
        throw new Error(`tenantkit mutate on ${backend} printed no JSON (exit ${run.status}): ${run.stderr.trim().split('\n').slice(-5).join(' | ')}`);
      }
      if (!report.mutants) throw new Error(`tenantkit mutate on ${backend} failed: ${report.error?.code} ${report.error?.message}`);
      const [mutants, killed, survived, notRun] = [report.mutants.length, report.killed ?? 0, report.survived ?? 0, report.notRun ?? 0];
      figures.push({ backend, policies: tables * 3, tests: tables * 5, jobs, wallMs, mutants, killed, survived, notRun, baselineMs: report.baselineMs ?? 0 });
      process.stderr.write(`mutation: ${backend}: ${mutants} mutants (${killed} killed, ${survived} survived, ${notRun} not run) in ${Math.round(wallMs / 1000)} s\n`);
    }
    return figures;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
