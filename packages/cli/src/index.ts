import { readFileSync } from 'node:fs';
import { auditCommand } from './commands/audit.js';
import { coverageCommand } from './commands/coverage.js';
import { initCommand } from './commands/init.js';
import { migrationsCommand } from './commands/migrations.js';
import { mutateCommand } from './commands/mutate.js';
import { seedCommand } from './commands/seed.js';
import { UsageError } from './errors.js';
import { type CommandOutput, failure, wantsJson } from './failure.js';

export { CLI_ERROR_CODES, CliError, type CliErrorCode } from './errors.js';
export { type MutateDatabaseOptions, type MutateOptions, type RunMutationsOptions, mutateDatabase, runMutations } from './mutate/runner.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const COMMANDS = [
  ['audit', 'prove cross-tenant isolation and audit the catalog for RLS holes'],
  ['seed', 'seed a database with deterministic multi-tenant data'],
  ['migrations check', 'run every migration up, down and up again'],
  ['mutate', 'mutation-test the isolation suite: does it notice a weakened policy?'],
  ['coverage', 'which tables x commands and policies the isolation suite exercises as the app role'],
  ['init', 'write the vitest config, kit file and a first isolation spec for this project'],
] as const;

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

function usage(): string {
  return [
    'Usage: tenantkit <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map(([name, what]) => `  ${name.padEnd(18)}${what}`),
    '',
    'Options:',
    '  --help            show this help',
    '  --version         print the version',
  ].join('\n');
}

const TOP_LEVEL: CommandOutput = { command: '', usage: usage(), emptyJson: {} };

/** Runs the CLI on argv (without node and the script) and returns what it would print and its exit code. */
export async function runCli(argv: readonly string[]): Promise<CliResult> {
  const [command] = argv;
  if (command === '--help' || command === '-h') return { code: 0, stdout: `${usage()}\n`, stderr: '' };
  if (command === '--version' || command === '-v') return { code: 0, stdout: `${version()}\n`, stderr: '' };
  try {
    if (command === 'seed') return await seedCommand(argv.slice(1));
    if (command === 'audit') return await auditCommand(argv.slice(1));
    if (command === 'migrations') return await migrationsCommand(argv.slice(1));
    if (command === 'init') return await initCommand(argv.slice(1));
    if (command === 'mutate') return await mutateCommand(argv.slice(1));
    if (command === 'coverage') return await coverageCommand(argv.slice(1));
  } catch (error) {
    // A command reports its own failures; one that escapes is still a named error, never a stack trace.
    return failure({ ...TOP_LEVEL, command: command ?? '' }, 2, error, wantsJson(argv));
  }
  const problem = command === undefined || command.startsWith('-')
    ? new UsageError(`missing the command: one of ${COMMANDS.map(([name]) => name).join(', ')}`)
    : new UsageError(`unknown command "${command}": use one of ${COMMANDS.map(([name]) => name).join(', ')}`, command);
  return failure(TOP_LEVEL, 2, problem, wantsJson(argv));
}
