export { type SnapshotOptions, type SchemaSnapshot, snapshotSchema } from './schema-snapshot.js';
export { type SchemaChange, type SnapshotDiff, diffSnapshots, formatDiff, isEmpty } from './diff.js';
