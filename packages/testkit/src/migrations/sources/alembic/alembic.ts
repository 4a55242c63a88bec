import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MigrationsInvalidError, MigrationsNotFoundError, MigrationsUnreadableError, ToolUnavailableError } from '../../../errors.js';
import type { Migrator } from '../../migrator.js';
import { type CommandMigration, commandMigrator } from '../command/command.js';

const run = promisify(execFile);

export interface AlembicOptions {
  /** The project's alembic.ini. */
  readonly ini: string;
  /** The Python that has Alembic (a virtualenv's bin/python, say); default python3. */
  readonly python?: string;
  /** Environment variables the project's env.py reads the database URL from (DATABASE_URL always). */
  readonly urlEnv?: readonly string[];
}

const INSTALL = "pip install alembic psycopg2-binary (or: apt-get install python3-alembic python3-psycopg2), or run the interpreter of the project's virtualenv (python, --python on the command line)";

/** Runs `python -m alembic -c ini ...` in the ini's folder, for listing revisions. */
async function alembic(ini: string, python: string, ...command: string[]): Promise<string> {
  try {
    const { stdout } = await run(python, ['-m', 'alembic', '-c', ini, ...command], { cwd: path.dirname(ini), maxBuffer: 16 * 1024 * 1024, timeout: 60_000 });
    return stdout;
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { stderr?: string };
    if (failed.code === 'ENOENT') throw new ToolUnavailableError(python, `${python}: no such program, so Alembic cannot run: ${INSTALL}.`, error);
    const stderr = failed.stderr ?? '';
    if (/No module named alembic/.test(stderr)) throw new ToolUnavailableError(python, `${python} has no Alembic (No module named alembic): ${INSTALL}.`, error);
    throw new MigrationsUnreadableError(ini, `alembic ${command.join(' ')} failed for ${ini}: ${stderr.trim().split('\n').slice(-3).join(' | ') || failed.message}. Run it yourself in ${path.dirname(ini)} to see why.`, error);
  }
}

interface Revision {
  readonly revision: string;
  readonly parent: string;
  readonly path: string;
  readonly message: string;
}

/** Parses `alembic history --verbose`: blocks of Rev:, Parent: (or Merges:), Path:, then the message. */
export function parseAlembicHistory(text: string, ini: string): Revision[] {
  const revisions: Revision[] = [];
  for (const block of text.split(/\n(?=Rev: )/)) {
    const rev = /^Rev: (\w+)/m.exec(block)?.[1];
    if (!rev) continue;
    if (/^Merges: /m.test(block) || /\(branchpoint\)|\(mergepoint\)/.test(block)) {
      throw new MigrationsInvalidError(ini, `${ini}: revision ${rev} merges or splits branches; the kit checks one line of revisions. Check each branch's head with its own alembic.ini, or merge the branches first.`);
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
  if (ordered.length !== revisions.length) throw new MigrationsInvalidError(ini, `${ini}: the revisions do not form one line from <base> (${revisions.length} found, ${ordered.length} reachable). Fix the down_revision links.`);
  return ordered;
}

/**
 * An Alembic project as a migrator: the revisions as Alembic itself lists them, each step an
 * `alembic upgrade <rev>` / `downgrade <rev|base>` against the disposable database (its URL in
 * DATABASE_URL and the variables named), the version read from alembic_version. Needs a backend
 * reachable by URL.
 */
export async function alembicMigrator(options: AlembicOptions): Promise<Migrator> {
  const { ini } = options;
  const python = options.python ?? 'python3';
  if (!existsSync(ini)) throw new MigrationsNotFoundError(ini, `Alembic configuration ${ini} does not exist. Pass the project's alembic.ini.`);
  const heads = (await alembic(ini, python, 'heads')).trim().split('\n').filter((line) => line.trim() !== '');
  if (heads.length > 1) throw new MigrationsInvalidError(ini, `${ini} has ${heads.length} heads (${heads.join('; ')}): merge them (alembic merge heads) or check one branch.`);
  const revisions = inOrder(parseAlembicHistory(await alembic(ini, python, 'history', '--verbose'), ini), ini);
  if (revisions.length === 0) throw new MigrationsInvalidError(ini, `${ini}: Alembic lists no revisions. Point at the alembic.ini whose script_location holds the project's revisions.`);
  const migrations: CommandMigration[] = revisions.map((revision) => ({ version: revision.revision, name: revision.message, ...(revision.path ? { file: revision.path } : {}) }));
  const base = ['-m', 'alembic', '-c', ini];
  return commandMigrator({
    source: `alembic (${ini})`,
    migrations,
    up: (revision) => [python, ...base, 'upgrade', revision],
    down: (revision) => [python, ...base, 'downgrade', revision ?? 'base'],
    cwd: path.dirname(ini),
    hashFiles: [ini, ...[path.join(path.dirname(revisions[0]?.path ?? ini), '..', 'env.py')].filter((file) => existsSync(file))],
    urlEnv: options.urlEnv ?? [],
    // Alembic's record: read for the current version and left out of schema comparisons (it stays
    // after a downgrade to base, as golang-migrate's does).
    stateTable: { table: 'alembic_version', column: 'version_num' },
  });
}
