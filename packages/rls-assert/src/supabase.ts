import { type AutoFactories, type Row, type SchemaModel, type TableModel, type TableSeed, type Tenancy, type World, createFaker, insertRows, keyText } from '@tenantkit/fixtures';
import { type Queryable, type Session, type TestDatabase, quoteIdent } from '@tenantkit/testkit';
import type { TenantContext } from './context.js';
import { expectApplied, requireName, requireSettingName, setLocal, setLocalRole } from './context-steps.js';
import { TenantContextError } from './errors.js';
import { count, failsClosed } from './outcome.js';
import { keyFilter } from './probes.js';
import type { Finding } from './types.js';

/** Where the user id the policies read (auth.uid()) meets the tenant: a membership table. */
export interface Membership {
  readonly table: TableModel;
  /** Its column holding the tenant (organisation) id. */
  readonly tenantColumn: string;
  /** Its column holding the user id, compared with auth.uid(). */
  readonly userColumn: string;
  /** The table user ids are keys of: auth.users, or a profiles table keyed by them. */
  readonly users: string;
}

const USERS = 'auth.users';
const USER_COLUMN = /^(user|profile|member|account_user)_?id$/i;
/** A signed-in user who belongs to no tenant: what a garbage tenant value stands for. */
const NO_TENANT_USER = '00000000-0000-4000-8000-000000000000';

/** Tables whose key is a user id: auth.users, and tables keyed by a foreign key to it (profiles). */
function userTables(model: SchemaModel): Set<string> {
  const ids = new Set([USERS]);
  for (const table of model.tables) {
    if (table.primaryKey.length !== 1) continue;
    if (table.foreignKeys.some((fk) => fk.columns.length === 1 && fk.columns[0] === table.primaryKey[0] && `${fk.references.schema}.${fk.references.table}` === USERS)) ids.add(table.id);
  }
  return ids;
}

/**
 * The membership table of a schema whose policies find the tenant through the signed-in user:
 * a tenant-scoped table with a column that references auth.users (or a profiles table keyed by
 * it), or failing that a uuid column named user_id, profile_id or member_id. Among several, one
 * named like a membership, then one the policies or their functions name, wins.
 */
export function findMembership(model: SchemaModel, tenancy: Tenancy, policyText: string): Membership | undefined {
  const users = userTables(model);
  const candidates: Membership[] = [];
  for (const table of model.tables) {
    const info = tenancy.tables.get(table.id);
    if (info?.kind !== 'tenant' || info.tenantColumn === undefined || users.has(table.id)) continue;
    const tenantColumn = info.tenantColumn;
    const byKey = table.foreignKeys.find((fk) => fk.columns.length === 1 && fk.columns[0] !== tenantColumn && users.has(`${fk.references.schema}.${fk.references.table}`));
    if (byKey) {
      candidates.push({ table, tenantColumn, userColumn: byKey.columns[0]!, users: `${byKey.references.schema}.${byKey.references.table}` });
      continue;
    }
    const byName = table.columns.find((column) => column.name !== tenantColumn && column.baseType === 'uuid' && USER_COLUMN.test(column.name));
    if (byName) candidates.push({ table, tenantColumn, userColumn: byName.name, users: USERS });
  }
  const text = policyText.toLowerCase();
  const rank = (entry: Membership) => (/member/i.test(entry.table.name) ? 0 : 2) + (text.includes(entry.table.name.toLowerCase()) ? 0 : 1);
  return candidates.sort((x, y) => rank(x) - rank(y) || x.table.id.localeCompare(y.table.id))[0];
}

export interface MembershipContextOptions {
  /** The membership table, `schema.table` or a public table's name (default: discovered). */
  readonly table?: string;
  /** Its column holding the user id (default: discovered). */
  readonly userColumn?: string;
  /** The role requests switch to. Default authenticated. */
  readonly role?: string;
  /** The setting holding the claims as JSON. Default request.jwt.claims. */
  readonly claimsSetting?: string;
}

