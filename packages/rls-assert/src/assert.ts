import type { TestDatabase } from '@tenantkit/testkit';
import { type CheckIsolationOptions, checkIsolation } from './check.js';
import { IsolationNotProvenError } from './errors-report.js';
import { renderMatrix } from './report.js';
import type { IsolationReport } from './types.js';

/** checkIsolation, throwing with the rendered matrix when isolation is not proven. */
export async function assertIsolation(db: TestDatabase, options: CheckIsolationOptions = {}): Promise<IsolationReport> {
  const report = await checkIsolation(db, options);
  if (!report.ok) throw new IsolationNotProvenError(report, renderMatrix(report));
  return report;
}
