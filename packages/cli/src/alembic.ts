import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { type CommandMigration, type Migrator, commandMigrator } from '@tenantkit/testkit';
import { UsageError } from './errors.js';

const run = promisify(execFile);

export interface AlembicArgs {
  /** The project's alembic.ini. */
  readonly ini: string;
  /** The Python that has Alembic (a venv's bin/python, say). */
  readonly python: string;
  /** Environment variables the project's env.py reads the database URL from (DATABASE_URL always). */
  readonly urlEnv: readonly string[];
}

const INSTALL = 'pip install alembic psycopg2-binary (or: apt-get install python3-alembic python3-psycopg2), or point --python at the interpreter of the project\'s virtualenv';

/** Runs `python -m alembic -c ini ...` in the ini's folder; a missing Python or Alembic is a usage error with the install line. */
async function alembic(args: AlembicArgs, ...command: string[]): Promise<string> {
  try {
    const { stdout } = await run(args.python, ['-m', 'alembic', '-c', args.ini, ...command], { cwd: path.dirname(args.ini), maxBuffer: 16 * 1024 * 1024, timeout: 60_000 });
    return stdout;
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { stderr?: string };
    if (failed.code === 'ENOENT') throw new UsageError(`--python ${args.python}: no such program; ${INSTALL}`);
    const stderr = failed.stderr ?? '';
    if (/No module named alembic/.test(stderr)) throw new UsageError(`${args.python} has no Alembic (No module named alembic): ${INSTALL}`);
    throw new UsageError(`alembic ${command.join(' ')} failed for ${args.ini}: ${stderr.trim().split('\n').slice(-3).join(' | ') || failed.message}`);
  }
}

interface Revision {
  readonly revision: string;
  readonly parent: string;
  readonly path: string;
  readonly message: string;
}

/** Parses `alembic history --verbose`: blocks of Rev:, Parent: (or Merges:), Path:, then the message. */
export function parseHistory(text: string, ini: string): Revision[] {
  const revisions: Revision[] = [];
  for (const block of text.split(/\n(?=Rev: )/)) {
    const rev = /^Rev: (\w+)/m.exec(block)?.[1];
    if (!rev) continue;
    if (/^Merges: /m.test(block) || /\(branchpoint\)|\(mergepoint\)/.test(block)) {
      throw new UsageError(`${ini}: revision ${rev} merges or splits branches; the kit checks one line of revisions. Check each branch's head with its own alembic.ini, or merge the branches first`);
    }
    const parent = /^Parent: (\S+)/m.exec(block)?.[1] ?? '<base>';
    const file = /^Path: (.+)$/m.exec(block)?.[1]?.trim() ?? '';
    const message = block.split('\n').slice(3).map((line) => line.trim()).find((line) => line !== '') ?? rev;
    revisions.push({ revision: rev, parent, path: file, message: message.split(':')[0]!.trim() || rev });
  }
  return revisions;
}

/** The revisions oldest first, following Parent links from <base>. */
function inOrder(revisions: readonly Revision[], ini: string): Revision[] {
  const byParent = new Map(revisions.map((revision) => [revision.parent, revision]));
  const ordered: Revision[] = [];
  for (let next = byParent.get('<base>'); next; next = byParent.get(next.revision)) ordered.push(next);
  if (ordered.length !== revisions.length) throw new UsageError(`${ini}: the revisions do not form one line from <base> (${revisions.length} found, ${ordered.length} reachable)`);
  return ordered;
}

/**
 * An Alembic project as a migrator: the revisions as Alembic itself lists them, each step an
 * `alembic upgrade <rev>` / `downgrade <rev|base>` against the disposable database (its URL in
 * DATABASE_URL and the variables named), the version read from alembic_version.
 */
export async function alembicMigrator(args: AlembicArgs): Promise<Migrator> {
  if (!existsSync(args.ini)) throw new UsageError(`--alembic ${args.ini}: no such file`);
  const heads = (await alembic(args, 'heads')).trim().split('\n').filter((line) => line.trim() !== '');
  if (heads.length > 1) throw new UsageError(`${args.ini} has ${heads.length} heads (${heads.join('; ')}); merge them (alembic merge heads) or check one branch`);
  const revisions = inOrder(parseHistory(await alembic(args, 'history', '--verbose'), args.ini), args.ini);
  if (revisions.length === 0) throw new UsageError(`${args.ini}: Alembic lists no revisions`);
  const migrations: CommandMigration[] = revisions.map((revision) => ({ version: revision.revision, name: revision.message, ...(revision.path ? { file: revision.path } : {}) }));
  const base = ['-m', 'alembic', '-c', args.ini];
  return commandMigrator({
    source: `alembic (${args.ini})`,
    migrations,
    up: (revision) => [args.python, ...base, 'upgrade', revision],
    down: (revision) => [args.python, ...base, 'downgrade', revision ?? 'base'],
    cwd: path.dirname(args.ini),
    hashFiles: [args.ini, ...[path.join(path.dirname(revisions[0]?.path ?? args.ini), '..', 'env.py')].filter((file) => existsSync(file))],
    urlEnv: args.urlEnv,
    // Alembic's record: read for the current version and left out of schema comparisons (it stays
    // after a downgrade to base, as golang-migrate's does).
    stateTable: { table: 'alembic_version', column: 'version_num' },
  });
}
