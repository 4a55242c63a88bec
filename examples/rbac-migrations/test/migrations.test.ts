import { fileURLToPath } from 'node:url';
import {
  type MigrationTarget,
  type Session,
  type TestDatabase,
  diffSnapshots,
  formatDiff,
  isEmpty,
  runFullCycle,
  runStairway,
  snapshotSchema,
  sqlDirectory,
} from '@tenantkit/testkit';
import { createTest } from '@tenantkit/testkit/vitest';
import { describe, expect } from 'vitest';

// Every test starts from an empty Postgres database and builds the schema by running the
// migrations themselves, as production does: no create-all, no SQLite.
const test = createTest({ schema: '-- empty database\n', isolation: 'database' });

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));
const A = '0001';

/** The migrations run as the role that owns the schema, not as a superuser. */
function migrateAs(db: TestDatabase): MigrationTarget {
  return { session: db.owner, role: db.owner.role };
}

/** Rows as migration A stores them: name is the action, scope_type the level. */
const SEEDED = [
  { id: 1, name: 'read', scope_type: 'global', description: 'Read anything' },
  { id: 2, name: 'read', scope_type: 'tenant', description: 'Read within a tenant' },
  { id: 3, name: 'write', scope_type: 'tenant', description: null },
  { id: 4, name: 'delete', scope_type: 'project', description: 'Delete within a project' },
  { id: 5, name: 'manage', scope_type: 'global', description: 'Platform administration' },
];

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

async function permissionsBeforeB(session: Session) {
  const { rows } = await session.query('SELECT id, name, scope_type, description FROM permission ORDER BY id');
  return rows;
}

async function permissionsAfterB(session: Session) {
  const { rows } = await session.query(
    'SELECT id, action::text AS action, scope::text AS scope, description FROM permission ORDER BY id',
  );
  return rows;
}

/** The rows migration B must not lose or change, whichever way it runs. */
async function links(session: Session) {
  const { rows: grants } = await session.query('SELECT role_id, permission_id FROM role_permission ORDER BY role_id, permission_id');
  const { rows: assignments } = await session.query(
    'SELECT user_id, role_id, scope_type, scope_id, is_immutable, created_by FROM user_role_assignment ORDER BY id',
  );
  return { grants, assignments };
}

async function enumTypes(session: Session): Promise<string[]> {
  const { rows } = await session.query<{ typname: string }>(
    `SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = 'public' AND t.typtype = 'e' ORDER BY 1`,
  );
  return rows.map((row) => row.typname);
}

