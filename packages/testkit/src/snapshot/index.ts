export { type SnapshotOptions, type SchemaSnapshot, snapshotSchema } from './schema-snapshot.js';
export { type SchemaChange, type SnapshotDiff, diffSnapshots, formatDiff, isEmpty } from './diff.js';
export type {
  ColumnInfo,
  ConstraintInfo,
  ConstraintType,
  DomainInfo,
  EnumInfo,
  ExtensionInfo,
  FunctionInfo,
  GrantInfo,
  GrantObjectKind,
  IndexInfo,
  PolicyInfo,
  ReferentialAction,
  RoleInfo,
  SchemaInfo,
  SequenceInfo,
  TableInfo,
  TriggerInfo,
  ViewInfo,
} from './types.js';
