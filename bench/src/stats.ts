// What every bench script shares: medians and p95 of samples, and the commit the figures belong to.
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
