import { CHECKS } from './probes.js';
import type { CheckStatus, IsolationReport } from './types.js';

const MARK: Record<CheckStatus, string> = { pass: 'ok', fail: 'FAIL', 'n/a': '-', 'not-proven': '??' };

/** The checks that keep the verdict from "proven": failed, or not proven and not accepted. */
function openChecks(report: IsolationReport) {
  return report.tables.flatMap((table) => table.checks.filter((check) => check.status === 'not-proven').map((check) => ({ table: table.table, ...check })));
}

/** One sentence: proven, or why not. */
export function verdict(report: IsolationReport): string {
  const scoped = report.tables.filter((table) => table.status !== 'global' && table.status !== 'not-selected');
  const accepted = openChecks(report).filter((check) => check.allowed).length;
  if (report.ok) {
    return `Isolation proven for ${scoped.length} tenant-scoped table(s)${accepted > 0 ? `, with ${accepted} not-proven check(s) accepted by the caller (listed below)` : ''}.`;
  }
  const failed = scoped.filter((table) => table.status === 'failed').length;
  const unproven = scoped.filter((table) => table.status === 'not-proven').length;
  const errors = report.findings.filter((finding) => finding.severity === 'error').length;
  const parts = [
    ...(scoped.length === 0 ? ['no tenant-scoped table was probed'] : []),
    ...(failed > 0 ? [`${failed} table(s) leak`] : []),
    ...(unproven > 0 ? [`${unproven} table(s) not proven`] : []),
    ...(errors > 0 ? [`${errors} error finding(s)`] : []),
  ];
  return `Isolation NOT proven: ${parts.join(', ')}.`;
}

/** Which app role, tenant context and backend the probes used. */
function setupLine(report: IsolationReport): string {
  return `App role: ${report.setup.appRole}; tenant context: ${report.setup.context}; backend: ${report.setup.backend}.`;
}

/** The matrix as text: a row per table, a column per check; failures, gaps and findings listed below. */
export function renderMatrix(report: IsolationReport): string {
  const width = Math.max(5, ...report.tables.map((table) => table.table.length));
  const header = `${'table'.padEnd(width)}  ${'kind'.padEnd(11)}  ${'status'.padEnd(12)}  ${CHECKS.map((check) => check.padEnd(Math.max(4, check.length))).join('  ')}`;
  const rows = report.tables.map((table) => {
    const cells = CHECKS.map((check) => {
      const entry = table.checks.find((candidate) => candidate.check === check);
      const mark = entry ? `${MARK[entry.status]}${entry.allowed ? '*' : ''}` : '??';
      return mark.padEnd(Math.max(4, check.length));
    });
    return `${table.table.padEnd(width)}  ${table.kind.padEnd(11)}  ${table.status.padEnd(12)}  ${cells.join('  ')}`;
  });
  const failures = report.tables.flatMap((table) =>
    table.checks.filter((check) => check.status === 'fail').map((check) => `  FAIL ${table.table} ${check.check}: ${check.detail}`),
  );
  const gaps = openChecks(report).map((check) => `  ${check.allowed ? 'ACCEPTED' : 'NOT PROVEN'} ${check.table} ${check.check}: ${check.detail}`);
  const findings = report.findings.map((finding) => `  ${finding.severity.toUpperCase().padEnd(7)} ${finding.code} ${finding.object}: ${finding.message}\n          fix: ${finding.hint}`);
  return [
    verdict(report),
    setupLine(report),
    '',
    header,
    ...rows,
    '',
    'ok = refused by row level security (or a missing privilege the catalog confirms), FAIL = a leak was demonstrated, ?? = not proven (the kit could not demonstrate it), - = not applicable, * = accepted by the caller',
    ...(failures.length > 0 ? ['', 'Failed checks:', ...failures] : []),
    ...(gaps.length > 0 ? ['', 'Not proven:', ...gaps] : []),
    ...(findings.length > 0 ? ['', 'Findings:', ...findings] : []),
    '',
  ].join('\n');
}

/** The report as the CLI's JSON contract. */
export function reportJson(report: IsolationReport): object {
  return {
    ok: report.ok,
    setup: { appRole: report.setup.appRole, context: report.setup.context, backend: report.setup.backend },
    tables: report.tables.map((table) => ({
      table: table.table,
      kind: table.kind,
      tenantColumn: table.tenantColumn,
      status: table.status,
      checks: table.checks.map((check) => ({ check: check.check, status: check.status, detail: check.detail, ...(check.allowed ? { allowed: true } : {}) })),
    })),
    findings: report.findings.map((finding) => ({
      code: finding.code,
      severity: finding.severity,
      object: finding.object,
      message: finding.message,
      hint: finding.hint,
    })),
  };
}

export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

