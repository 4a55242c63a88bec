import { parseArgs } from 'node:util';
import { type MutationReport, mutationJson, renderMutationHtml, renderMutationText, summarizeMutations } from '@tenantkit/rls-assert';
import { isCustomSettingName } from '@tenantkit/testkit/internal';
import { UsageError } from '../errors.js';
import { type CommandOutput, checkWritable, failure, wantsJson, writeHtmlReport } from '../failure.js';
import { integerFlag, percentFlag, sayer, splitAtDashes } from '../flags.js';
import type { CliResult } from '../index.js';
import { mutateDatabase } from '../mutate/runner.js';
import { SOURCE_OPTIONS, SOURCE_USAGE, appGrantsArg, checkSource, openSource, sourceArgs } from '../source.js';

export const MUTATE_USAGE = `Usage: tenantkit mutate (--migrations DIR | --sql FILE...) [options] -- <test command...>

Mutation testing of your isolation suite: generates mutants of the schema's row level security
(each policy dropped, its USING replaced by true, its WITH CHECK dropped, widened to PUBLIC,
restrictive made permissive, the tenant condition removed from an AND; per table RLS disabled,
NO FORCE, TRUNCATE granted to the app role) and runs the test command once per mutant with
TENANTKIT_MUTANT naming it: the kit in the suite applies it on top of the migrations in its own
template, so the tests change nothing. A failing run kills the mutant; a passing one lets it survive,
and says what kind of test is missing. The command must pass on the schema as it is first.

Where the schema comes from (the one the suite's kit migrates):
${SOURCE_USAGE}
  --app-grants WHICH     crud (default: what the kit grants the app role in tests) or schema (only
                         what the SQL grants: roles.appGrants 'none')

Options:
  --jobs N               mutants run at once (default 1 on pglite, 2 on a server backend)
  --timeout SECONDS      the bound of one run of the command (default five times the unmutated
                         run, at least 120)
  --min-score P          accept a mutation score (killed / (killed + survived), percent) of at least P
  --tenant-setting NAME  the setting the policies read (default: detected from the policies)
  --json                 print exactly one JSON object on stdout
  --html FILE            also write a self-contained HTML report

With --backend the command also runs with TENANTKIT_BACKEND set to it. Vitest commands get --bail=1
unless they set --bail. A mutant that cannot be tested (its SQL does not apply, the run crashes
before the kit has it, the run times out) is reported as not run, never as killed.

Exit codes: 0 every mutant killed (or the score reaches --min-score), 1 a mutant survived, the
score is below --min-score, or a mutant did not run, 2 usage or setup error (including a suite that
fails without mutants).`;

const MUTATE_OUTPUT: CommandOutput = { command: 'mutate', usage: MUTATE_USAGE, emptyJson: { score: null, mutants: [] } };

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      ...SOURCE_OPTIONS,
      jobs: { type: 'string' },
      timeout: { type: 'string' },
      'min-score': { type: 'string' },
      'tenant-setting': { type: 'string' },
      html: { type: 'string' },
    },
  });
}

const progress = sayer('mutate');

export async function mutateCommand(argv: readonly string[]): Promise<CliResult> {
  const json = wantsJson(argv);
  const { own, command } = splitAtDashes(argv);
  let values: ReturnType<typeof parse>['values'];
  let args: ReturnType<typeof sourceArgs>;
  let grants: 'schema' | 'crud';
  let jobs: number | undefined;
  let timeout: number | undefined;
  let minScore: number | undefined;
  try {
    let positionals: string[];
    ({ values, positionals } = parse(own));
    if (values.help) return { code: 0, stdout: `${MUTATE_USAGE}\n`, stderr: '' };
    grants = appGrantsArg(values['app-grants'], 'crud');
    args = sourceArgs(values, positionals);
    if (args.url !== undefined) throw new UsageError('mutate needs the schema the suite migrates (--sql or --migrations): the mutants are applied in the suite\'s own databases, which --url is not', '--url');
    checkSource(args);
    if (command.length === 0) throw new UsageError('missing the test command: put it after --, e.g. tenantkit mutate --migrations db/migrations -- pnpm exec vitest run');
    jobs = integerFlag('jobs', values.jobs, undefined, 1, 64);
    timeout = integerFlag('timeout', values.timeout, undefined, 1, 24 * 3600);
    minScore = percentFlag('min-score', values['min-score']);
    const setting = values['tenant-setting'];
    if (setting !== undefined && !isCustomSettingName(setting)) throw new UsageError(`--tenant-setting "${setting}" is not a name Postgres accepts for a custom setting: use identifiers joined by a dot, e.g. app.tenant_id`, setting);
    if (values.html !== undefined) checkWritable('--html', values.html);
  } catch (error) {
    return failure(MUTATE_OUTPUT, 2, error, json);
  }

  let report: MutationReport;
  try {
    // The command line's own database is the schema as migrated, whatever TENANTKIT_MUTANT says.
    const source = await openSource(args, { mutant: false, roles: { appGrants: grants === 'crud' ? 'crud' : 'none' } });
    try {
      const db = source.database!;
      report = await mutateDatabase(db, {
        command,
        backend: db.backend,
        ...(args.backend ? { commandBackend: args.backend } : {}),
        migrateAs: args.migrateAs,
        where: source.description,
        ...(jobs !== undefined ? { jobs } : {}),
        ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
        ...(minScore !== undefined ? { minScore } : {}),
        ...(values['tenant-setting'] ? { tenantSetting: values['tenant-setting'] } : {}),
        onProgress: progress,
      });
    } finally {
      await source.close().catch(() => {});
    }
  } catch (error) {
    return failure(MUTATE_OUTPUT, 2, error, json, 'the disposable database');
  }
  const unwritable = await writeHtmlReport(MUTATE_OUTPUT, values.html, () => renderMutationHtml(report), json);
  if (unwritable) return unwritable;
  return {
    code: summarizeMutations(report).ok ? 0 : 1,
    stdout: json ? `${JSON.stringify(mutationJson(report))}\n` : renderMutationText(report),
    stderr: '',
  };
}
