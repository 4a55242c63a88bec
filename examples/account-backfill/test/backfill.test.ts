import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  type MigrationTarget,
  type Session,
  type TestDatabase,
  formatNullGate,
  nullGate,
  runFullCycle,
  runStairway,
  sqlDirectory,
} from '@tenantkit/testkit';
import { createTest } from '@tenantkit/testkit/vitest';
import { describe, expect } from 'vitest';

// Every test starts from an empty Postgres database and runs the real migrations.
const test = createTest({ schema: '-- empty database\n', isolation: 'database' });

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));
const SESSIONS_UP = fileURLToPath(new URL('../migrations/0003_sessions_account_id.up.sql', import.meta.url));

const PLATFORM = '00000000-0000-0000-0000-000000000001';
const ACME = '00000000-0000-4000-8000-00000000000a';
const GLOBEX = '00000000-0000-4000-8000-00000000000b';
const ADA = '00000000-0000-4000-8000-0000000000a1';
const GRACE = '00000000-0000-4000-8000-0000000000b1';
const TREE = '00000000-0000-4000-8000-0000000000f1';
const STEP = '00000000-0000-4000-8000-0000000000f2';
const ADA_SESSION = '00000000-0000-4000-8000-0000000000c1';
const GRACE_SESSION = '00000000-0000-4000-8000-0000000000c2';
const ORPHAN_SESSION = '00000000-0000-4000-8000-0000000000c3';
const ACME_AI = '00000000-0000-4000-8000-0000000000d1';
const PLATFORM_AI = '00000000-0000-4000-8000-0000000000d2';

function migrateAs(db: TestDatabase): MigrationTarget {
  return { session: db.owner, role: db.owner.role };
}

/** Two accounts reaching their tables only through the foreign-key chains, plus a platform-run ai_session. */
async function seedBase(session: Session): Promise<void> {
  await session.exec(`
    INSERT INTO accounts (account_id, name) VALUES ('${ACME}', 'Acme'), ('${GLOBEX}', 'Globex');
    INSERT INTO users (user_id, account_id, email) VALUES ('${ADA}', '${ACME}', 'ada@acme.test'), ('${GRACE}', '${GLOBEX}', 'grace@globex.test');
    INSERT INTO sessions (session_id, user_id, user_agent) VALUES ('${ADA_SESSION}', '${ADA}', 'firefox'), ('${GRACE_SESSION}', '${GRACE}', 'curl');
    INSERT INTO attachments (session_id, file_name, content_type, size_bytes)
    VALUES ('${ADA_SESSION}', 'plan.pdf', 'application/pdf', 1024), ('${GRACE_SESSION}', 'logo.png', 'image/png', 2048);
    INSERT INTO platform_trees (tree_id, slug, title) VALUES ('${TREE}', 'onboarding', 'Onboarding');
    INSERT INTO platform_steps (step_id, tree_id, position, prompt) VALUES ('${STEP}', '${TREE}', 1, 'Welcome');
  `);
}

async function seedAiSessions(session: Session, platformAccount: string | null): Promise<void> {
  await session.query(
    `INSERT INTO ai_sessions (ai_session_id, account_id, tree_id, model) VALUES ($1, $2, $4, 'small'), ($3, $5, $4, 'small')`,
    [ACME_AI, ACME, PLATFORM_AI, TREE, platformAccount],
  );
  await session.query(`INSERT INTO outputs (ai_session_id, step_id, body) VALUES ($1, $3, 'hello acme'), ($2, $3, 'hello world')`, [
    ACME_AI,
    PLATFORM_AI,
    STEP,
  ]);
}

async function accountsOf(session: Session, table: string, key: string): Promise<Record<string, string>> {
  const { rows } = await session.query<{ key: string; account_id: string }>(`SELECT ${key}::text AS key, account_id::text FROM ${table}`);
  return Object.fromEntries(rows.map((row) => [row.key, row.account_id]));
}

