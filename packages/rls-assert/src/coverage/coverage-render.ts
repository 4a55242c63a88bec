import { escapeHtml } from '../report.js';
import { COVERED_COMMANDS, type PolicyCoverageReport } from './policy-coverage.js';

/** One sentence: the figure, or why there is none. */
export function coverageVerdict(report: PolicyCoverageReport): string {
  if (report.verdict === 'not-proven') return `Policy coverage NOT proven: ${report.reason}.`;
  const covered = report.cells.filter((cell) => cell.covered).length;
  const policies = report.policies.filter((policy) => policy.statements > 0).length;
  return `Policy coverage ${report.coverage}%: ${covered} of ${report.cells.length} table x command cells ran as the app role with a tenant context; ${policies} of ${report.policies.length} policies exercised.`;
}

function statementsLine(report: PolicyCoverageReport): string {
  const s = report.statements;
  return `App role: ${report.appRole}; ${s.appWithContext} statement(s) with a tenant context (${s.analysed} analysed), ${s.appWithoutContext} without one, ${s.admin + s.owner} as admin or owner, in ${s.databases} database(s).`;
}

function policyLabel(policy: PolicyCoverageReport['policies'][number]): string {
  const roles = policy.roles.length === 1 && policy.roles[0] === 'PUBLIC' ? '' : ` TO ${policy.roles.join(', ')}`;
  return `${policy.table} ${policy.name} (${policy.command}${roles})`;
}

/** TRUNCATE attempts, outside the figure (it ignores row level security). */
function truncateLine(report: PolicyCoverageReport): string | undefined {
  if (report.truncates.length === 0) return undefined;
  const attempted = report.truncates.filter((entry) => entry.statements > 0).map((entry) => `${entry.table} (${entry.statements})`);
  const never = report.truncates.filter((entry) => entry.statements === 0).map((entry) => entry.table);
  const parts = [...(attempted.length > 0 ? [`attempted on ${attempted.join(', ')}`] : []), ...(never.length > 0 ? [`never on ${never.join(', ')}`] : [])];
  return `TRUNCATE as the app role (it ignores row level security; not in the figure): ${parts.join('; ')}.`;
}

/** The report as text: the figure, a row per table with a column per command, the gaps below. */
export function renderCoverage(report: PolicyCoverageReport): string {
  const tables = [...new Set(report.cells.map((cell) => cell.table))];
  const width = Math.max(5, ...tables.map((table) => table.length));
  const header = `${'table'.padEnd(width)}  ${COVERED_COMMANDS.map((command) => command.padEnd(6)).join('  ')}`.trimEnd();
  const rows = tables.map((table) => {
    const marks = COVERED_COMMANDS.map((command) => {
      const cell = report.cells.find((candidate) => candidate.table === table && candidate.command === command);
      return (cell?.covered ? String(cell.statements) : '-').padEnd(6);
    });
    return `${table.padEnd(width)}  ${marks.join('  ')}`.trimEnd();
  });
  const unexercised = report.policies.filter((policy) => policy.gap !== undefined).map((policy) => `  ${policyLabel(policy)}: ${policy.gap}`);
  const notAnalysed = report.notAnalysed.map((entry) => `  ${entry.count} x ${entry.reason}${entry.example ? `: ${entry.example}` : ''}`);
  return [
    coverageVerdict(report),
    statementsLine(report),
    ...(report.cells.length > 0 ? ['', header, ...rows, '', 'n = statements as the app role with a tenant context, - = never run'] : []),
    ...(report.uncovered.length > 0 ? ['', 'Uncovered:', ...report.uncovered.map((line) => `  ${line}`)] : []),
    ...(unexercised.length > 0 ? ['', 'Policies never exercised:', ...unexercised] : []),
    ...(truncateLine(report) ? ['', truncateLine(report)!] : []),
    ...(notAnalysed.length > 0 ? ['', 'Statements not analysed (not counted):', ...notAnalysed] : []),
    ...(report.unreadable.length > 0 ? ['', `Unreadable coverage lines (not counted): ${report.unreadable.join(', ')}`] : []),
    '',
  ].join('\n');
}

