import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tenantkit } from './tenantkit-bin.js';

// Gated as the testkit's container tests are: CI starts scripts/container-engine.sh and sets
// TENANTKIT_REQUIRE_CONTAINER=1, so there the file runs and fails with the reason when no engine
// answers; a DOCKER_HOST says an engine is meant to be there. The image comes from
// TENANTKIT_CONTAINER_IMAGE in the environment, as for any kit.
const required = process.env.TENANTKIT_REQUIRE_CONTAINER === '1';
const enabled = required || Boolean(process.env.DOCKER_HOST);

const TABLES = `CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY own ON tenants USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, body text NOT NULL);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
`;
const DOWN = 'DROP TABLE notes;\nDROP TABLE tenants;\n';
const ISOLATED = `CREATE POLICY own ON notes USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);\n`;
const LEAK = 'CREATE POLICY own ON notes USING (true);\n';
const APP_ROLE = `CREATE ROLE web LOGIN NOSUPERUSER NOBYPASSRLS;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, notes TO web;
`;

describe.skipIf(!enabled)('tenantkit on --backend container (runs with TENANTKIT_REQUIRE_CONTAINER=1 or DOCKER_HOST set)', () => {
  const dirs: string[] = [];
  /** A golang-migrate folder: the tables, then the notes policy, then the app role's grants. */
  const migrations = async (notesPolicy: string): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'tenantkit-container-cli-'));
    dirs.push(dir);
    await writeFile(join(dir, '0001_tables.up.sql'), TABLES);
    await writeFile(join(dir, '0001_tables.down.sql'), DOWN);
    await writeFile(join(dir, '0002_notes_policy.up.sql'), notesPolicy);
    await writeFile(join(dir, '0002_notes_policy.down.sql'), 'DROP POLICY own ON notes;\n');
    await writeFile(join(dir, '0003_app_role.up.sql'), APP_ROLE);
    await writeFile(join(dir, '0003_app_role.down.sql'), 'REVOKE ALL ON tenants, notes FROM web;\nDROP ROLE web;\n');
    return dir;
  };
  let leaky: string;
  let isolated: string;

  beforeAll(async () => {
    leaky = await migrations(LEAK);
    isolated = await migrations(ISOLATED);
  });
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  test('audit --backend container: a leaking policy exits 1 and names the failed check', async () => {
    const result = await tenantkit('audit', '--backend', 'container', '--migrations', leaky, '--app-role', 'web');
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toContain('Isolation NOT proven');
    expect(result.stdout).toMatch(/FAIL public\.notes read-foreign/);
    expect(result.stdout).toContain('TK_POLICY_ALWAYS_TRUE');
  });

  test('audit --backend container: an isolated schema exits 0, and the report says where it ran', async () => {
    const result = await tenantkit('audit', '--backend', 'container', '--migrations', isolated, '--app-role', 'web', '--json');
    expect(result.code, result.stderr).toBe(0);
    const output = JSON.parse(result.stdout) as { ok: boolean; setup: { backend: string }; tables: { table: string; status: string }[] };
    expect(output.ok).toBe(true);
    expect(output.setup.backend).toBe('container');
    expect(output.tables.find((table) => table.table === 'public.notes')?.status).toBe('proven');
  });

  test('migrations check --backend container: every step up, down and up again (exit 0)', async () => {
    const result = await tenantkit('migrations', 'check', '--backend', 'container', isolated, '--json');
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const output = JSON.parse(result.stdout) as { ok: boolean; migrations: { version: string; status: string }[]; error: unknown };
    expect(output.ok).toBe(true);
    expect(output.error).toBeNull();
    const steps = output.migrations.filter((step) => /^\d+$/.test(step.version));
    expect(steps.map((step) => [step.version, step.status])).toEqual([['0001', 'pass'], ['0002', 'pass'], ['0003', 'pass']]);
  });
});
