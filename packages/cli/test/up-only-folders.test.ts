import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { tenantkit } from './tenantkit-bin.js';

const made: string[] = [];
afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

async function project(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'tk-up-only-'));
  made.push(root);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, name)), { recursive: true });
    await writeFile(join(root, name), text);
  }
  return root;
}

// Prisma as it writes SQL: quoted camelCase identifiers, tables first, RLS added by hand later.
const PRISMA_INIT = `-- CreateTable
CREATE TABLE "Organization" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    CONSTRAINT "Organization_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Invoice" (
    "id" SERIAL NOT NULL,
    "tenantId" TEXT NOT NULL,
    "amount" INTEGER NOT NULL,
    CONSTRAINT "Invoice_pkey" PRIMARY KEY ("id")
);

-- AddForeignKey
ALTER TABLE "Invoice" ADD CONSTRAINT "Invoice_tenantId_fkey" FOREIGN KEY ("tenantId") REFERENCES "Organization"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
`;
const PRISMA_RLS = `-- Row level security, added by hand
ALTER TABLE "Invoice" ENABLE ROW LEVEL SECURITY;
ALTER TABLE "Invoice" FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON "Invoice"
  USING ("tenantId" = current_setting('app.current_tenant', true))
  WITH CHECK ("tenantId" = current_setting('app.current_tenant', true));
`;

/** A Supabase project as `supabase init` lays it out, with a table and its row level security in two migrations. */
async function supabaseMigrations(): Promise<string> {
  const root = await project({
    'supabase/config.toml': 'project_id = "scratch"\n',
    'supabase/migrations/20240101000000_notes.sql': 'create table public.notes (id bigint generated always as identity primary key, org_id uuid not null, body text);\n',
    'supabase/migrations/20240102000000_rls.sql': "alter table public.notes enable row level security;\nalter table public.notes force row level security;\ncreate policy \"org members\" on public.notes using (org_id = nullif(current_setting('app.org_id', true), '')::uuid) with check (org_id = nullif(current_setting('app.org_id', true), '')::uuid);\n",
  });
  return join(root, 'supabase/migrations');
}

