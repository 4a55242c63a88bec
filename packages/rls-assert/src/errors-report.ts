import { RlsAssertError } from './errors.js';
import type { IsolationReport } from './types.js';

/** Isolation was not proven: the message is the rendered matrix, the report is attached. */
export class IsolationNotProvenError extends RlsAssertError {
  readonly report: IsolationReport;

  constructor(report: IsolationReport, matrix: string) {
    const failed = report.tables.flatMap((table) => table.checks.filter((check) => check.status === 'fail')).length;
    const unproven = report.tables.flatMap((table) => table.checks.filter((check) => check.status === 'not-proven' && !check.allowed)).length;
    const errors = report.findings.filter((finding) => finding.severity === 'error').length;
    super(
      'TENANTKIT_ISOLATION_NOT_PROVEN',
      `Tenant isolation is not proven: ${failed} failed check(s), ${unproven} check(s) not proven, ${errors} error finding(s). Fix what is named below, or accept a gap explicitly (allowNotProven).\n\n${matrix}`,
      { object: 'isolation' },
    );
    this.report = report;
  }
}
