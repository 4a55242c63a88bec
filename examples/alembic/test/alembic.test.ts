import { fileURLToPath } from 'node:url';
import { type Kit, type MigrationTarget, type Session, type TestDatabase, commandMigrator, runStairway, startKit } from '@tenantkit/testkit';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

// Scenario 3 as an Alembic project: the kit starts an empty Postgres database and the
// revisions are applied by the alembic command line, as a deploy would run them.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ALEMBIC_INI = fileURLToPath(new URL('../alembic.ini', import.meta.url));
const ENV_PY = fileURLToPath(new URL('../alembic/env.py', import.meta.url));
const versionFile = (name: string) => fileURLToPath(new URL(`../alembic/versions/${name}`, import.meta.url));

const RBAC = 'a1f3c2d4e5b6';
const ENUMS = 'b7e9d0c1f2a3';
const PROJECTS = 'd4f1a8c2e6b9';
const REVISIONS = [
  { version: RBAC, name: 'rbac', file: versionFile(`${RBAC}_rbac.py`) },
  { version: ENUMS, name: 'permission_enums', file: versionFile(`${ENUMS}_permission_enums.py`) },
  { version: PROJECTS, name: 'tenant_projects', file: versionFile(`${PROJECTS}_tenant_projects.py`) },
];

const alembic = (...args: string[]) => ['/usr/bin/python3', '-m', 'alembic', '-c', ALEMBIC_INI, ...args];

function alembicMigrator() {
  return commandMigrator({
    source: 'alembic (examples/alembic/alembic/versions)',
    migrations: REVISIONS,
    up: (revision) => alembic('upgrade', revision),
    down: (revision) => alembic('downgrade', revision ?? 'base'),
    cwd: ROOT,
    hashFiles: [ALEMBIC_INI, ENV_PY],
    stateTable: { table: 'alembic_version', column: 'version_num' },
  });
}

/** Alembic logs in as the role that owns the database, not as a superuser. */
function migrateAs(db: TestDatabase): MigrationTarget {
  return { session: db.owner, role: db.owner.role, url: db.owner.url };
}

const SEEDED = [
  { id: 1, name: 'read', scope_type: 'global', description: 'Read anything' },
  { id: 2, name: 'read', scope_type: 'tenant', description: 'Read within a tenant' },
  { id: 3, name: 'write', scope_type: 'tenant', description: null },
  { id: 4, name: 'delete', scope_type: 'project', description: 'Delete within a project' },
  { id: 5, name: 'manage', scope_type: 'global', description: 'Platform administration' },
];
const AFTER_ENUMS = SEEDED.map(({ id, name, scope_type, description }) => ({ id, action: name, scope: scope_type, description }));

async function seed(session: Session): Promise<void> {
  for (const row of SEEDED) {
    await session.query('INSERT INTO permission (id, name, scope_type, description) VALUES ($1, $2, $3, $4)', [
      row.id,
      row.name,
      row.scope_type,
      row.description,
    ]);
  }
  await session.exec(`
    INSERT INTO "user" (id, email) VALUES (1, 'ada@example.com'), (2, 'grace@example.com');
    INSERT INTO role (id, name, description, is_system) VALUES (1, 'admin', 'Everything', true), (2, 'viewer', NULL, false);
    INSERT INTO role_permission (role_id, permission_id) VALUES (1, 1), (1, 3), (1, 4), (1, 5), (2, 1), (2, 2);
    INSERT INTO user_role_assignment (user_id, role_id, scope_type, scope_id, is_immutable, created_by)
    VALUES (1, 1, 'global', NULL, true, NULL),
           (2, 2, 'tenant', '00000000-0000-4000-8000-000000000001', false, 1);
  `);
}

async function links(session: Session) {
  const { rows: grants } = await session.query('SELECT role_id, permission_id FROM role_permission ORDER BY role_id, permission_id');
  const { rows: assignments } = await session.query(
    'SELECT user_id, role_id, scope_type, scope_id, is_immutable, created_by FROM user_role_assignment ORDER BY id',
  );
  return { grants, assignments };
}