/** The report as the CLI's JSON contract. */
export function coverageJson(report: PolicyCoverageReport): Record<string, unknown> {
  return {
    verdict: report.verdict,
    reason: report.reason ?? null,
    coverage: report.coverage,
    appRole: report.appRole,
    cells: report.cells,
    uncovered: report.uncovered,
    policies: report.policies.map((policy) => ({ ...policy, exercised: policy.statements > 0, gap: policy.gap ?? null })),
    truncates: report.truncates,
    otherTables: report.otherTables,
    notAnalysed: report.notAnalysed,
    statements: report.statements,
    overheadMicros: report.overheadMicros,
    unreadable: report.unreadable,
  };
}

/** A self-contained HTML page, in the audit report's style. */
export function renderCoverageHtml(report: PolicyCoverageReport, title = 'tenantkit policy coverage'): string {
  const tables = [...new Set(report.cells.map((cell) => cell.table))];
  const rows = tables
    .map((table) => {
      const cells = COVERED_COMMANDS.map((command) => {
        const cell = report.cells.find((candidate) => candidate.table === table && candidate.command === command);
        return cell?.covered
          ? `<td class="pass" title="${cell.statements} statement(s)">${cell.statements}</td>`
          : `<td class="fail" title="${escapeHtml(`${command} never run as the app role with a tenant context`)}">&ndash;</td>`;
      }).join('');
      return `<tr><th scope="row">${escapeHtml(table)}</th>${cells}</tr>`;
    })
    .join('\n');
  const policies = report.policies
    .map(
      (policy) =>
        `<tr class="${policy.gap === undefined ? 'pass' : 'fail'}"><td>${escapeHtml(policy.table)}</td><td><code>${escapeHtml(policy.name)}</code></td><td>${escapeHtml(policy.command)}</td><td>${escapeHtml(policy.roles.join(', '))}</td><td>${policy.statements}</td><td>${escapeHtml(policy.gap ?? '')}</td></tr>`,
    )
    .join('\n');
  const notAnalysed = report.notAnalysed.map((entry) => `<li>${entry.count} &times; ${escapeHtml(entry.reason)}${entry.example ? `: <code>${escapeHtml(entry.example)}</code>` : ''}</li>`);
  const good = report.verdict === 'covered';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2129}
h1{font-size:1.4rem}.verdict{font-size:1.1rem;padding:.6rem 1rem;border-radius:6px;display:inline-block}
.verdict.ok{background:#d9f2dc}.verdict.bad{background:#fbd9d6}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #d0d4d9;padding:.3rem .5rem;text-align:center}
th[scope=row]{text-align:left;font-weight:600}
td.pass{background:#2e9e4d;color:#fff}td.fail{background:#d93a2b;color:#fff;font-weight:700}
.policies td{text-align:left;vertical-align:top}.policies tr.pass td:first-child{background:#2e9e4d;color:#fff}.policies tr.fail td:first-child{background:#d93a2b;color:#fff}
.legend span{display:inline-block;width:1rem;height:1rem;vertical-align:middle;margin:0 .3rem 0 1rem}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="verdict ${good ? 'ok' : 'bad'}">${escapeHtml(coverageVerdict(report))}</p>
<p class="setup">${escapeHtml(statementsLine(report))}</p>
${
  tables.length > 0
    ? `<p class="legend"><span style="background:#2e9e4d"></span>run as the app role with a tenant context (number of statements) <span style="background:#d93a2b"></span>never run</p>
<table class="matrix"><thead><tr><th>table</th>${COVERED_COMMANDS.map((command) => `<th>${command}</th>`).join('')}</tr></thead>
<tbody>
${rows}
</tbody></table>`
    : ''
}
${report.uncovered.length > 0 ? `<h2>Uncovered (${report.uncovered.length})</h2><ul>${report.uncovered.map((line) => `<li>${escapeHtml(line)}</li>`).join('\n')}</ul>` : ''}
<h2>Policies (${report.policies.length})</h2>
${report.policies.length > 0 ? `<table class="policies"><thead><tr><th>table</th><th>policy</th><th>command</th><th>to</th><th>statements</th><th>why never exercised</th></tr></thead><tbody>${policies}</tbody></table>` : '<p>No policies.</p>'}
${truncateLine(report) ? `<p class="truncate">${escapeHtml(truncateLine(report)!)}</p>` : ''}
${notAnalysed.length > 0 ? `<h2>Statements not analysed (not counted)</h2><ul>${notAnalysed.join('\n')}</ul>` : ''}
</body></html>
`;
}