/** One self-contained page: the matrix as a colour grid (details on hover and below) and the findings. */
export function renderHtml(report: IsolationReport, title = 'tenantkit isolation report'): string {
  const SYMBOL: Record<CheckStatus, string> = { pass: '&#10003;', fail: '&#10007;', 'not-proven': '?', 'n/a': '&ndash;' };
  const CLASS: Record<CheckStatus, string> = { pass: 'pass', fail: 'fail', 'not-proven': 'unproven', 'n/a': 'na' };
  const cell = (status: CheckStatus, detail: string, allowed: boolean) =>
    `<td class="${CLASS[status]}${allowed ? ' accepted' : ''}" title="${escapeHtml(detail)}">${SYMBOL[status]}${allowed ? '*' : ''}</td>`;
  const rows = report.tables
    .map((table) => {
      const cells = CHECKS.map((check) => {
        const entry = table.checks.find((candidate) => candidate.check === check);
        return cell(entry?.status ?? 'not-proven', entry?.detail ?? 'not probed', Boolean(entry?.allowed));
      }).join('');
      return `<tr><th scope="row">${escapeHtml(table.table)}</th><td class="kind">${escapeHtml(table.kind)}</td><td class="status ${escapeHtml(table.status)}">${escapeHtml(table.status)}</td>${cells}</tr>`;
    })
    .join('\n');
  const failures = report.tables.flatMap((table) =>
    table.checks.filter((check) => check.status === 'fail').map((check) => `<li><strong>${escapeHtml(table.table)}</strong> ${escapeHtml(check.check)}: ${escapeHtml(check.detail)}</li>`),
  );
  const gaps = openChecks(report).map(
    (check) => `<li><strong>${escapeHtml(check.table)}</strong> ${escapeHtml(check.check)}${check.allowed ? ' (accepted)' : ''}: ${escapeHtml(check.detail)}</li>`,
  );
  const findings = report.findings
    .map(
      (finding) =>
        `<tr class="${finding.severity}"><td>${finding.severity}</td><td><code>${escapeHtml(finding.code)}</code></td><td>${escapeHtml(finding.object)}</td><td>${escapeHtml(finding.message)}</td><td>${escapeHtml(finding.hint)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#1d2129}
h1{font-size:1.4rem}.verdict{font-size:1.1rem;padding:.6rem 1rem;border-radius:6px;display:inline-block}
.verdict.ok{background:#d9f2dc}.verdict.bad{background:#fbd9d6}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #d0d4d9;padding:.3rem .5rem;text-align:center}
th[scope=row]{text-align:left;font-weight:600}td.kind{color:#59616b}
td.pass{background:#2e9e4d;color:#fff}td.fail{background:#d93a2b;color:#fff;font-weight:700}td.na{background:#e9ecef;color:#6c757d}td.unproven{background:#f6c343;color:#1d2129;font-weight:700}td.accepted{outline:2px dashed #59616b}td.status{text-align:left}
.matrix thead th{vertical-align:bottom}.matrix thead th:nth-child(n+4){writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:500}
tr.error td:first-child{background:#d93a2b;color:#fff}tr.warning td:first-child{background:#f0a020}tr.info td:first-child{background:#6c9bd2;color:#fff}
.findings td{text-align:left;vertical-align:top}.legend span{display:inline-block;width:1rem;height:1rem;vertical-align:middle;margin:0 .3rem 0 1rem}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<p class="verdict ${report.ok ? 'ok' : 'bad'}">${escapeHtml(verdict(report))}${report.ok ? '' : ' See the red and yellow cells and the errors below.'}</p>
<p class="setup">${escapeHtml(setupLine(report))}</p>
<p class="legend"><span style="background:#2e9e4d"></span>pass (refused by row level security, or a missing privilege the catalog confirms) <span style="background:#d93a2b"></span>fail (a probe proved a leak) <span style="background:#f6c343"></span>not proven (the kit could not demonstrate it; hover for why) <span style="background:#e9ecef"></span>not applicable</p>
<table class="matrix"><thead><tr><th>table</th><th>kind</th><th>status</th>${CHECKS.map((check) => `<th>${check}</th>`).join('')}</tr></thead>
<tbody>
${rows}
</tbody></table>
${failures.length > 0 ? `<h2>Failed checks</h2><ul>${failures.join('\n')}</ul>` : ''}
${gaps.length > 0 ? `<h2>Not proven</h2><ul>${gaps.join('\n')}</ul>` : ''}
<h2>Findings (${report.findings.length})</h2>
${report.findings.length > 0 ? `<table class="findings"><thead><tr><th>severity</th><th>code</th><th>object</th><th>what</th><th>fix</th></tr></thead><tbody>${findings}</tbody></table>` : '<p>No findings.</p>'}
</body></html>
`;
}