/** The policies' expressions and the bodies of the functions outside pg_catalog and auth, as one text. */
export async function policyText(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ text: string }>(
    `SELECT coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '') || ' ' || coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '') AS text
       FROM pg_catalog.pg_policy p
     UNION ALL
     SELECT pr.prosrc FROM pg_catalog.pg_proc pr JOIN pg_catalog.pg_namespace n ON n.oid = pr.pronamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'auth')`,
  );
  return rows.map((row) => row.text).join('\n');
}

function resolveMembership(factories: AutoFactories, text: string, options: MembershipContextOptions): Membership {
  const { model, tenancy } = factories;
  if (options.table !== undefined) {
    const table = model.tables.find((entry) => entry.id === options.table || (entry.schema === 'public' && entry.name === options.table));
    const tenantColumn = table ? tenancy.tables.get(table.id)?.tenantColumn : undefined;
    if (!table || tenantColumn === undefined) {
      throw new TenantContextError(String(options.table), `the membership table ${options.table} is not a table with a tenant column in this database`, 'Name the table that links users to tenants (schema.table), with the tenant column the other tables use.');
    }
    const userColumn = options.userColumn ?? table.columns.find((column) => column.name !== tenantColumn && USER_COLUMN.test(column.name))?.name;
    if (userColumn === undefined || !table.columns.some((column) => column.name === userColumn)) {
      throw new TenantContextError(`${table.id}.${options.userColumn ?? 'user_id'}`, `${table.id} has no user column ${options.userColumn ?? '(user_id, profile_id, member_id)'}`, `Name the column holding the user id: one of ${table.columns.map((column) => column.name).join(', ')}.`);
    }
    return { table, tenantColumn, userColumn, users: USERS };
  }
  const found = findMembership(model, tenancy, text);
  if (!found) {
    throw new TenantContextError(
      'membership',
      'the policies find the tenant through the signed-in user (auth.uid()), but no table links users to tenants: none has both a tenant column and a column referencing auth.users (or named user_id)',
      'Name the membership table and its user column (membershipContext({ table, userColumn }), --membership TABLE.COLUMN), or put the tenant in a JWT claim (--jwt-claims).',
    );
  }
  return found;
}

/** A row for `table`: its own values generated, its foreign keys those of `like` (the same tenant's), then `fixed`. */
function rowLike(factories: AutoFactories, table: TableModel, like: Row | undefined, fixed: Row, sequence: number): Row {
  const generated = factories.generateRow(table, createFaker(sequence), sequence, fixed);
  const parents: Row = {};
  for (const fk of table.foreignKeys) for (const column of fk.columns) if (like && like[column] !== undefined) parents[column] = like[column];
  const row: Row = { ...generated, ...parents, ...fixed };
  for (const column of table.columns) if (column.generated || column.identity === 'always') delete row[column.name];
  return row;
}

/**
 * Supabase style tenancy through membership: a request of tenant T is a signed-in user who belongs
 * to T (request.jwt.claims {"sub": <user>, "role": "authenticated"}, then SET LOCAL ROLE
 * authenticated), and auth.uid() finds T through the membership table. After seeding, one user per
 * tenant is created (in auth.users, and the profiles table when memberships reference one) with one
 * membership row in its tenant only; those rows join the world, so every probe counts them. An
 * empty tenant is a request without a token; a garbage one, a signed-in user of no tenant.
 */
export function membershipContext(options: MembershipContextOptions = {}): TenantContext {
  const role = requireName('The JWT role', options.role ?? 'authenticated');
  const setting = requireSettingName('The claims setting', options.claimsSetting ?? 'request.jwt.claims');
  const users = new Map<string, string>();
  let where = 'the membership table';
  return {
    get description() {
      return `set_config('${setting}', {"sub": <a user who belongs to the tenant in ${where}>, "role": "${role}"}, true) + SET LOCAL ROLE ${role}`;
    },
    settings: [setting],
    switchesRole: true,
    clearedValue: '',
    async prepare(db, world, factories) {
      const membership = resolveMembership(factories, await policyText(db.admin), options);
      where = `${membership.table.id}.${membership.userColumn}`;
      return addTenantUsers(db, world, factories, membership, users);
    },
    async apply(tx, tenant) {
      let json = '';
      if (tenant !== '') {
        const sub = users.get(tenant) ?? (users.size > 0 ? NO_TENANT_USER : undefined);
        if (sub === undefined) {
          throw new TenantContextError('membership', `no user was created for tenant ${JSON.stringify(tenant)}: the membership context creates one per seeded tenant after seeding`, 'Use it through checkIsolation (which seeds the tenants and prepares the context), or call context.prepare(db, world, factories) first.');
        }
        json = JSON.stringify({ sub, role, aud: 'authenticated', email: `${sub}@tenantkit.test` });
      }
      await setLocal(tx, setting, json);
      await setLocalRole(tx, role, 'JWT role');
      await expectApplied(tx, `set_config('${setting}', ..., true)`, setting, json, role);
    },
  };
}

