// @tenantkit/testkit/internal: what the kit's own packages (fixtures, rls-assert, the command line)
// and its benchmark share, beside the public API. Not covered by semver; applications use the main entry.
export { PgliteBackend } from './backends/pglite/pglite-backend.js';
export { DumpBlob } from './backends/pglite/dump-blob.js';
export { probeContainerRuntime } from './backends/container/container-endpoint.js';
export { isLoopbackHost } from './backends/url/url-endpoint.js';
export { reapOrphanedNativeServers } from './backends/native/native-reaper.js';
export { findNativeBinaries } from './backends/native/native-binaries.js';
export { type BackendDefinition, BACKENDS, backendDefinition, backendSummaries } from './backends/registry.js';
export { ServerEngine, type ServerEndpoint, dropTemplateDatabase } from './backends/server/server-engine.js';
export type { OpenSession } from './backends/backend.js';
export { SHARED_SERVER_ENV, templateKey } from './kit.js';
export { runScript } from './migrations/run-script.js';
export { detectMigrationsFormat } from './migrations/detect-format.js';
export { connectPg } from './session/pg-session.js';
export { isCustomSettingName } from './sql/ident.js';
export { byText, jsonValue, notExtensionMemberSql, textArray, userSchemaSql } from './sql/catalog.js';
export { type SqlToken, type SqlTokenKind, tokenizeSql } from './sql/lexer.js';
export { escapeRegExp } from './regexp.js';
export { isConnectionLost, messageOf, sqlStateOf } from './errors.js';
export { formatMs } from './progress.js';
export { KIT_PREFIX, grantCrud } from './roles.js';
export { MUTANT_ENV, MUTANT_LOG_ENV } from './mutation/mutant.js';
export {
  COVERAGE_ENV,
  type CoverageDatabaseLine,
  type CoverageLine,
  type CoverageRecords,
  type CoverageStatementLine,
  type CoverageTouch,
  readCoverageRecords,
} from './coverage/coverage-file.js';
export type { CoveredCommand } from './coverage/plan-relations.js';
