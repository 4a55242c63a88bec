/**
 * A mutation run's report: which mutants the suite killed (failed with the mutant applied), which
 * survived (passed anyway: a gap in the suite) and which did not run (an error is never a kill),
 * as terminal text, JSON and a self-contained HTML page.
 */
import { escapeHtml } from '../report.js';
import type { PolicyMutant } from './generate.js';

export type MutantStatus = 'killed' | 'survived' | 'not-run';

export interface MutantResult extends PolicyMutant {
  readonly status: MutantStatus;
  /**
   * Not run: why (the mutant did not apply, the run crashed before it, timed out). Killed: the
   * first failing test, when the runner names it.
   */
  readonly reason: string | null;
  readonly ms: number;
}

export interface MutationReport {
  /** The test command, as run for each mutant. */
  readonly command: readonly string[];
  readonly backend: string;
  readonly jobs: number;
  /** The unmutated suite's wall time. */
  readonly baselineMs: number;
  readonly ms: number;
  readonly mutants: readonly MutantResult[];
  /** The lowest score accepted (0-100), when one was set. */
  readonly minScore: number | null;
}

export interface MutationSummary {
  readonly killed: number;
  readonly survived: number;
  readonly notRun: number;
  /** killed / (killed + survived) in percent, one decimal; null when no mutant ran. */
  readonly score: number | null;
  /**
   * Every mutant ran, and none survived (or, with a minimum score, the score reaches it). A mutant
   * that did not run is never a pass.
   */
  readonly ok: boolean;
}

export function summarizeMutations(report: Pick<MutationReport, 'mutants' | 'minScore'>): MutationSummary {
  const count = (status: MutantStatus) => report.mutants.filter((mutant) => mutant.status === status).length;
  const killed = count('killed');
  const survived = count('survived');
  const notRun = count('not-run');
  const ran = killed + survived;
  const score = ran === 0 ? null : Math.floor((killed / ran) * 1000) / 10;
  const enough = report.minScore === null ? survived === 0 : score !== null && score >= report.minScore;
  return { killed, survived, notRun, score, ok: ran > 0 && notRun === 0 && enough };
}

function scoreText(summary: MutationSummary): string {
  return summary.score === null ? 'no score (no mutant ran)' : `mutation score ${summary.score}%`;
}

/** One line: the score and the counts. */
export function mutationVerdict(report: MutationReport): string {
  const summary = summarizeMutations(report);
  const parts = [`${summary.killed} killed`, `${summary.survived} survived`, ...(summary.notRun > 0 ? [`${summary.notRun} not run`] : [])];
  const threshold = report.minScore === null ? '' : ` (minimum ${report.minScore}%)`;
  return `${scoreText(summary)}${threshold}: ${parts.join(', ')} of ${report.mutants.length} mutants`;
}

/** The terminal report: every survivor and every mutant that did not run, then the verdict. */
export function renderMutationText(report: MutationReport): string {
  const lines: string[] = [];
  const survivors = report.mutants.filter((mutant) => mutant.status === 'survived');
  const notRun = report.mutants.filter((mutant) => mutant.status === 'not-run');
  for (const mutant of report.mutants) {
    const mark = mutant.status === 'killed' ? 'killed  ' : mutant.status === 'survived' ? 'SURVIVED' : 'NOT RUN ';
    lines.push(`${mark} ${mutant.id}`);
  }
  if (survivors.length > 0) {
    lines.push('', `Survivors (the suite passed with these applied):`);
    for (const mutant of survivors) {
      lines.push(`  ${mutant.table}${mutant.policy === null ? '' : `, policy ${mutant.policy}`} (${mutant.kind})`, `    ${mutant.description}`, `    missing: ${mutant.hint}`);
    }
  }
  if (notRun.length > 0) {
    lines.push('', 'Not run (never counted as killed):');
    for (const mutant of notRun) lines.push(`  ${mutant.id}: not run: ${mutant.reason ?? 'unknown reason'}`);
  }
  lines.push('', mutationVerdict(report));
  return `${lines.join('\n')}\n`;
}

/** The JSON report: the summary and every mutant with its status, SQL and hint. */
export function mutationJson(report: MutationReport): Record<string, unknown> {
  const summary = summarizeMutations(report);
  return {
    ok: summary.ok,
    score: summary.score,
    minScore: report.minScore,
    killed: summary.killed,
    survived: summary.survived,
    notRun: summary.notRun,
    command: report.command,
    backend: report.backend,
    jobs: report.jobs,
    baselineMs: report.baselineMs,
    ms: report.ms,
    mutants: report.mutants.map((mutant) => ({
      id: mutant.id,
      status: mutant.status,
      kind: mutant.kind,
      table: mutant.table,
      policy: mutant.policy,
      description: mutant.description,
      hint: mutant.hint,
      reason: mutant.reason,
      sql: mutant.sql,
      ms: mutant.ms,
    })),
  };
}

/** One self-contained page: the verdict, the survivors with their hints, then every mutant. */
export function renderMutationHtml(report: MutationReport, title = 'tenantkit mutation report'): string {
  const summary = summarizeMutations(report);
  const row = (mutant: MutantResult) =>
    `<tr class="${mutant.status}"><td>${escapeHtml(mutant.status === 'not-run' ? 'not run' : mutant.status)}</td><td>${escapeHtml(mutant.table)}</td><td>${escapeHtml(mutant.policy ?? '')}</td><td><code>${escapeHtml(mutant.kind)}</code></td><td>${escapeHtml(mutant.description)}</td><td>${escapeHtml(mutant.status === 'not-run' ? `not run: ${mutant.reason ?? ''}` : mutant.status === 'survived' ? mutant.hint : '')}</td><td><pre>${escapeHtml(mutant.sql)}</pre></td></tr>`;
  const survivors = report.mutants.filter((mutant) => mutant.status === 'survived');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2129}
h1{font-size:1.4rem}.verdict{font-size:1.1rem;padding:.6rem 1rem;border-radius:6px;display:inline-block}
.verdict.ok{background:#d9f2dc}.verdict.bad{background:#fbd9d6}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #d0d4d9;padding:.3rem .5rem;text-align:left;vertical-align:top}
tr.killed td:first-child{background:#2e9e4d;color:#fff}tr.survived td:first-child{background:#d93a2b;color:#fff;font-weight:700}tr.not-run td:first-child{background:#f6c343;font-weight:700}
pre{margin:0;white-space:pre-wrap;font-size:12px}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="verdict ${summary.ok ? 'ok' : 'bad'}">${escapeHtml(mutationVerdict(report))}</p>
<p class="setup">${escapeHtml(`${report.command.join(' ')} on ${report.backend}, ${report.jobs} job(s); unmutated suite ${Math.round(report.baselineMs)} ms; total ${Math.round(report.ms)} ms`)}</p>
${survivors.length > 0 ? `<h2>Survivors: what the suite does not test</h2><ul>${survivors.map((mutant) => `<li><strong>${escapeHtml(mutant.table)}</strong>${mutant.policy === null ? '' : ` policy <code>${escapeHtml(mutant.policy)}</code>`}: ${escapeHtml(mutant.description)} &mdash; ${escapeHtml(mutant.hint)}</li>`).join('\n')}</ul>` : ''}
<h2>Mutants (${report.mutants.length})</h2>
<table class="mutants"><thead><tr><th>status</th><th>table</th><th>policy</th><th>kind</th><th>mutation</th><th>hint</th><th>SQL</th></tr></thead><tbody>
${report.mutants.map(row).join('\n')}
</tbody></table>
</body></html>
`;
}
