/** One concise line per long step on stderr, so a first run is not a silent wait. */
export function progress(message: string): void {
  if (process.env.TENANTKIT_QUIET === '1') return;
  process.stderr.write(`tenantkit: ${message}\n`);
}

export function elapsedMs(startedAt: number): number {
  return Math.round(performance.now() - startedAt);
}

export function formatMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