async function addTenantUsers(db: TestDatabase, world: World, factories: AutoFactories, membership: Membership, users: Map<string, string>): Promise<World> {
  const { table, tenantColumn, userColumn } = membership;
  const seeded = world.table(table.id);
  const added: Record<string, string[][]> = {};
  const faker = createFaker(world.seed + 7919);
  for (const [index, tenant] of world.tenants.entries()) {
    const user = faker.string.uuid();
    const email = `tenant-${index + 1}-user@tenantkit.test`;
    await db.admin.query(`INSERT INTO auth.users (id, email, role, aud, raw_user_meta_data) VALUES ($1, $2, 'authenticated', 'authenticated', $3)`, [user, email, JSON.stringify({ full_name: `Tenant ${index + 1} user` })]);
    if (membership.users !== USERS) await ensureProfile(db, factories, membership.users, user, index);
    const like = (await db.admin.query<Row>(`SELECT * FROM ${table.qualified} WHERE ${quoteIdent(tenantColumn)}::text = $1 LIMIT 1`, [tenant])).rows[0];
    let stored: Row[];
    try {
      stored = await insertRows(db, table, [rowLike(factories, table, like, { [tenantColumn]: tenant, [userColumn]: user }, 1000 + index)]);
    } catch (error) {
      throw new TenantContextError(
        table.id,
        `a membership of a new user in tenant ${tenant} could not be added to ${table.id}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
        'Seed the world by hand with one user per tenant (checkIsolation({ world, context })), or name another membership table.',
        error,
      );
    }
    users.set(tenant, user);
    added[tenant] = stored.map((row) => table.primaryKey.map((column) => keyText(row[column])));
  }
  if (!seeded) return world;
  const grown: TableSeed = {
    ...seeded,
    rows: seeded.rows + world.tenants.length,
    perTenant: Object.fromEntries(world.tenants.map((tenant) => [tenant, (seeded.perTenant[tenant] ?? 0) + (added[tenant]?.length ?? 0)])),
    keys: Object.fromEntries(world.tenants.map((tenant) => [tenant, [...(seeded.keys[tenant] ?? []), ...(added[tenant] ?? [])]])),
  };
  const tables = world.tables.map((entry) => (entry === seeded ? grown : entry));
  return { ...world, tables, table: (id) => tables.find((entry) => entry.table === id) ?? tables.find((entry) => entry.table === `public.${id}`) };
}

/** A profiles row for a new user, unless a trigger on auth.users made one already. */
async function ensureProfile(db: TestDatabase, factories: AutoFactories, id: string, user: string, index: number): Promise<void> {
  const table = factories.model.tables.find((entry) => entry.id === id)!;
  const key = table.primaryKey[0]!;
  const { rows } = await db.admin.query(`SELECT 1 FROM ${table.qualified} WHERE ${quoteIdent(key)} = $1`, [user]);
  if (rows.length > 0) return;
  const like = (await db.admin.query<Row>(`SELECT * FROM ${table.qualified} LIMIT 1`)).rows[0];
  await insertRows(db, table, [rowLike(factories, table, like, { [key]: user }, 2000 + index)]);
}

/**
 * What the `anon` role (a request without a token) can do to the seeded tenant rows: read them,
 * change them or delete them. Every statement runs as anon with anon's claims in a transaction
 * that is rolled back. A row read or written is an error finding; an error other than a refusal
 * is one too (nothing was shown).
 */
export async function probeAnon(db: TestDatabase, world: World, tables: readonly TableModel[], tenantColumnOf: (table: TableModel) => string | undefined): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const table of tables) {
    const keys = world.tenants.flatMap((tenant) => world.table(table.id)?.keys[tenant] ?? []);
    // With no primary key the seeded rows cannot be told apart, but in this fresh database every row
    // of a tenant table is a seeded tenant's: anon is probed on the whole table.
    const whole = table.primaryKey.length === 0;
    const rows = whole ? await wholeTableRows(db, table) : keys.length;
    if (rows === 0) {
      findings.push({
        code: 'TK_ANON_NOT_PROVEN',
        severity: 'error',
        object: table.id,
        message: `what anon can reach in ${table.id} could not be shown: no tenant rows were seeded in it.`,
        hint: 'Make the table seedable (see the seeding error for it), or give it a factory; until then nothing about anon is proven for it.',
      });
      continue;
    }
    const filter = whole ? { sql: 'TRUE', params: [] } : keyFilter(table, keys, 1);
    const column = tenantColumnOf(table) ?? table.primaryKey[0] ?? table.columns.find((entry) => !entry.generated && entry.identity !== 'always')?.name ?? table.columns[0]!.name;
    const statements: [string, string][] = [
      ['read', `SELECT count(*) AS n FROM ${table.qualified} WHERE ${filter.sql}`],
      ['update', `WITH changed AS (UPDATE ${table.qualified} SET ${quoteIdent(column)} = ${quoteIdent(column)} WHERE ${filter.sql} RETURNING 1) SELECT count(*) AS n FROM changed`],
      ['delete', `WITH gone AS (DELETE FROM ${table.qualified} WHERE ${filter.sql} RETURNING 1) SELECT count(*) AS n FROM gone`],
    ];
    for (const [what, sql] of statements) {
      const outcome = await asAnon(db, (tx) => count(tx, sql, filter.params, tx));
      if (typeof outcome === 'number') {
        if (outcome > 0) {
          findings.push({
            code: 'TK_ANON_REACHES_TENANT_ROWS',
            severity: 'error',
            object: table.id,
            message: `anon (a request without a token) could ${what} ${outcome} of the ${rows} seeded tenant row(s) of ${table.id}.`,
            hint: `Write the policies TO authenticated (not TO public or anon), and revoke what anon does not need: REVOKE ALL ON ${table.qualified} FROM anon;`,
          });
        }
      } else if (!failsClosed(outcome) && outcome.code !== '42501') {
        findings.push({
          code: 'TK_ANON_NOT_PROVEN',
          severity: 'error',
          object: table.id,
          message: `what anon can ${what} in ${table.id} could not be shown: ${outcome.code ?? 'no SQLSTATE'}: ${outcome.message}`,
          hint: 'Fix the error above (a policy or function that fails for a request without a token); until then nothing about anon is proven.',
        });
      }
    }
  }
  return findings;
}

async function wholeTableRows(db: TestDatabase, table: TableModel): Promise<number> {
  const { rows } = await db.admin.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table.qualified}`);
  return Number(rows[0]?.n ?? 0);
}

async function asAnon<T>(db: TestDatabase, fn: (tx: Session) => Promise<T>): Promise<T> {
  let result: T | undefined;
  try {
    await db.admin.transaction(async (tx) => {
      await setLocal(tx, 'request.jwt.claims', JSON.stringify({ role: 'anon' }));
      await tx.exec('SET LOCAL ROLE anon');
      result = await fn(tx);
      throw new RolledBack();
    });
  } catch (error) {
    if (!(error instanceof RolledBack)) throw error;
  }
  return result as T;
}

class RolledBack extends Error {}

/**
 * A Supabase database (the preset's, or a project's own): the API roles exist and auth.uid() reads
 * the request's claims.
 */
export async function isSupabase(db: Queryable): Promise<boolean> {
  const { rows } = await db.query<{ ok: boolean }>(
    `SELECT (SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname IN ('anon', 'authenticated')) = 2
        AND pg_catalog.to_regprocedure('auth.uid()') IS NOT NULL AS ok`,
  );
  return rows[0]?.ok === true;
}
