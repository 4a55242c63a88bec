import { type ChildProcess, spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type NativeServer, startNativeServer } from '../src/backends/native/native-server.js';
import { startKit } from '../src/kit.js';
import { connectPg } from '../src/session/pg-session.js';
import { KIT_MIGRATIONS } from './helpers.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/kit-process.mjs', import.meta.url));

interface ProcessReport {
  built: boolean;
  template: string;
  databases: string[];
}

function launch(args: string[]): { child: ChildProcess; report: Promise<ProcessReport>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TENANTKIT_QUIET: '1' } });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const report = new Promise<ProcessReport>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) resolve(JSON.parse(line) as ProcessReport);
    });
    child.on('exit', (code) => reject(new Error(`process exited (${code}) before reporting: ${stderr}`)));
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, report, exit };
}

/** A copy of the fixture migrations with a unique comment: a hash no earlier run has built. */
async function freshMigrations(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tenantkit-migrations-'));
  await cp(KIT_MIGRATIONS, dir, { recursive: true });
  await writeFile(join(dir, '0003_marker.up.sql'), `-- ${dir}\nCREATE TABLE marker (id int);\n`);
  await writeFile(join(dir, '0003_marker.down.sql'), 'DROP TABLE marker;\n');
  return dir;
}

describe('several processes on one server', () => {
  let server: NativeServer;
  const dirs: string[] = [];

  beforeAll(async () => {
    server = await startNativeServer({});
  });
  afterAll(async () => {
    await server?.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function kitDatabases(): Promise<{ clones: string[]; templates: string[] }> {
    const admin = await connectPg(server.adminUrl);
    try {
      const { rows } = await admin.query<{ datname: string; datistemplate: boolean }>(
        `SELECT datname, datistemplate FROM pg_database WHERE datname LIKE 'tk\\_%' ORDER BY datname`,
      );
      return {
        clones: rows.filter((row) => !row.datistemplate).map((row) => row.datname),
        templates: rows.filter((row) => row.datistemplate).map((row) => row.datname),
      };
    } finally {
      await admin.close();
    }
  }

  test('four processes racing: the template is built once, nothing is left behind', async () => {
    const migrations = await freshMigrations();
    dirs.push(migrations);
    const runs = Array.from({ length: 4 }, () => launch([server.adminUrl, migrations, '3', 'release']));
    const reports = await Promise.all(runs.map((run) => run.report));
    expect(await Promise.all(runs.map((run) => run.exit))).toEqual([0, 0, 0, 0]);
    expect(reports.filter((report) => report.built)).toHaveLength(1);
    expect(new Set(reports.map((report) => report.template)).size).toBe(1);
    expect(new Set(reports.flatMap((report) => report.databases)).size).toBe(12);
    const left = await kitDatabases();
    expect(left.clones).toEqual([]);
    expect(left.templates).toContain(reports[0]!.template);
  });

  test('a killed process leaves databases; the next run reaps them and spares live ones', async () => {
    const migrations = await freshMigrations();
    dirs.push(migrations);
    const victim = launch([server.adminUrl, migrations, '2', 'hold']);
    const survivor = launch([server.adminUrl, migrations, '1', 'hold']);
    const [killed, alive] = await Promise.all([victim.report, survivor.report]);
    victim.child.kill('SIGKILL');
    await victim.exit;
    const before = await kitDatabases();
    for (const name of killed.databases) expect(before.clones).toContain(name);

    const kit = await startKit({ backend: 'url', url: server.adminUrl, migrations, poolSize: 0 });
    try {
      const after = await kitDatabases();
      for (const name of killed.databases) expect(after.clones).not.toContain(name);
      for (const name of alive.databases) expect(after.clones).toContain(name);
    } finally {
      await kit.stop();
      survivor.child.kill('SIGTERM');
      await survivor.exit;
    }
  });
});
