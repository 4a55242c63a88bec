import { readFileSync } from 'node:fs';
import { auditCommand } from './commands/audit.js';
import { initCommand } from './commands/init.js';
import { migrationsCommand } from './commands/migrations.js';
import { seedCommand } from './commands/seed.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const COMMANDS = [
  ['audit', 'prove cross-tenant isolation and audit the catalog for RLS holes'],
  ['seed', 'seed a database with deterministic multi-tenant data'],
  ['migrations check', 'run every migration up, down and up again'],
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

/** Runs the CLI on argv (without node and the script) and returns what it would print and its exit code. */
export async function runCli(argv: readonly string[]): Promise<CliResult> {
  const [command] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    return { code: command === undefined ? 2 : 0, stdout: command === undefined ? '' : `${usage()}\n`, stderr: command === undefined ? `${usage()}\n` : '' };
  }
  if (command === '--version' || command === '-v') return { code: 0, stdout: `${version()}\n`, stderr: '' };
  if (command === 'seed') return seedCommand(argv.slice(1));
  if (command === 'audit') return auditCommand(argv.slice(1));
  if (command === 'migrations') return migrationsCommand(argv.slice(1));
  if (command === 'init') return initCommand(argv.slice(1));
  return { code: 2, stdout: '', stderr: `tenantkit: unknown command "${command}".\n\n${usage()}\n` };
}
