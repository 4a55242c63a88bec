import { ConnectionLostError, TenantkitError } from '@tenantkit/testkit';
import { isConnectionLost, messageOf } from '@tenantkit/testkit/internal';
import { accessSync, constants, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CliError, OutputUnwritableError, UsageError } from './errors.js';
import type { CliResult } from './index.js';

/** How a command reports a failure: its name, its usage text, and its JSON output's keys when empty. */
export interface CommandOutput {
  /** `audit`, `migrations`: the prefix of every message on stderr. */
  readonly command: string;
  /** Printed after a usage error (TENANTKIT_USAGE). */
  readonly usage: string;
  /** The keys the command's --json output always has, empty: a failure keeps that shape. */
  readonly emptyJson: Readonly<Record<string, unknown>>;
  /** Extra fields of `error` in the JSON output (migrations adds file and line). */
  readonly errorFields?: (error: TenantkitError) => Record<string, unknown>;
}

/**
 * True when --json is on the command line. Read from argv itself, so a command line the parser
 * rejects (an unknown flag) still answers in JSON.
 */
export function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * Every failure as a named TenantkitError. Node's parseArgs errors are usage errors; a lost
 * connection is named as such; anything else keeps its message under the generic code.
 */
export function namedError(error: unknown, where: string): TenantkitError {
  if (error instanceof TenantkitError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return parseArgsError(error as Error);
  if (isConnectionLost(error)) return new ConnectionLostError(where, error);
  return new CliError('TENANTKIT_ERROR', messageOf(error), { cause: error });
}

/** Node's wording, first line only (its advice about '--' rarely applies), with the way to the options. */
function parseArgsError(error: Error): UsageError {
  const flag = /'(-[^' ]+)/.exec(error.message)?.[1];
  return new UsageError(`${error.message.split('\n')[0]!.replace(/\. To specify .*$/, '.')} Run the command with --help for the options it takes.`, flag);
}

/**
 * A failed command: the named error once on stderr (with the usage after a usage error) and, with
 * --json, exactly one JSON object on stdout: the command's empty keys, `ok: false` and
 * `error: { code, object, message }`.
 */
export function failure(output: CommandOutput, exitCode: 1 | 2, error: unknown, json: boolean, where = 'the database'): CliResult {
  const named = namedError(error, where);
  const usage = named instanceof UsageError ? `\n${output.usage}\n` : '';
  const stderr = `tenantkit${output.command ? ` ${output.command}` : ''}: ${named.code}: ${named.message}\n${usage}`;
  if (!json) return { code: exitCode, stdout: '', stderr };
  const body = { ok: false, ...output.emptyJson, error: { code: named.code, object: named.object ?? null, message: named.message, ...output.errorFields?.(named) } };
  return { code: exitCode, stdout: `${JSON.stringify(body)}\n`, stderr };
}

/**
 * Writes a command's HTML report where --html asked: a path that cannot be written is a setup
 * error (exit 2) reported in the command's output shape; undefined when there was nothing to write
 * or it was written.
 */
export async function writeHtmlReport(output: CommandOutput, file: string | undefined, html: () => string, json: boolean): Promise<CliResult | undefined> {
  if (file === undefined) return undefined;
  try {
    await writeFile(file, html());
    return undefined;
  } catch (error) {
    return failure(output, 2, new OutputUnwritableError('--html', file, error), json);
  }
}

/** A file the command will write: its folder must exist and be writable, and the path must not be a folder. */
export function checkWritable(flag: string, file: string): void {
  try {
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
    accessSync(dirname(file), constants.W_OK);
  } catch (error) {
    throw new OutputUnwritableError(flag, file, error);
  }
}