describe('up-only migration folders in audit and seed', () => {
  test('a Prisma Migrate folder is read in folder order: before the RLS migration the invoices leak, after it they are proven', async () => {
    const root = await project({
      'prisma/schema.prisma': 'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n',
      'prisma/migrations/migration_lock.toml': 'provider = "postgresql"\n',
      'prisma/migrations/20240101000000_init/migration.sql': PRISMA_INIT,
    });
    const args = ['--migrations', join(root, 'prisma/migrations'), '--app-grants', 'crud', '--tenant-column', 'tenantId', '--json'];
    const leaky = await tenantkit('audit', ...args, '--tenant-setting', 'app.current_tenant');
    expect(leaky.code, leaky.stderr).toBe(1);
    const before = JSON.parse(leaky.stdout) as { tables: { table: string; status: string }[] };
    expect(before.tables.find((table) => table.table === 'public.Invoice')?.status).toBe('failed');

    await mkdir(join(root, 'prisma/migrations/20240201000000_rls'));
    await writeFile(join(root, 'prisma/migrations/20240201000000_rls/migration.sql'), PRISMA_RLS);
    const proven = await tenantkit('audit', ...args);
    const after = JSON.parse(proven.stdout) as { ok: boolean; tables: { table: string; status: string }[] };
    expect(after.tables.find((table) => table.table === 'public.Invoice')?.status, proven.stdout).toBe('proven');
  });

  test('a drizzle-kit folder is applied in journal order, not name order', async () => {
    const root = await project({
      // The journal puts 0001 before 0000: 0000 needs the table 0001 creates.
      'drizzle/0000_policies.sql': `ALTER TABLE "notes" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint\nALTER TABLE "notes" FORCE ROW LEVEL SECURITY;--> statement-breakpoint\nCREATE POLICY "notes_tenant" ON "notes" USING ("tenant_id" = current_setting('app.tenant_id', true)) WITH CHECK ("tenant_id" = current_setting('app.tenant_id', true));`,
      'drizzle/0001_notes.sql': 'CREATE TABLE "notes" (\n\t"id" serial PRIMARY KEY NOT NULL,\n\t"tenant_id" text NOT NULL,\n\t"body" text\n);\n',
      'drizzle/meta/_journal.json': JSON.stringify({ version: '7', dialect: 'postgresql', entries: [{ idx: 0, version: '7', when: 1, tag: '0001_notes', breakpoints: true }, { idx: 1, version: '7', when: 2, tag: '0000_policies', breakpoints: true }] }),
    });
    const result = await tenantkit('audit', '--migrations', join(root, 'drizzle'), '--app-grants', 'crud', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as { ok: boolean }).ok).toBe(true);
    const seeded = await tenantkit('seed', '--migrations', join(root, 'drizzle'), '--json');
    expect(seeded.code, seeded.stderr).toBe(0);
  });

  test('a Supabase folder (config.toml beside it) is read in file-name order with the platform\'s roles and privileges', async () => {
    const dir = await supabaseMigrations();
    // A Supabase folder gets the platform: requests as authenticated, and its default privileges,
    // whose TRUNCATE ignores row level security, until the project takes it back.
    const result = await tenantkit('audit', '--migrations', dir, '--json');
    expect(result.code, result.stdout + result.stderr).toBe(1);
    const audit = JSON.parse(result.stdout) as { setup: { appRole: string }; tables: { table: string; checks: { check: string; status: string }[] }[] };
    expect(audit.setup.appRole).toBe('authenticated');
    expect(audit.tables.find((table) => table.table === 'public.notes')!.checks.filter((entry) => entry.status === 'fail').map((entry) => entry.check)).toEqual(['truncate']);
    await writeFile(join(dir, '20240102000001_revoke_truncate.sql'), 'revoke truncate on public.notes from anon, authenticated;\n');
    const revoked = await tenantkit('audit', '--migrations', dir);
    expect(revoked.code, revoked.stdout + revoked.stderr).toBe(0);
  });

  test('migrations check applies each Supabase up on the state before it and says there is no down', async () => {
    const dir = await supabaseMigrations();
    // Each up is applied on the state before it (a fresh database at the previous migration); there
    // is no down to check, and the report says so instead of passing a cycle it never ran.
    const check = await tenantkit('migrations', 'check', dir, '--json');
    expect(check.code, check.stderr).toBe(0);
    const report = JSON.parse(check.stdout) as { ok: boolean; migrations: { version: string; status: string; problems: string[] }[] };
    expect(report.migrations.map((step) => [step.version, step.status])).toEqual([['20240101000000', 'skip'], ['20240102000000', 'skip'], ['data', 'pass']]);
    expect(report.migrations[0]!.problems.join('\n')).toContain('its up applies on the state before it');
    const text = await tenantkit('migrations', 'check', dir);
    expect(text.stdout).toContain('2 of 2 have no down step');
    expect(text.stdout).toContain('Every step applies on seeded rows, and no tenant column is left NULL.');
  });

  test('instead of a down, rows seeded after each up go through the next: the NULL gate and a NOT NULL column with no default', async () => {
    const dir = await supabaseMigrations();
    // Instead of a down: rows seeded after each step go through the next. A tenant column added later
    // and never backfilled fails the NULL gate; a NOT NULL column with no default fails on any rows.
    await writeFile(join(dir, '20240103000000_labels.sql'), 'create table public.labels (id bigint generated always as identity primary key, name text);\n');
    await writeFile(join(dir, '20240104000000_labels_org.sql'), 'alter table public.labels add column org_id uuid;\n');
    const unfilled = await tenantkit('migrations', 'check', dir, '--json');
    expect(unfilled.code, unfilled.stdout + unfilled.stderr).toBe(1);
    const gate = (JSON.parse(unfilled.stdout) as { migrations: { version: string; status: string; problems: string[] }[] }).migrations.at(-1)!;
    expect(gate).toMatchObject({ version: 'data', status: 'fail' });
    expect(gate.problems.join('\n')).toMatch(/NULL gate: public\.labels has \d+ row\(s\) with NULL org_id at the head/);
    expect((await tenantkit('migrations', 'check', dir, '--no-null-gate')).code).toBe(0);
    await writeFile(join(dir, '20240104000000_labels_org.sql'), 'alter table public.labels add column org_id uuid not null;\n');
    const notNull = await tenantkit('migrations', 'check', dir, '--json');
    expect(notNull.code).toBe(1);
    expect((JSON.parse(notNull.stdout) as { migrations: { problems: string[] }[] }).migrations.at(-1)!.problems.join('\n')).toContain('20240104000000 labels_org adds the NOT NULL column labels.org_id with no default');
  });

  test('an up that does not apply on the state before it fails its step with the file and line; a --format that names no layout is a usage error', async () => {
    const dir = await supabaseMigrations();
    // A migration that does not apply on the state before it fails its step, naming the file and line.
    await writeFile(join(dir, '20240103000000_broken.sql'), 'alter table public.notes add column body text;\n');
    const broken = await tenantkit('migrations', 'check', dir, '--json');
    expect(broken.code).toBe(1);
    const failed = JSON.parse(broken.stdout) as { migrations: { version: string; status: string }[]; error: { file: string; line: number } };
    expect(failed.migrations.at(-2)).toMatchObject({ version: '20240103000000', status: 'fail' });
    expect(failed.error).toMatchObject({ file: join(dir, '20240103000000_broken.sql'), line: 1 });
    const wrong = await tenantkit('audit', '--migrations', dir, '--format', 'flyway');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('use golang-migrate, dbmate, prisma, drizzle, supabase');
  });
});