async function permissionColumns(session: Session): Promise<string[]> {
  const { rows } = await session.query<{ column: string }>(
    `SELECT attname || ' ' || format_type(atttypid, atttypmod) || CASE WHEN attnotnull THEN ' not null' ELSE '' END AS column
       FROM pg_attribute WHERE attrelid = 'public.permission'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
  );
  return rows.map((row) => row.column);
}

describe('skipped "for later": the migrations run for real on Postgres', () => {
  test('every migration goes up, down and up again to the same schema, then base -> head -> base -> head', async ({ db }) => {
    const migrator = sqlDirectory(MIGRATIONS);
    const options = { inspect: db.admin, target: migrateAs(db) };

    const report = await runStairway(migrator, options);
    expect(report.migrations.map((step) => [step.version, step.name, step.status, step.problems])).toEqual([
      ['0001', 'rbac', 'pass', []],
      ['0002', 'permission_enums', 'pass', []],
    ]);
    expect(report.error).toBeNull();
    expect(report.ok).toBe(true);

    await migrator.down(options.target);
    expect(await migrator.current(options.target)).toBeNull();
    expect(await runFullCycle(migrator, options)).toEqual([]);
    expect(await migrator.current(options.target)).toBe('0002');
  });
});

describe('skipped "for later": existing rows survive migration B and its downgrade', () => {
  test('name/scope_type become action/scope, and come back exactly on the way down', async ({ db }) => {
    const migrator = sqlDirectory(MIGRATIONS);
    const target = migrateAs(db);

    await migrator.up(target, A);
    await seed(db.admin);
    const before = await links(db.admin);

    await migrator.up(target);
    expect(await permissionColumns(db.admin)).toEqual([
      'id integer not null',
      'description text',
      'action permission_action not null',
      'scope permission_scope not null',
    ]);
    expect(await permissionsAfterB(db.admin)).toEqual(
      SEEDED.map(({ id, name, scope_type, description }) => ({ id, action: name, scope: scope_type, description })),
    );
    expect(await links(db.admin)).toEqual(before);
    const { rows: roles } = await db.admin.query('SELECT name, is_system, is_global FROM role ORDER BY id');
    expect(roles).toEqual([
      { name: 'admin', is_system: true, is_global: false },
      { name: 'viewer', is_system: false, is_global: false },
    ]);

    await migrator.down(target, A);
    expect(await migrator.current(target)).toBe(A);
    expect(await permissionsBeforeB(db.admin)).toEqual(SEEDED);
    expect(await permissionColumns(db.admin)).toEqual([
      'id integer not null',
      'description text',
      'name character varying(100) not null',
      'scope_type character varying(50) not null',
    ]);
    expect(await enumTypes(db.admin)).toEqual([]);
    expect(await links(db.admin)).toEqual(before);

    await migrator.up(target);
    expect(await permissionsAfterB(db.admin)).toEqual(
      SEEDED.map(({ id, name, scope_type, description }) => ({ id, action: name, scope: scope_type, description })),
    );
    expect(await enumTypes(db.admin)).toEqual(['permission_action', 'permission_scope']);
    expect(await links(db.admin)).toEqual(before);
  });

  test('the same data check, as hooks of the stairway', async ({ db }) => {
    const migrator = sqlDirectory(MIGRATIONS);
    const checked: string[] = [];
    const report = await runStairway(migrator, {
      inspect: db.admin,
      target: migrateAs(db),
      // Migration A's own down drops its tables, so its rows are seeded again once it is back up.
      afterUp: async (migration, session) => {
        if (migration.version === A) await seed(session);
      },
      verify: async (migration, phase, session) => {
        if (migration.version === A && phase === 'up-again') await seed(session);
        if (migration.version !== '0002') return;
        checked.push(phase);
        if (phase === 'down') expect(await permissionsBeforeB(session)).toEqual(SEEDED);
        else
          expect(await permissionsAfterB(session)).toEqual(
            SEEDED.map(({ id, name, scope_type, description }) => ({ id, action: name, scope: scope_type, description })),
          );
      },
    });
    expect(report.migrations.flatMap((step) => step.problems)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(checked).toEqual(['down', 'up-again']);
  });

  test('a row that maps to no enum label stops migration B before anything changes', async ({ db }) => {
    const migrator = sqlDirectory(MIGRATIONS);
    const target = migrateAs(db);
    await migrator.up(target, A);
    await seed(db.admin);
    await db.admin.query(`INSERT INTO permission (id, name, scope_type) VALUES (6, 'impersonate', 'tenant')`);

    const error = await migrator.up(target).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: 'TENANTKIT_MIGRATION_FAILED' });
    expect((error as Error).message).toContain(`id 6: name 'impersonate', scope_type 'tenant'`);
    expect((error as Error).message).toMatch(/0002_permission_enums\.up\.sql/);
    // The migration ran in one transaction: the old columns and rows are untouched.
    expect(await permissionsBeforeB(db.admin)).toEqual([
      ...SEEDED,
      { id: 6, name: 'impersonate', scope_type: 'tenant', description: null },
    ]);
    expect(await enumTypes(db.admin)).toEqual([]);
  });
});

describe('skipped "for later": repeated up/down cycles', () => {
  test('three downgrade/upgrade cycles of migration B keep every row and rebuild the same schema', async ({ db }) => {
    const migrator = sqlDirectory(MIGRATIONS);
    const target = migrateAs(db);
    await migrator.up(target, A);
    await seed(db.admin);
    const before = await links(db.admin);
    const atA = await snapshotSchema(db.admin, { ignoreTables: ['public.schema_migrations'] });
    await migrator.up(target);
    const atHead = await snapshotSchema(db.admin, { ignoreTables: ['public.schema_migrations'] });

    for (let cycle = 1; cycle <= 3; cycle++) {
      await migrator.down(target, A);
      const down = diffSnapshots(atA, await snapshotSchema(db.admin, { ignoreTables: ['public.schema_migrations'] }));
      expect(isEmpty(down), `cycle ${cycle}, after down:\n${formatDiff(down)}`).toBe(true);
      expect(await permissionsBeforeB(db.admin)).toEqual(SEEDED);

      await migrator.up(target);
      const up = diffSnapshots(atHead, await snapshotSchema(db.admin, { ignoreTables: ['public.schema_migrations'] }));
      expect(isEmpty(up), `cycle ${cycle}, after up:\n${formatDiff(up)}`).toBe(true);
      expect(await permissionsAfterB(db.admin)).toEqual(
        SEEDED.map(({ id, name, scope_type, description }) => ({ id, action: name, scope: scope_type, description })),
      );
      expect(await links(db.admin)).toEqual(before);
    }
    const { rows } = await db.admin.query<{ n: number }>('SELECT count(*)::int AS n FROM permission');
    expect(rows[0]?.n).toBe(SEEDED.length);
  });
});
