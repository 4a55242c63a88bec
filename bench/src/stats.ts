// What every bench script shares: medians and p95 of samples, sample counts for full and quick runs,
// targets, and the commit the figures belong to.
import { execFileSync } from 'node:child_process';

export interface Stat {
  p50: number;
  p95: number;
  n: number;
}

/** Milliseconds to the microsecond. */
export function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Median and nearest-rank p95 (of 5 samples, p95 is the slowest). */
export function stat(samples: readonly number[]): Stat {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) throw new Error('no samples');
  const middle = sorted.length / 2;
  const median = sorted.length % 2 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
  return { p50: round(median), p95: round(p95), n: sorted.length };
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const startedAt = performance.now();
  await fn();
  return performance.now() - startedAt;
}

export function ratio(a: number, b: number): number {
  return Math.round((a / b) * 1000) / 1000;
}

/** `pnpm bench --quick`: a few samples of every figure, so the bench runs in CI and cannot rot; no targets judged. */
export const QUICK = process.argv.includes('--quick');

/**
 * How many samples a figure takes: `full` in a real run (at least 20, or 5 for figures over a
 * second), `quick` in a quick one.
 */
export function samples(full: number, quick = 2): number {
  return QUICK ? quick : full;
}

export interface Target {
  readonly name: string;
  readonly value: number;
  readonly target: string;
  readonly met: boolean;
}

/** A target: `value` against `bound`, with the operator in its name. */
export function target(name: string, value: number, op: '<=' | '>=', bound: number): Target {
  return { name, value, target: `${op} ${bound}`, met: op === '<=' ? value <= bound : value >= bound };
}

/** Peak RSS of this process so far, in MB. */
export function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** The commit the figures are stamped with. */
export const commit = git(['rev-parse', 'HEAD']) ?? 'unknown';

/** Figures from a working tree with changes are not the commit's figures alone; they say so. */
export const worktreeClean = git(['status', '--porcelain']) === '';

/** One line of a printed table: name, p50, p95, samples. */
export function line(name: string, s: Stat): string {
  return `${name.padEnd(40)}${s.p50.toFixed(1).padStart(11)}${s.p95.toFixed(1).padStart(11)}${String(s.n).padStart(6)}`;
}
