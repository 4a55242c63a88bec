import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type PolicyCoverageReport, coverageJson, policyCoverage, renderCoverage, renderCoverageHtml } from '@tenantkit/rls-assert';
import { COVERAGE_ENV, readCoverageRecords } from '@tenantkit/testkit/internal';
import { TestCommandDidNotRunError, UsageError } from '../errors.js';
import { type CommandOutput, checkWritable, failure, wantsJson, writeHtmlReport } from '../failure.js';
import { integerFlag, percentFlag, sayer, splitAtDashes } from '../flags.js';
import type { CliResult } from '../index.js';
import { type CommandRun, describeExit, outputTail, runCommand } from '../mutate/run-command.js';
import { SOURCE_OPTIONS, SOURCE_USAGE, checkSource, openSource, sourceArgs } from '../source.js';

export const COVERAGE_USAGE = `Usage: tenantkit coverage (--migrations DIR | --sql FILE...) [options] -- <test command...>

Policy coverage of your isolation suite: runs the test command once with TENANTKIT_COVERAGE set,
so the kit in the suite records every statement its tests run as the app role with a tenant
context (db.app.withTenant, or a transaction that sets the tenant setting itself): which tables it
touched with which command, read from the statement's plan (EXPLAIN, which executes nothing), and
which policies applied, read from pg_policy. Then it compares that with every table that has row
level security or policies, times SELECT, INSERT, UPDATE and DELETE, and with every policy, and
lists what the suite never ran. Statements as the admin or the owner, or as the app role without a
tenant context, are not coverage.

Where the schema comes from (the one the suite's kit migrates):
${SOURCE_USAGE}

Options:
  --timeout SECONDS      the bound of the test command's run (default 1800)
  --min-coverage P       fail below P percent of the table x command cells covered
  --json                 print exactly one JSON object on stdout
  --html FILE            also write a self-contained HTML report

With --backend the command also runs with TENANTKIT_BACKEND set to it. The command's own output
goes to stderr (its last lines when it fails). A run that records nothing (tests that do not use
the kit, or never act as the app role with a tenant context) is "not proven", never 100%.

Exit codes: 0 the report was made (and reaches --min-coverage), 1 the test command failed, the
coverage is below --min-coverage, or nothing was recorded, 2 usage or setup error (including a test
command that cannot be started or does not end within --timeout).`;

const COVERAGE_OUTPUT: CommandOutput = { command: 'coverage', usage: COVERAGE_USAGE, emptyJson: { verdict: 'not-proven', coverage: 0, cells: [], policies: [] } };

const DEFAULT_TIMEOUT_SECONDS = 1800;

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      ...SOURCE_OPTIONS,
      timeout: { type: 'string' },
      'min-coverage': { type: 'string' },
      html: { type: 'string' },
    },
  });
}

const progress = sayer('coverage');

export async function coverageCommand(argv: readonly string[]): Promise<CliResult> {
  const json = wantsJson(argv);
  const { own, command } = splitAtDashes(argv);
  let values: ReturnType<typeof parse>['values'];
  let args: ReturnType<typeof sourceArgs>;
  let timeout: number;
  let minCoverage: number | undefined;
  try {
    let positionals: string[];
    ({ values, positionals } = parse(own));
    if (values.help) return { code: 0, stdout: `${COVERAGE_USAGE}\n`, stderr: '' };
    args = sourceArgs(values, positionals);
    if (args.url !== undefined) throw new UsageError('coverage compares the suite with the schema its kit migrates (--sql or --migrations), which --url is not', '--url');
    if (values['app-grants'] !== undefined) throw new UsageError('--app-grants does not apply to coverage: which policies apply to the app role does not depend on its grants', '--app-grants');
    checkSource(args);
    if (command.length === 0) throw new UsageError('missing the test command: put it after --, e.g. tenantkit coverage --migrations db/migrations -- pnpm exec vitest run');
    timeout = integerFlag('timeout', values.timeout, DEFAULT_TIMEOUT_SECONDS, 1, 24 * 3600);
    minCoverage = percentFlag('min-coverage', values['min-coverage']);
    if (values.html !== undefined) checkWritable('--html', values.html);
  } catch (error) {
    return failure(COVERAGE_OUTPUT, 2, error, json);
  }

  const shown = command.join(' ');
  const dir = await mkdtemp(join(tmpdir(), 'tenantkit-coverage-'));
  let run: CommandRun;
  let report: PolicyCoverageReport;
  try {
    progress(`running \`${shown}\` with ${COVERAGE_ENV} set (bounded by ${timeout} s)`);
    run = await runCommand(command, {
      cwd: process.cwd(),
      timeoutMs: timeout * 1000,
      env: { ...process.env, [COVERAGE_ENV]: dir, ...(args.backend ? { TENANTKIT_BACKEND: args.backend } : {}) },
    });
    if (run.startError !== null || run.timedOut) throw new TestCommandDidNotRunError(shown, describeExit(run, timeout * 1000));
    const records = readCoverageRecords(dir);
    const source = await openSource(args);
    try {
      const db = source.database!;
      report = await policyCoverage(db, records, { appRole: db.app.role });
    } finally {
      await source.close().catch(() => {});
    }
  } catch (error) {
    return failure(COVERAGE_OUTPUT, 2, error, json, 'the disposable database');
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }

  const unwritable = await writeHtmlReport(COVERAGE_OUTPUT, values.html, () => renderCoverageHtml(report), json);
  if (unwritable) return unwritable;

  const testsFailed = run.exitCode !== 0;
  const belowMin = minCoverage !== undefined && report.coverage < minCoverage;
  const notProven = report.verdict === 'not-proven';
  const ok = !testsFailed && !belowMin && !notProven;
  const outcome = [
    ...(testsFailed ? [`The test command failed (${describeExit(run, timeout * 1000)}): the coverage is that of a failing run.`] : []),
    ...(belowMin ? [`Coverage ${report.coverage}% is below --min-coverage ${minCoverage}%.`] : []),
  ];
  const stderr = testsFailed ? `tenantkit coverage: the test command failed (${describeExit(run, timeout * 1000)}); its last lines:\n${outputTail(run.output)}\n` : '';
  if (json) {
    const body = {
      ok,
      ...coverageJson(report),
      minCoverage: minCoverage ?? null,
      testCommand: { command, exitCode: run.exitCode, signal: run.signal, passed: !testsFailed, ms: Math.round(run.ms) },
    };
    return { code: ok ? 0 : 1, stdout: `${JSON.stringify(body)}\n`, stderr };
  }
  const text = renderCoverage(report);
  return { code: ok ? 0 : 1, stdout: outcome.length > 0 ? `${text}\n${outcome.join('\n')}\n` : text, stderr };
}
