import { UsageError } from './errors.js';

/**
 * A numeric flag as a plain decimal integer within its bounds. Number() alone would take 1e9, 0x10
 * and 99999999999999999999 (rounded), and a huge count runs until the heap is exhausted.
 */
export function integerFlag(name: string, value: string | undefined, fallback: number, min: number, max: number): number;
export function integerFlag(name: string, value: string | undefined, fallback: undefined, min: number, max: number): number | undefined;
export function integerFlag(name: string, value: string | undefined, fallback: number | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return fallback;
  const parsed = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed >= min && parsed <= max)) throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (plain digits), got "${value}"`, `--${name}`);
  return parsed;
}

/** A percentage flag, 0 to 100 (a trailing % is allowed). */
export function percentFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value.replace(/%$/, ''));
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0 || parsed > 100) throw new UsageError(`--${name} must be a percentage from 0 to 100, got "${value}"`, `--${name}`);
  return parsed;
}

/** A command's own arguments, and the test command after `--` (empty when there is none). */
export function splitAtDashes(argv: readonly string[]): { own: readonly string[]; command: readonly string[] } {
  const split = argv.indexOf('--');
  return split === -1 ? { own: argv, command: [] } : { own: argv.slice(0, split), command: argv.slice(split + 1) };
}

/** One line of a long command's progress on stderr, named by the command (TENANTKIT_QUIET=1: none). */
export function sayer(command: string): (line: string) => void {
  return (line) => {
    if (process.env.TENANTKIT_QUIET !== '1') process.stderr.write(`tenantkit ${command}: ${line}\n`);
  };
}
