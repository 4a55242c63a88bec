import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { tempDir, tenantkit } from './tenantkit-bin.js';

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('tenantkit-downs-');
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

interface CheckJson {
  ok: boolean;
  migrations: { version: string; name: string; status: string; problems: string[] }[];
}

// A project's migrations as they are usually laid out: a base, a feature, a policy set.
const BASE = {
  '20240101090000_accounts.up.sql': 'CREATE TABLE accounts (account_id uuid PRIMARY KEY, name text NOT NULL);\n',
  '20240101090000_accounts.down.sql': 'DROP TABLE accounts;\n',
  '20240214120000_invoices.up.sql':
    'CREATE TABLE invoices (invoice_id uuid PRIMARY KEY, account_id uuid NOT NULL REFERENCES accounts, total numeric NOT NULL);\nCREATE INDEX invoices_account_idx ON invoices (account_id);\nALTER TABLE invoices ENABLE ROW LEVEL SECURITY;\nCREATE POLICY own ON invoices USING (account_id = NULLIF(current_setting(\'app.account\', true), \'\')::uuid);\n',
  '20240301080000_notes.up.sql': 'CREATE TABLE notes (note_id uuid PRIMARY KEY, body text);\n',
  '20240301080000_notes.down.sql': 'DROP TABLE notes;\n',
};

describe('tenantkit migrations check: a missing down is a failure unless declared', () => {
  test('an up file with no down file fails its migration (exit 1), saying what down would leave behind', async () => {
    const dir = await folder(BASE);
    const result = await tenantkit('migrations', 'check', dir, '--json');
    expect(result.code, result.stderr).toBe(1);
    const output = JSON.parse(result.stdout) as CheckJson;
    expect(output.ok).toBe(false);
    expect(output.migrations.map((step) => [step.version, step.status])).toEqual([
      ['20240101090000', 'pass'],
      ['20240214120000', 'fail'],
      ['20240301080000', 'pass'], // checked on its own: the failure above does not hide it
      ['data', 'skip'], // rows are carried through a chain only once every step passes
    ]);
    const problem = output.migrations[1]!.problems.join('\n');
    expect(problem).toContain('20240214120000_invoices.down.sql is missing');
    expect(problem).toMatch(/1 table\b.*1 index.*1 polic/);
    expect(problem).toContain('--irreversible 20240214120000');
  });

  test('an empty or comments-only down file is reported as empty', async () => {
    for (const down of ['', '-- TODO: write the down migration\n/* later */\n']) {
      const dir = await folder({ ...BASE, '20240214120000_invoices.down.sql': down });
      const result = await tenantkit('migrations', 'check', dir, '--json');
      expect(result.code).toBe(1);
      const output = JSON.parse(result.stdout) as CheckJson;
      expect(output.migrations[1]!.problems.join('\n')).toContain('20240214120000_invoices.down.sql is empty');
    }
  });

  test('declared irreversible by a first line in the up file, or by --irreversible: exit 0', async () => {
    const marked = await folder({ ...BASE, '20240214120000_invoices.up.sql': `-- tenantkit: irreversible\n${BASE['20240214120000_invoices.up.sql']}` });
    const byMarker = await tenantkit('migrations', 'check', marked, '--json');
    expect(byMarker.code, byMarker.stdout).toBe(0);
    expect((JSON.parse(byMarker.stdout) as CheckJson).migrations[1]!.status).toBe('skip');
    const dir = await folder(BASE);
    const byFlag = await tenantkit('migrations', 'check', dir, '--irreversible', '20240214120000', '--json');
    expect(byFlag.code, byFlag.stdout).toBe(0);
    expect((await tenantkit('migrations', 'check', dir, '--irreversible', '20990101000000')).code).toBe(2);
  });

  test('dbmate: a file with no -- migrate:down section fails unless declared', async () => {
    const files = {
      '20240101090000_accounts.sql': '-- migrate:up\nCREATE TABLE accounts (account_id uuid PRIMARY KEY);\n-- migrate:down\nDROP TABLE accounts;\n',
      '20240214120000_invoices.sql': '-- migrate:up\nCREATE TABLE invoices (invoice_id uuid PRIMARY KEY, account_id uuid REFERENCES accounts);\n',
    };
    const dir = await folder(files);
    const result = await tenantkit('migrations', 'check', dir, '--json');
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stdout) as CheckJson).migrations[1]!.problems.join('\n')).toContain('no "-- migrate:down" section');
    expect((await tenantkit('migrations', 'check', dir, '--irreversible', '20240214120000')).code).toBe(0);
  });
});
