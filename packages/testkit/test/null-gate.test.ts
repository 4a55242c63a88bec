import { expect, test } from 'vitest';
import { startKit } from '../src/kit.js';
import { formatNullGate, nullGate } from '../src/migrations/check/null-gate.js';
import './helpers.js';

const SCHEMA = `
CREATE TABLE accounts (id uuid PRIMARY KEY);
CREATE TABLE users (id bigint PRIMARY KEY, account_id uuid REFERENCES accounts);
CREATE TABLE sessions (id bigint PRIMARY KEY, user_id bigint REFERENCES users ON DELETE SET NULL, account_id uuid);
CREATE TABLE platform_trees (id bigint PRIMARY KEY, title text);
`;
const ACCOUNT = '00000000-0000-4000-8000-0000000000aa';

test('the NULL gate passes a complete backfill and explains every orphan of an incomplete one', async () => {
  await using kit = await startKit({ backend: 'pglite', schema: SCHEMA, tenant: { setting: 'app.account_id' } });
  await using db = await kit.acquire();
  await db.query(`INSERT INTO accounts VALUES ($1)`, [ACCOUNT]);
  await db.query(`INSERT INTO users VALUES (1, $1), (2, NULL)`, [ACCOUNT]);
  await db.query(`INSERT INTO sessions (id, user_id) VALUES (10, 1), (11, 2), (12, NULL)`);
  // The backfill through the chain: sessions -> users.account_id.
  await db.query(`UPDATE sessions s SET account_id = u.account_id FROM users u WHERE u.id = s.user_id`);

  const report = await nullGate(db, { column: 'account_id' });
  expect(report.ok).toBe(false);
  expect(report.tables.map((table) => [table.table, table.nulls])).toEqual([
    ['public.sessions', 2],
    ['public.users', 1],
  ]);
  const sessions = report.tables.find((table) => table.table === 'public.sessions')!;
  expect(sessions.rows).toEqual([
    { key: { id: '11' }, chain: ['user_id -> public.users (id=2): account_id NULL'] },
    { key: { id: '12' }, chain: ['user_id -> public.users: NULL (no parent)'] },
  ]);
  const text = formatNullGate(report);
  expect(text).toContain('public.sessions: 2 row(s) with NULL account_id');
  expect(text).toContain('user_id -> public.users (id=2): account_id NULL');

  await db.query(`UPDATE users SET account_id = $1 WHERE account_id IS NULL`, [ACCOUNT]);
  await db.query(`UPDATE sessions SET account_id = $1 WHERE account_id IS NULL`, [ACCOUNT]);
  const fixed = await nullGate(db, { column: 'account_id' });
  expect(fixed.ok).toBe(true);
  expect(formatNullGate(fixed)).toBe('NULL gate passed: no NULL account_id in 2 table(s).');
});
