// The public API of @tenantkit/testkit. What only the kit's own packages and command line need is in
// ./internal.ts (@tenantkit/testkit/internal), with no promise of stability.
export type { Backend, BackendCapabilities, IdentityName, OpenSession, PhysicalDatabase, PreparedTemplate, TemplateSpec } from './backends/backend.js';
export type { ContainerBackendOptions } from './backends/container/container-endpoint.js';
export { startNativeServer } from './backends/native/native-server.js';
export type { NativeServer } from './backends/native/native-server.js';
export type { NativeBinariesPreference, NativeServerOptions } from './backends/native/native-config.js';
export type {
  BackendKind,
  IsolationMode,
  KitOptions,
  NativeBackendOptions,
  PgliteBackendSettings,
  Preset,
  ResolvedRoles,
  ResolvedTenantContext,
  RoleOptions,
  TenantContextOptions,
} from './config.js';
export { BACKEND_KINDS, PRESETS } from './config.js';
export { SUPABASE_API_ROLES, SUPABASE_PLATFORM_SCHEMAS, type SupabasePresetRoles, supabasePresetSql } from './presets/supabase.js';
export type { TestDatabase, ReleaseOptions } from './database.js';
export { type AttachOptions, attachDatabase } from './attach.js';
// Every export of errors.ts but isConnectionLost, messageOf and sqlStateOf, internal helpers (in ./internal.ts); test/public-api.test.ts checks the list.
export {
  AdminMembershipError,
  BackendMisuseError,
  CacheCorruptError,
  CatalogUnexpectedError,
  ConnectionLostError,
  ContainerImageUnavailableError,
  ContainerRuntimeUnavailableError,
  ContextLeakError,
  DatabaseReleasedError,
  InsufficientPrivilegesError,
  InvalidIdentifierError,
  InvalidOptionError,
  LockWaitTimeoutError,
  LoginRefusedError,
  MigrationCheckFailedError,
  MigrationFailedError,
  MigrationsInvalidError,
  MigrationsNotFoundError,
  MigrationsUnreadableError,
  MutantFailedError,
  MutantUnreadableError,
  NativeBinariesNotFoundError,
  PeerMissingError,
  PgliteExtensionUnavailableError,
  RemoteHostRefusedError,
  RoleConflictError,
  RoleEscapeError,
  ServerStartFailedError,
  ServerUnreachableError,
  type SqlLocation,
  TESTKIT_ERROR_CODES,
  TemplateLockTimeoutError,
  TenantkitError,
  ToolUnavailableError,
  type TenantkitErrorCode,
  type TenantkitErrorDetails,
  type TestkitErrorCode,
  UnknownBackendError,
} from './errors.js';
export { defineKit, startKit } from './kit.js';
export type { Kit } from './kit.js';
export type { AppliedStep, MigrationInfo, MigrationTarget, Migrator } from './migrations/migrator.js';
export { schemaFile, schemaSql } from './migrations/sources/schema/schema.js';
export { schemaFiles } from './migrations/sources/schema/schema-files.js';
export * from './snapshot/index.js';
export {
  type MigrationCheckReport,
  type MigrationStepReport,
  type Stairway,
  type StairwayOptions,
  type StepStatus,
  checkMigration,
  createStairway,
  runFullCycle,
  runStairway,
} from './migrations/check/stairway.js';
export { type CheckEveryMigrationOptions, checkEveryMigration } from './migrations/check/every-migration.js';
export { findBackfillTraps } from './migrations/check/backfill-trap.js';
export { type NullGateReport, type NullGateTable, type OrphanRow, formatNullGate, nullGate } from './migrations/check/null-gate.js';
export { CHAIN_DATA_STEP, type ChainDataOptions, type SeedStep, checkChainData } from './migrations/check/chain-data.js';
export { type SqlDirectoryOptions, sqlDirectory } from './migrations/sources/golang-migrate/golang-migrate.js';
export { type UpOnlyOptions, type UpOnlyStep, upOnlyMigrations } from './migrations/sources/up-only/up-only.js';
export { UP_ONLY_LAYOUTS, type UpOnlyLayout, detectUpOnlyLayout, upOnlyFolder } from './migrations/sources/up-only/folders.js';
export { type AlembicOptions, alembicMigrator } from './migrations/sources/alembic/alembic.js';
export { type DbmateDirectoryOptions, dbmateDirectory } from './migrations/sources/dbmate/dbmate.js';
export { type CommandMigration, type CommandMigratorOptions, type CommandStateTable, commandMigrator } from './migrations/sources/command/command.js';
export { type DrizzleMigratorOptions, drizzleMigrator } from './migrations/sources/drizzle/drizzle.js';
export { type KnexMigratorOptions, knexMigrator } from './migrations/sources/knex/knex.js';
export { type KyselyMigratorOptions, type KyselyMigrationLike, type MigrationProviderLike, kyselyMigrator } from './migrations/sources/kysely/kysely.js';
export { type NodePgMigrateMigratorOptions, nodePgMigrateMigrator } from './migrations/sources/node-pg-migrate/node-pg-migrate.js';
export {
  type UmzugLike,
  type UmzugMigrationMeta,
  type UmzugMigratorOptions,
  type UmzugRunnableMigration,
  umzugMigrator,
} from './migrations/sources/umzug/umzug.js';
export type {
  CoverageDatabaseLine,
  CoverageLine,
  CoverageRecords,
  CoverageStatementLine,
  CoverageTouch,
} from './coverage/coverage-file.js';
export type { CoveredCommand } from './coverage/plan-relations.js';
export type { Queryable, QueryResult, Session } from './queryable.js';
export type { AppIdentity, Identity } from './session/identity.js';
export { quoteIdent, quoteLiteral, quoteQualified } from './sql/ident.js';
