import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { NativeServer } from '../src/backends/native/native-server.js';
import { startKit, templateKey, resolveMigrator, resolveRoles, resolveSetup } from '../src/kit.js';
import { checkEveryMigration } from '../src/migrations/check/every-migration.js';
import { upOnlyMigrations } from '../src/migrations/sources/up-only/up-only.js';
import { extensionCreatedBy } from '../src/presets/stand-ins.js';
import { shareNativeServer, stopSharedServer } from './helpers.js';

let native: NativeServer | undefined;
let dir: string;

// Written as a Supabase project writes them: tables in public, policies on auth.uid(), a trigger on
// auth.users, pg_cron and pg_net from the dashboard's extension list.
const MIGRATIONS: Record<string, string> = {
  '0001_profiles.up.sql': `create table public.profiles (id uuid primary key references auth.users (id) on delete cascade, full_name text);
alter table public.profiles enable row level security;
create policy "own profile" on public.profiles for all to authenticated using (id = (select auth.uid()));
create function public.handle_new_user() returns trigger language plpgsql security definer set search_path = '' as $$
begin
  insert into public.profiles (id, full_name) values (new.id, new.raw_user_meta_data ->> 'full_name');
  return new;
end;
$$;
create trigger on_auth_user_created after insert on auth.users for each row execute procedure public.handle_new_user();`,
  '0002_jobs.up.sql': `-- nightly clean-up, scheduled from the database
create extension if not exists pg_cron with schema pg_catalog;
create extension if not exists "pg_net" with schema extensions;
select cron.schedule('purge-profiles', '0 3 * * *', $$delete from public.profiles where full_name is null$$);
select net.http_post('https://example.invalid/hook', '{"ok": true}'::jsonb);`,
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tk-preset-'));
  for (const [name, sql] of Object.entries(MIGRATIONS)) await writeFile(join(dir, name), sql);
  native = await shareNativeServer();
}, 120_000);

afterAll(async () => {
  await stopSharedServer(native);
  await rm(dir, { recursive: true, force: true });
});

test('the extension a statement creates, past comments and quotes', () => {
  expect(extensionCreatedBy('-- jobs\n/* nightly */ CREATE EXTENSION IF NOT EXISTS "pg_cron" WITH SCHEMA pg_catalog')).toBe('pg_cron');
  expect(extensionCreatedBy('create extension pg_net')).toBe('pg_net');
  expect(extensionCreatedBy('select 1; create extension pg_net')).toBeUndefined();
});

test('the preset is part of the template key', async () => {
  const roles = resolveRoles({});
  const migrator = resolveMigrator({ migrations: dir });
  const plain = await templateKey(migrator, roles, resolveSetup({}, roles));
  const supabase = await templateKey(migrator, roles, resolveSetup({ preset: 'supabase' }, roles));
  expect(supabase).not.toBe(plain);
  expect(() => resolveSetup({ preset: 'firebase' as 'supabase' }, roles)).toThrow(/unknown preset "firebase"/);
});

