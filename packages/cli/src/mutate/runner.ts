/**
 * Mutation testing of a suite: mutants of the RLS set-up are generated from the migrated schema,
 * and the suite's own command runs once per mutant with TENANTKIT_MUTANT naming it, so the kit in
 * the suite builds its template with the mutant applied. A run that fails kills the mutant; one
 * that passes lets it survive. A run that could not test the mutant (it did not apply, the run
 * crashed before any kit had it, it timed out) is "not run", never a kill.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MutantResult, type MutationReport, type PolicyMutant, generateMutants } from '@tenantkit/rls-assert';
import { type KitOptions, type TestDatabase, type TestkitErrorCode, startKit } from '@tenantkit/testkit';
import { backendDefinition, MUTANT_ENV, MUTANT_LOG_ENV, SHARED_SERVER_ENV, dropTemplateDatabase, messageOf } from '@tenantkit/testkit/internal';
import { NoMutantsError, SuiteFailsUnmutatedError, SuiteIgnoresMutantError } from '../errors.js';
import { type CommandRun, describeExit, formatSeconds, outputTail, runCommand } from './run-command.js';

export interface MutateOptions {
  /** The test command, program first (no shell), e.g. ['pnpm', 'exec', 'vitest', 'run']. */
  readonly command: readonly string[];
  /** Mutants run at once; default 1 on PGlite (CPU bound in-process), 2 on a server backend. */
  readonly jobs?: number;
  /** The bound of one run of the command; default five times the unmutated run, at least 120 s. */
  readonly timeoutMs?: number;
  /** The lowest mutation score (0-100) accepted; default: every mutant must be killed. */
  readonly minScore?: number;
  readonly cwd?: string;
  /** The command's environment; default process.env. TENANTKIT_MUTANT and TENANTKIT_MUTANT_LOG are set per run. */
  readonly env?: NodeJS.ProcessEnv;
  /** The setting the policies read for the tenant (for the tenant-condition mutants); default: detected. */
  readonly tenantSetting?: string;
  /** One line per step (the unmutated run, each mutant), as it happens. */
  readonly onProgress?: (line: string) => void;
}

export interface RunMutationsOptions extends MutateOptions {
  /**
   * The schema the suite tests, as its kit builds it: migrations or schema, setup, preset, roles
   * (mutants are read from it and checked to apply). The backend also goes to the command, as
   * TENANTKIT_BACKEND, when given here.
   */
  readonly kit: KitOptions;
}

/** Starts a kit on `options.kit`, generates the mutants and runs the command for each. */
export async function runMutations(options: RunMutationsOptions): Promise<MutationReport> {
  const kit = await startKit({ ...options.kit, mutant: false, isolation: 'none', poolSize: 0 });
  try {
    const db = await kit.acquire();
    try {
      return await mutateDatabase(db, {
        ...options,
        backend: kit.backend.kind,
        migrateAs: kit.roles.migrateAs,
        where: 'the schema',
        ...(options.kit.backend ? { commandBackend: options.kit.backend } : {}),
      });
    } finally {
      await db.release();
    }
  } finally {
    await kit.stop();
  }
}

export interface MutateDatabaseOptions extends MutateOptions {
  /** The backend the suite runs on, for the default of jobs and the report. */
  readonly backend: string;
  /** Set as TENANTKIT_BACKEND for the command. */
  readonly commandBackend?: string;
  /** Who ran the migrations, and so applies each mutant when it is checked. */
  readonly migrateAs: 'owner' | 'admin';
  /** The database, for messages. */
  readonly where: string;
}

/**
 * The server the command's runs share, when they run on the backend of `db` and it is a server the
 * kit started (native, container): handed to each run as the vitest global setup hands its workers
 * one, so a mutant costs its template and its tests, not a server start.
 */
function sharedServerOf(db: TestDatabase, commandBackend: string | undefined): { kind: string; adminUrl: string } | undefined {
  const definition = backendDefinition(db.backend);
  if (commandBackend !== db.backend || definition?.startServer === undefined || !db.admin.url) return undefined;
  const adminUrl = new URL(db.admin.url);
  adminUrl.pathname = '/postgres';
  return { kind: db.backend, adminUrl: adminUrl.toString() };
}

const ROLLED_BACK = Symbol('rolled back');

/** Applies the mutant in a transaction rolled back at once: the SQL's error, or undefined. */
async function applyProblem(db: TestDatabase, mutant: PolicyMutant, as: 'owner' | 'admin'): Promise<string | undefined> {
  try {
    await db[as].transaction(async (tx) => {
      await tx.exec(mutant.sql);
      throw ROLLED_BACK;
    });
  } catch (error) {
    if (error === ROLLED_BACK) return undefined;
    return messageOf(error).split('\n')[0];
  }
  return undefined;
}

