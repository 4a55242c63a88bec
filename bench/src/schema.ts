import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const TENANT_TABLES = 28;

/**
 * A 31-table, 20-migration multi-tenant schema: tenants, users and 28 more tenant-scoped tables
 * with RLS (30 tables an audit probes),
 * indexes, checks and foreign keys, and one global lookup table, spread over migrations the way a
 * product grows.
 */
export async function writeBenchMigrations(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const migrations: { name: string; up: string; down: string }[] = [];
  migrations.push({
    name: 'core',
    up: `CREATE TABLE plans (plan_id text PRIMARY KEY, seats int NOT NULL CHECK (seats > 0));
INSERT INTO plans VALUES ('free', 1), ('pro', 10), ('enterprise', 1000);
CREATE TABLE tenants (tenant_id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL,
  domain text UNIQUE, plan_id text NOT NULL REFERENCES plans DEFAULT 'free', created_at timestamptz NOT NULL DEFAULT now());
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_self ON tenants USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE TABLE users (user_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants,
  email text NOT NULL UNIQUE, role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')), created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX users_tenant_id_idx ON users (tenant_id);
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON users USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);`,
    down: 'DROP TABLE users; DROP TABLE tenants; DROP TABLE plans;',
  });
  // 28 tenant tables over 18 migrations, then one migration that alters a few of them.
  let table = 0;
  for (let m = 0; m < 18; m++) {
    const up: string[] = [];
    const down: string[] = [];
    const count = m < 10 ? 2 : 1;
    for (let i = 0; i < count && table < TENANT_TABLES; i++, table++) {
      const name = `entity_${String(table + 1).padStart(2, '0')}`;
      const parent = table > 0 ? `entity_${String(table).padStart(2, '0')}` : undefined;
      up.push(`CREATE TABLE ${name} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants,
  owner_id bigint REFERENCES users,
  ${parent ? `parent_id bigint REFERENCES ${parent},` : ''}
  title varchar(200) NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'archived')),
  amount numeric(12, 2) CHECK (amount >= 0),
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, title)
);
CREATE INDEX ${name}_tenant_id_idx ON ${name} (tenant_id);
CREATE INDEX ${name}_created_at_idx ON ${name} (tenant_id, created_at DESC);
ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${name} FORCE ROW LEVEL SECURITY;
CREATE POLICY ${name}_tenant ON ${name} USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);`);
      down.unshift(`DROP TABLE ${name};`);
    }
    migrations.push({ name: `tables_${m + 1}`, up: up.join('\n'), down: down.join('\n') });
  }
  migrations.push({
    name: 'audit',
    up: `CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE TRIGGER entity_01_touch BEFORE UPDATE ON entity_01 FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE entity_02 ADD COLUMN archived_at timestamptz;
CREATE VIEW open_entities WITH (security_invoker = true) AS SELECT id, tenant_id, title FROM entity_01 WHERE status = 'open';`,
    down: `DROP VIEW open_entities; ALTER TABLE entity_02 DROP COLUMN archived_at; DROP TRIGGER entity_01_touch ON entity_01; DROP FUNCTION touch();`,
  });
  for (const [index, migration] of migrations.entries()) {
    const base = `${String(index + 1).padStart(4, '0')}_${migration.name}`;
    await writeFile(join(dir, `${base}.up.sql`), `${migration.up}\n`);
    await writeFile(join(dir, `${base}.down.sql`), `${migration.down}\n`);
  }
  return migrations.length;
}

/** `count` small migrations with exact downs, for timing the stairway: a table, an index, RLS and a policy each. */
export async function writeStairwayMigrations(dir: string, count: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, '0001_tenants.up.sql'), 'CREATE TABLE tenants (tenant_id uuid PRIMARY KEY, name text NOT NULL);\n');
  await writeFile(join(dir, '0001_tenants.down.sql'), 'DROP TABLE tenants;\n');
  for (let i = 2; i <= count; i++) {
    const name = `step_${String(i).padStart(2, '0')}`;
    const base = `${String(i).padStart(4, '0')}_${name}`;
    await writeFile(
      join(dir, `${base}.up.sql`),
      `CREATE TABLE ${name} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, label text NOT NULL DEFAULT '');
CREATE INDEX ${name}_tenant_idx ON ${name} (tenant_id);
ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY;
CREATE POLICY ${name}_tenant ON ${name} USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
`,
    );
    await writeFile(join(dir, `${base}.down.sql`), `DROP TABLE ${name};\n`);
  }
}

const SUITE_ADDITIONS = new URL('../fixtures/suite-migrations/', import.meta.url);

/**
 * The suite's schema: the bench schema's 20 migrations, then the documents table its tests use
 * (bench/fixtures/suite-migrations), as a product's 21st and 22nd migrations would add it.
 */
export async function writeSuiteMigrations(dir: string): Promise<number> {
  const count = await writeBenchMigrations(dir);
  const additions = (await readdir(SUITE_ADDITIONS)).filter((name) => name.endsWith('.sql'));
  for (const name of additions) await copyFile(new URL(name, SUITE_ADDITIONS), join(dir, name));
  return count + additions.filter((name) => name.endsWith('.up.sql')).length;
}