describe.each(['pglite', 'native'] as const)('the Supabase preset on %s', (backend) => {
  test('a Supabase folder applies: platform roles, auth.users and its trigger, stand-ins named on stderr', async () => {
    const stderr = vi.spyOn(process.stderr, 'write');
    const quiet = process.env.TENANTKIT_QUIET;
    delete process.env.TENANTKIT_QUIET;
    try {
      await using kit = await startKit({ backend, migrations: dir, preset: 'supabase' });
      const db = await kit.acquire();
      const said = stderr.mock.calls.map(([chunk]) => String(chunk)).join('');
      // Announced once per process, from a cached PGlite snapshot too: PGlite runs first.
      if (backend === 'pglite') {
        expect(said).toMatch(/pg_cron is not available on this server: a stand-in was created instead.* \(cron\.schedule\(\).*no job ever runs\)/);
        expect(said).toMatch(/pg_net is not available on this server: a stand-in/);
      }
      // What the migrations asked the stand-ins for is recorded, not done.
      expect((await db.admin.query('SELECT jobname, schedule FROM cron.job')).rows).toEqual([{ jobname: 'purge-profiles', schedule: '0 3 * * *' }]);
      expect((await db.admin.query('SELECT method, url FROM net.http_request_queue')).rows).toEqual([{ method: 'POST', url: 'https://example.invalid/hook' }]);

      const roles = await db.admin.query<{ rolname: string; rolcanlogin: boolean; rolbypassrls: boolean }>(
        `SELECT rolname, rolcanlogin, rolbypassrls FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator') ORDER BY rolname`,
      );
      expect(roles.rows).toEqual([
        { rolname: 'anon', rolcanlogin: false, rolbypassrls: false },
        { rolname: 'authenticated', rolcanlogin: false, rolbypassrls: false },
        { rolname: 'authenticator', rolcanlogin: true, rolbypassrls: false },
        { rolname: 'service_role', rolcanlogin: false, rolbypassrls: true },
      ]);
      // The platform's default privileges: TRUNCATE included, for every API role.
      const grants = await db.admin.query<{ grantee: string }>(
        `SELECT grantee FROM information_schema.role_table_grants WHERE table_schema = 'public' AND table_name = 'profiles' AND privilege_type = 'TRUNCATE' ORDER BY grantee`,
      );
      expect(grants.rows.map((row) => row.grantee)).toEqual(expect.arrayContaining(['anon', 'authenticated', 'service_role']));

      const [alice, bob] = ['00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000b2'];
      await db.admin.query(`INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES ($1, 'alice@example.com', '{"full_name": "Alice"}'), ($2, 'bob@example.com', '{}')`, [alice, bob]);
      // The app reaches authenticated with a user's claims, and sees that user's profile only.
      const seen = await db.app.withTenant(alice, async (tx) => {
        await tx.exec(`SELECT set_config('request.jwt.claims', '{"sub": "${alice}", "role": "authenticated"}', true)`);
        await tx.exec('SET LOCAL ROLE authenticated');
        return (await tx.query<{ id: string; uid: string; role: string }>('SELECT p.id, auth.uid() AS uid, auth.role() AS role FROM public.profiles p')).rows;
      });
      expect(seen).toEqual([{ id: alice, uid: alice, role: 'authenticated' }]);
      await db.release();
      // The app may never become the role that bypasses row level security: the server refuses it;
      // on PGlite, whose session is a superuser, the kit sees the escape and fails the test.
      const other = await kit.acquire();
      const escape = other.app.withTenant(alice, (tx) => tx.exec('SET LOCAL ROLE service_role'));
      if (backend === 'native') {
        await expect(escape).rejects.toThrow(/permission denied to set role "service_role"/);
        await other.release();
      } else {
        const escaped = { name: 'RoleEscapeError', message: expect.stringContaining('current_user is now "service_role"') };
        await expect(escape).rejects.toMatchObject(escaped);
        await expect(other.release()).rejects.toMatchObject(escaped);
      }
    } finally {
      if (quiet !== undefined) process.env.TENANTKIT_QUIET = quiet;
      stderr.mockRestore();
    }
  }, 180_000);

  test('without the preset the same folder fails where it first needs the platform', async () => {
    await expect(startKit({ backend, migrations: dir })).rejects.toMatchObject({ code: 'TENANTKIT_MIGRATION_FAILED', message: expect.stringMatching(/schema "auth" does not exist/) });
  }, 180_000);

  test('an extension with no stand-in still fails by name', async () => {
    const other = await mkdtemp(join(tmpdir(), 'tk-preset-ext-'));
    try {
      await writeFile(join(other, '0001_ext.up.sql'), 'create extension if not exists pg_surely_absent;');
      await expect(startKit({ backend, migrations: other, preset: 'supabase' })).rejects.toThrow(/pg_surely_absent/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  }, 180_000);

  test('every migration checked on its own gets the stand-ins too', async () => {
    const migrator = upOnlyMigrations(
      Object.keys(MIGRATIONS).map((file) => ({ version: file.slice(0, 4), name: file.slice(5, -7), file: join(dir, file) })),
      { kind: 'supabase', source: 'a supabase folder in test' },
    );
    const report = await checkEveryMigration(migrator, { backend, preset: 'supabase' });
    expect(report.error).toBeNull();
    // Up-only steps: each applies on the one before; the stand-ins do not make them fail.
    expect(report.ok).toBe(true);
    expect(report.migrations.map((step) => [step.version, step.status])).toEqual([
      ['0001', 'skip'],
      ['0002', 'skip'],
      ['data', 'skip'], // no seed given: the chain's data is not proven
    ]);
  }, 300_000);
});