/** Vitest stops at the first failing test when told to: a killed mutant costs one failure. */
export function withBail(command: readonly string[]): string[] {
  const vitest = isVitest(command);
  const hasBail = command.some((arg) => arg === '--bail' || arg.startsWith('--bail='));
  return vitest && !hasBail ? [...command, '--bail=1'] : [...command];
}

interface LogEntry {
  readonly status: 'applied' | 'failed';
  readonly message?: string;
  /** The template key the mutant was built into (applied). */
  readonly template?: string;
}

async function readLog(file: string): Promise<LogEntry[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as LogEntry);
}

function isVitest(command: readonly string[]): boolean {
  return command.some((arg) => /(^|[/\\])vitest(\.m?js)?$/.test(arg));
}

/** Vitest's summary counts a failed test: the run failed because a test did, not around the tests. */
function vitestTestFailed(output: string): boolean {
  return /^\s*Tests\s+\d+ failed/m.test(outputTail(output, Number.MAX_SAFE_INTEGER));
}

/**
 * Failures of the kit's own machinery (a server, a template, a lock, a login): a run that shows one
 * failed around the tests, whatever the mutant did, and proves nothing about it.
 */
const INFRASTRUCTURE_FAILURES: readonly TestkitErrorCode[] = [
  'TENANTKIT_SERVER_START_FAILED',
  'TENANTKIT_SERVER_UNREACHABLE',
  'TENANTKIT_NATIVE_BINARIES_NOT_FOUND',
  'TENANTKIT_LOGIN_REFUSED',
  'TENANTKIT_LOCK_WAIT_TIMEOUT',
  'TENANTKIT_TEMPLATE_LOCK_TIMEOUT',
  'TENANTKIT_MIGRATION_FAILED',
  'TENANTKIT_MUTANT_FAILED',
  'TENANTKIT_MUTANT_UNREADABLE',
  'TENANTKIT_CONTAINER_RUNTIME_UNAVAILABLE',
  'TENANTKIT_CONTAINER_IMAGE_UNAVAILABLE',
  'TENANTKIT_PEER_MISSING',
];

/** What a run of the command says about one mutant. */
function verdictOf(run: CommandRun, log: readonly LogEntry[], timeoutMs: number, vitest: boolean): Pick<MutantResult, 'status' | 'reason'> {
  const failed = log.find((entry) => entry.status === 'failed');
  if (failed) return { status: 'not-run', reason: `the mutant did not apply in the suite's kit: ${(failed.message ?? '').split('\n')[0]}` };
  if (run.timedOut || run.startError !== null) return { status: 'not-run', reason: describeExit(run, timeoutMs) };
  if (!log.some((entry) => entry.status === 'applied')) {
    const last = outputTail(run.output, 1);
    return {
      status: 'not-run',
      reason: run.exitCode === 0
        ? 'the command passed without any kit starting with the mutant'
        : `the run ended (${describeExit(run, timeoutMs)}) before any kit started with the mutant${last ? `: ${last}` : ''}`,
    };
  }
  if (run.exitCode === 0) return { status: 'survived', reason: null };
  const infrastructure = INFRASTRUCTURE_FAILURES.find((code) => run.output.includes(code));
  if (infrastructure !== undefined) {
    const line = outputTail(run.output, Number.MAX_SAFE_INTEGER).split('\n').find((candidate) => candidate.includes(infrastructure)) ?? infrastructure;
    return { status: 'not-run', reason: `the kit failed around the tests (${describeExit(run, timeoutMs)}): ${line.trim()}` };
  }
  if (vitest && !vitestTestFailed(run.output)) {
    const last = outputTail(run.output, 1);
    return { status: 'not-run', reason: `vitest ended (${describeExit(run, timeoutMs)}) and its output has no \`Tests N failed\` summary (an error outside the tests, or a reporter that prints none)${last ? `: ${last}` : ''}` };
  }
  return { status: 'killed', reason: vitest ? firstFailure(run.output) : null };
}

/** The first failed test vitest names (`FAIL  file > suite > test`), for the report of a kill. */
function firstFailure(output: string): string | null {
  const line = outputTail(output, Number.MAX_SAFE_INTEGER)
    .split('\n')
    .find((candidate) => /^\s*FAIL\s+\S.* > /.test(candidate));
  return line === undefined ? null : `failed: ${line.replace(/^\s*FAIL\s+/, '').trim()}`;
}

/**
 * Generates the mutants of `db` (a migrated database of the suite's schema), checks that each
 * applies, runs the command once without a mutant (it must pass, through the kit) and then once
 * per mutant, up to `jobs` at a time.
 */
