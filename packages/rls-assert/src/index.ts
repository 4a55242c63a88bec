export { assertIsolation } from './assert.js';
export { AUDIT_RULES, type AuditOptions, type AuditRuleCode, auditCatalog } from './audit/rules.js';
export type { PolicyCommand } from './audit/catalog.js';
export { type CheckIsolationOptions, type CheckProgress, checkIsolation } from './check.js';
export { DEFAULT_TENANT_COLUMNS } from '@tenantkit/fixtures';
export * from './context.js';
export * from './errors.js';
export { IsolationNotProvenError } from './errors-report.js';
export { type GuardOptions, type IdentityFacts, type TableRef, assertProvingIdentity } from './guard.js';
export { CHECKS, type CheckName, NOT_APPLICABLE } from './checks.js';
export { type FreshSessionCount, type ProbeEnvironment, type ProbeTable, type TableProbeResult, probeTable } from './probes.js';
export type { Outcome, Privileges } from './outcome.js';
export { renderHtml, renderMatrix, reportJson, verdict } from './report.js';
export type { AuditCode, CheckResult, CheckStatus, Finding, IsolationReport, ReportSetup, Severity, TableReport, TableStatus } from './types.js';
export { type HandPickedTable, handPickedWorld } from './world.js';
export { type Membership, type MembershipContextOptions, findMembership, isSupabase, membershipContext } from './supabase.js';
export { SUPABASE_RULES } from './audit/supabase-rules.js';
export { type GenerateMutantsOptions, MUTATION_KINDS, type MutationKind, type PolicyMutant, generateMutants } from './mutate/generate.js';
export {
  type MutantResult,
  type MutantStatus,
  type MutationReport,
  type MutationSummary,
  mutationJson,
  mutationVerdict,
  renderMutationHtml,
  renderMutationText,
  summarizeMutations,
} from './mutate/report.js';
export {
  COVERED_COMMANDS,
  type CoverageCell,
  type NotAnalysedStatements,
  type PolicyCoverageOptions,
  type PolicyCoverageReport,
  type PolicyExercise,
  policyCoverage,
} from './coverage/policy-coverage.js';
export { coverageJson, coverageVerdict, renderCoverage, renderCoverageHtml } from './coverage/coverage-render.js';