describe('the NULL gate is one line', () => {
  test('after each migration, no table that has account_id holds a NULL in it', async ({ db }) => {
    const migrator = sqlDirectory(MIGRATIONS);
    const target = migrateAs(db);
    const gate = () => nullGate(db, { column: 'account_id' });

    await migrator.up(target, '0001');
    await seedBase(db.admin);
    await seedAiSessions(db.admin, null);
    // Before 0002, platform-run ai_sessions have no account: the gate sees it and says which row.
    const base = await gate();
    expect(base.ok).toBe(false);
    expect(base.tables.filter((table) => table.nulls > 0).map((table) => [table.table, table.nulls, table.rows[0]?.key])).toEqual([
      ['public.ai_sessions', 1, { ai_session_id: PLATFORM_AI }],
    ]);

    const covered: Record<string, string[]> = {};
    for (const { version } of (await migrator.list()).slice(1)) {
      await migrator.up(target, version);
      const report = await gate();
      expect(report.ok, `after ${version}:\n${formatNullGate(report)}`).toBe(true);
      covered[version] = report.tables.map((table) => table.table);
    }
    // The gate covers each table as soon as it gets the column, with nobody listing them by hand.
    expect(covered).toEqual({
      '0002': ['public.accounts', 'public.ai_sessions', 'public.users'],
      '0003': ['public.accounts', 'public.ai_sessions', 'public.sessions', 'public.users'],
      '0004': ['public.accounts', 'public.ai_sessions', 'public.attachments', 'public.sessions', 'public.users'],
      '0005': ['public.accounts', 'public.ai_sessions', 'public.attachments', 'public.outputs', 'public.sessions', 'public.users'],
      '0006': ['public.accounts', 'public.ai_sessions', 'public.attachments', 'public.outputs', 'public.sessions', 'public.users'],
    });
    expect(formatNullGate(await gate())).toBe('NULL gate passed: no NULL account_id in 6 table(s).');

    // And the backfills followed the chains: every row landed on its own account.
    expect(await accountsOf(db.admin, 'sessions', 'session_id')).toEqual({ [ADA_SESSION]: ACME, [GRACE_SESSION]: GLOBEX });
    expect(await accountsOf(db.admin, 'attachments', 'file_name')).toEqual({ 'plan.pdf': ACME, 'logo.png': GLOBEX });
    expect(await accountsOf(db.admin, 'outputs', 'body')).toEqual({ 'hello acme': ACME, 'hello world': PLATFORM });
    // Global content stays without an account column.
    const { rows } = await db.admin.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.columns WHERE column_name = 'account_id' AND table_name LIKE 'platform%'`,
    );
    expect(rows).toEqual([]);
  });
});

describe('an orphaned row', () => {
  test('is named by the gate with its chain, and stops the real migration', async ({ db }) => {
    const migrator = sqlDirectory(MIGRATIONS);
    const target = migrateAs(db);
    await migrator.up(target, '0002');
    await seedBase(db.admin);
    // A session whose user was deleted: ON DELETE SET NULL leaves it reaching no account.
    await db.admin.exec(`
      INSERT INTO users (user_id, account_id, email) VALUES ('00000000-0000-4000-8000-0000000000e1', '${ACME}', 'gone@acme.test');
      INSERT INTO sessions (session_id, user_id, user_agent) VALUES ('${ORPHAN_SESSION}', '00000000-0000-4000-8000-0000000000e1', 'safari');
      DELETE FROM users WHERE email = 'gone@acme.test';
    `);

    // 0003 stops itself when NULLs remain, so run only its ADD COLUMN and backfill, as the owner would.
    const up = readFileSync(SESSIONS_UP, 'utf8');
    const addAndBackfill = up.slice(0, up.indexOf('DO $$'));
    expect(addAndBackfill).toMatch(/ADD COLUMN account_id[\s\S]*UPDATE sessions/);
    await db.owner.exec(addAndBackfill);

    const report = await nullGate(db, { column: 'account_id' });
    expect(report.ok).toBe(false);
    expect(report.tables.find((table) => table.table === 'public.sessions')).toEqual({
      table: 'public.sessions',
      nulls: 1,
      rows: [
        {
          key: { session_id: ORPHAN_SESSION },
          chain: ['account_id -> public.accounts: NULL (no parent)', 'user_id -> public.users: NULL (no parent)'],
        },
      ],
    });
    expect(formatNullGate(report)).toBe(
      [
        'NULL gate failed: NULL account_id left behind.',
        '  public.sessions: 1 row(s) with NULL account_id',
        `    session_id=${ORPHAN_SESSION}`,
        '      account_id -> public.accounts: NULL (no parent)',
        '      user_id -> public.users: NULL (no parent)',
      ].join('\n'),
    );

    // Put the table back as 0002 left it and run the real 0003: its verify step refuses.
    await db.owner.exec('ALTER TABLE sessions DROP COLUMN account_id');
    const error = await migrator.up(target, '0003').then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: 'TENANTKIT_MIGRATION_FAILED' });
    expect((error as { location?: { file: string } }).location?.file).toBe(SESSIONS_UP);
    expect((error as Error).message).toContain('sessions.account_id backfill left 1 row(s) NULL');
    // Nothing of 0003 stayed behind.
    const { rows } = await db.admin.query(
      `SELECT 1 FROM information_schema.columns WHERE table_name = 'sessions' AND column_name = 'account_id'`,
    );
    expect(rows).toEqual([]);
  });
});

describe('the whole set', () => {
  test('passes the stairway with data in it, then base -> head -> base -> head', async ({ db }) => {
    const migrator = sqlDirectory(MIGRATIONS);
    const options = {
      inspect: db.admin,
      target: migrateAs(db),
      // Seeded once the platform account exists; every later down and up must keep these rows.
      afterUp: async (migration: { version: string }, session: Session) => {
        if (migration.version !== '0002') return;
        await seedBase(session);
        await seedAiSessions(session, PLATFORM);
      },
      verify: async (migration: { version: string }, phase: 'down' | 'up-again', session: Session) => {
        if (Number(migration.version) < 3) return;
        const { rows } = await session.query<{ n: number }>(
          `SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM attachments) + (SELECT count(*) FROM outputs) AS n`,
        );
        expect(Number(rows[0]?.n)).toBe(6);
        if (phase === 'up-again') {
          const report = await nullGate(session, { column: 'account_id' });
          expect(report.ok, formatNullGate(report)).toBe(true);
        }
      },
    };
    const report = await runStairway(migrator, options);
    expect(report.migrations.map((step) => [step.version, step.status, step.problems])).toEqual([
      ['0001', 'pass', []],
      ['0002', 'pass', []],
      ['0003', 'pass', []],
      ['0004', 'pass', []],
      ['0005', 'pass', []],
      ['0006', 'pass', []],
    ]);
    expect(report.ok).toBe(true);

    await migrator.down(options.target);
    expect(await runFullCycle(migrator, { inspect: options.inspect, target: options.target })).toEqual([]);
  });
});