export async function mutateDatabase(db: TestDatabase, options: MutateDatabaseOptions): Promise<MutationReport> {
  const started = performance.now();
  const say = options.onProgress ?? (() => {});
  const mutants = await generateMutants(db, { appRole: db.app.role, ...(options.tenantSetting ? { tenantSetting: options.tenantSetting } : {}) });
  if (mutants.length === 0) throw new NoMutantsError(options.where, db.app.role);
  const problems = new Map<string, string>();
  for (const mutant of mutants) {
    const problem = await applyProblem(db, mutant, options.migrateAs);
    if (problem !== undefined) problems.set(mutant.id, problem);
  }
  say(`${mutants.length} mutants of ${options.where}${problems.size > 0 ? ` (${problems.size} do not apply)` : ''}`);

  const command = withBail(options.command);
  const display = command.join(' ');
  const vitest = isVitest(command);
  // Each run of an embedded backend holds its databases in its own memory: one at a time.
  const jobs = options.jobs ?? (backendDefinition(options.backend)?.embedded ? 1 : 2);
  const cwd = options.cwd ?? process.cwd();
  const baseEnv: NodeJS.ProcessEnv = { ...(options.env ?? process.env), ...(options.commandBackend ? { TENANTKIT_BACKEND: options.commandBackend } : {}) };
  // A server started by the caller's own run must not be taken for the command's; the runner's may.
  delete baseEnv[SHARED_SERVER_ENV];
  const server = sharedServerOf(db, options.commandBackend);
  if (server) baseEnv[SHARED_SERVER_ENV] = JSON.stringify({ kind: server.kind, adminUrl: server.adminUrl });
  const dir = await mkdtemp(join(tmpdir(), 'tenantkit-mutate-'));
  try {
    const runWith = async (name: string, sql: string, timeoutMs: number) => {
      const file = join(dir, `${name}.sql`);
      const log = join(dir, `${name}.log`);
      await writeFile(file, sql);
      const run = await runCommand(command, { cwd, timeoutMs, env: { ...baseEnv, [MUTANT_ENV]: file, [MUTANT_LOG_ENV]: log } });
      const entries = await readLog(log);
      // Each run's template is dropped at once, so the server's disk holds one per running job. The
      // server is the kit's own and goes at the end: a failed drop costs space until then, so it is said, not thrown.
      if (server) {
        for (const key of new Set(entries.flatMap((entry) => (entry.template ? [entry.template] : [])))) {
          await dropTemplateDatabase(server.adminUrl, key, 'tenantkit mutate').catch((error: unknown) => {
            say(`could not drop the template of ${name} (${key}), left until the server stops: ${messageOf(error).split('\n')[0]}`);
          });
        }
      }
      return { run, log: entries };
    };

    // The unmutated schema, through the same path: an empty mutant (its own template).
    const baselineBound = options.timeoutMs ?? 30 * 60_000;
    const baseline = await runWith('unmutated', '-- tenantkit mutate: the schema as migrated, no mutation\n', baselineBound);
    if (baseline.run.exitCode !== 0 || baseline.run.timedOut) {
      throw new SuiteFailsUnmutatedError(display, describeExit(baseline.run, baselineBound), outputTail(baseline.run.output));
    }
    if (!baseline.log.some((entry) => entry.status === 'applied')) throw new SuiteIgnoresMutantError(display);
    const baselineMs = baseline.run.ms;
    const timeoutMs = options.timeoutMs ?? Math.max(120_000, Math.ceil(baselineMs * 5));
    say(`unmutated suite passed in ${formatSeconds(baselineMs)}; running ${mutants.length - problems.size} mutants, ${jobs} at a time, each bounded by ${formatSeconds(timeoutMs)}`);

    const results: MutantResult[] = new Array(mutants.length);
    let next = 0;
    let done = 0;
    const worker = async () => {
      for (;;) {
        const index = next++;
        if (index >= mutants.length) return;
        const mutant = mutants[index]!;
        const problem = problems.get(mutant.id);
        if (problem !== undefined) {
          results[index] = { ...mutant, status: 'not-run', reason: `its SQL fails on the migrated schema: ${problem}`, ms: 0 };
        } else {
          const { run, log } = await runWith(`mutant-${index + 1}`, `-- ${mutant.id}\n${mutant.sql}\n`, timeoutMs);
          results[index] = { ...mutant, ...verdictOf(run, log, timeoutMs, vitest), ms: Math.round(run.ms) };
        }
        const result = results[index]!;
        const status = result.status === 'not-run' ? `not run: ${result.reason}` : result.status;
        const by = result.status === 'killed' && result.reason ? `, ${result.reason}` : '';
        say(`[${++done}/${mutants.length}] ${status} ${mutant.id}${result.ms > 0 ? ` (${formatSeconds(result.ms)}${by})` : ''}`);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, mutants.length)) }, worker));
    return {
      command,
      backend: options.backend,
      jobs,
      baselineMs: Math.round(baselineMs),
      ms: Math.round(performance.now() - started),
      mutants: results,
      minScore: options.minScore ?? null,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
