import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One tenant-scoped table as a product writes it: key, tenant, a foreign key, an index, RLS forced. */
function table(index: number): string {
  const name = `t${String(index).padStart(5, '0')}`;
  return `CREATE TABLE ${name} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants, title text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ${name}_tenant_id_idx ON ${name} (tenant_id);
ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY;
ALTER TABLE ${name} FORCE ROW LEVEL SECURITY;
CREATE POLICY ${name}_tenant ON ${name} USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);`;
}

const TENANTS = `CREATE TABLE tenants (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL);
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenants_self ON tenants USING (id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);`;

/** `tables` tenant tables plus the tenants table, in one schema file. */
export async function writeLargeSchemaFile(file: string, tables: number): Promise<void> {
  await writeFile(file, `${[TENANTS, ...Array.from({ length: tables }, (_, index) => table(index))].join('\n')}\n`);
}

/** The same schema as `migrations` golang-migrate migrations (the first also creates tenants). */
export async function writeLargeSchemaMigrations(dir: string, tables: number, migrations: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const per = Math.ceil(tables / migrations);
  for (let step = 0; step < migrations; step++) {
    const indexes = Array.from({ length: Math.min(per, tables - step * per) }, (_, offset) => step * per + offset);
    const up = [...(step === 0 ? [TENANTS] : []), ...indexes.map(table)].join('\n');
    const down = [...indexes.map((index) => `DROP TABLE t${String(index).padStart(5, '0')};`), ...(step === 0 ? ['DROP TABLE tenants;'] : [])].join('\n');
    const version = String(step + 1).padStart(4, '0');
    await writeFile(join(dir, `${version}_tables_${step + 1}.up.sql`), `${up}\n`);
    await writeFile(join(dir, `${version}_tables_${step + 1}.down.sql`), `${down}\n`);
  }
}