async function permissionColumns(session: Session): Promise<string[]> {
  const { rows } = await session.query<{ column: string }>(
    `SELECT attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END AS column
       FROM pg_attribute WHERE attrelid = 'public.permission'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
  );
  return rows.map((row) => row.column);
}

async function enumTypes(session: Session): Promise<string[]> {
  const { rows } = await session.query<{ typname: string }>(
    `SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = 'public' AND t.typtype = 'e' ORDER BY 1`,
  );
  return rows.map((row) => row.typname);
}

async function alembicRevision(session: Session): Promise<string | null> {
  const { rows } = await session.query<{ version_num: string }>('SELECT version_num FROM alembic_version');
  return rows[0]?.version_num ?? null;
}

let kit: Kit;

beforeAll(async () => {
  kit = await startKit({ backend: 'native', schema: '-- empty database\n', isolation: 'database', poolSize: 0 });
});

afterAll(async () => {
  await kit?.stop();
});

async function withDatabase(fn: (db: TestDatabase) => Promise<void>): Promise<void> {
  const db = await kit.acquire();
  try {
    await fn(db);
  } finally {
    await db.release();
  }
}

describe('alembic revisions of scenario 3', () => {
  test('every revision goes up, down and up again to the same schema', () =>
    withDatabase(async (db) => {
      const migrator = alembicMigrator();
      const report = await runStairway(migrator, {
        inspect: db,
        target: migrateAs(db),
        ignoreTables: ['public.alembic_version'],
      });
      expect(report.migrations.map((step) => [step.version, step.name, step.status, step.problems])).toEqual([
        [RBAC, 'rbac', 'pass', []],
        [ENUMS, 'permission_enums', 'pass', []],
        [PROJECTS, 'tenant_projects', 'pass', []],
      ]);
      expect(report.error).toBeNull();
      expect(report.ok).toBe(true);
      expect(await alembicRevision(db)).toBe(PROJECTS);
    }));

  test('existing rows survive the enum refactor and come back exactly on downgrade', () =>
    withDatabase(async (db) => {
      const migrator = alembicMigrator();
      const target = migrateAs(db);

      await migrator.up(target, RBAC);
      expect(await alembicRevision(db)).toBe(RBAC);
      await seed(db);
      const before = await links(db);

      await migrator.up(target, ENUMS);
      expect(await alembicRevision(db)).toBe(ENUMS);
      expect(await permissionColumns(db)).toEqual([
        'id integer not null',
        'description text',
        'action permission_action not null',
        'scope permission_scope not null',
      ]);
      const { rows: afterUp } = await db.query(
        'SELECT id, action::text AS action, scope::text AS scope, description FROM permission ORDER BY id',
      );
      expect(afterUp).toEqual(AFTER_ENUMS);
      expect(await enumTypes(db)).toEqual(['permission_action', 'permission_scope']);
      expect(await links(db)).toEqual(before);
      const { rows: roles } = await db.query('SELECT name, is_system, is_global FROM role ORDER BY id');
      expect(roles).toEqual([
        { name: 'admin', is_system: true, is_global: false },
        { name: 'viewer', is_system: false, is_global: false },
      ]);

      await migrator.down(target, RBAC);
      expect(await alembicRevision(db)).toBe(RBAC);
      const { rows: afterDown } = await db.query('SELECT id, name, scope_type, description FROM permission ORDER BY id');
      expect(afterDown).toEqual(SEEDED);
      expect(await permissionColumns(db)).toEqual([
        'id integer not null',
        'description text',
        'name character varying(100) not null',
        'scope_type character varying(50) not null',
      ]);
      expect(await enumTypes(db)).toEqual([]);
      expect(await links(db)).toEqual(before);
    }));

  test('a row that maps to no enum label stops the upgrade before anything changes', () =>
    withDatabase(async (db) => {
      const migrator = alembicMigrator();
      const target = migrateAs(db);
      await migrator.up(target, RBAC);
      await seed(db);
      await db.query(`INSERT INTO permission (id, name, scope_type) VALUES (6, 'impersonate', 'tenant')`);

      const error = await migrator.up(target, ENUMS).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toMatchObject({ code: 'TENANTKIT_MIGRATION_FAILED' });
      expect((error as Error).message).toContain(`id 6: name 'impersonate', scope_type 'tenant'`);
      expect(await alembicRevision(db)).toBe(RBAC);
      const { rows } = await db.query('SELECT id, name, scope_type, description FROM permission ORDER BY id');
      expect(rows).toEqual([...SEEDED, { id: 6, name: 'impersonate', scope_type: 'tenant', description: null }]);
      expect(await enumTypes(db)).toEqual([]);
    }));
});
