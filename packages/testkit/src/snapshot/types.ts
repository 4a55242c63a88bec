/** The shape of a schema snapshot: what snapshotSchema reads from the catalog, normalized. */

/**
 * A normalized, JSON-serializable picture of what migrations built: no OIDs, no current sequence
 * values, every list sorted by name in code-point order. Two databases migrated the same way give
 * deep-equal snapshots; `diffSnapshots` explains any difference.
 */
export interface SchemaSnapshot {
  readonly schemas: SchemaInfo[];
  readonly tables: TableInfo[];
  readonly constraints: ConstraintInfo[];
  readonly indexes: IndexInfo[];
  readonly enums: EnumInfo[];
  readonly domains: DomainInfo[];
  readonly sequences: SequenceInfo[];
  readonly views: ViewInfo[];
  readonly functions: FunctionInfo[];
  readonly triggers: TriggerInfo[];
  readonly policies: PolicyInfo[];
  readonly grants: GrantInfo[];
  readonly extensions: ExtensionInfo[];
  readonly roles: RoleInfo[];
}

export interface SchemaInfo {
  readonly name: string;
  readonly owner: string;
}

export interface TableInfo {
  /** schema.table, each part quoted only when it needs to be. */
  readonly name: string;
  readonly kind: 'table' | 'partitioned table' | 'foreign table';
  readonly owner: string;
  readonly persistence: 'permanent' | 'unlogged' | 'temporary';
  /** pg_get_partkeydef, e.g. "RANGE (created_at)"; null when not partitioned. */
  readonly partitionKey: string | null;
  /** The parent when this table is a partition, with its bound. */
  readonly partitionOf: string | null;
  readonly partitionBound: string | null;
  /** Parents by plain (non-partition) inheritance. */
  readonly inherits: string[];
  readonly rowSecurity: boolean;
  readonly forceRowSecurity: boolean;
  readonly options: string[];
  /** Columns sorted by name; their physical order is kept apart in `columnOrder`. */
  readonly columns: ColumnInfo[];
  readonly columnOrder: string[];
}

export interface ColumnInfo {
  readonly name: string;
  /** format_type with the type modifier, e.g. "character varying(80)". */
  readonly type: string;
  readonly notNull: boolean;
  readonly default: string | null;
  readonly identity: 'always' | 'by default' | null;
  readonly generated: { readonly kind: 'stored' | 'virtual'; readonly expression: string } | null;
  /** Only when it differs from the type's own collation. */
  readonly collation: string | null;
}

export type ConstraintType = 'primary key' | 'foreign key' | 'unique' | 'check' | 'exclusion';

export interface ConstraintInfo {
  /** schema.table.constraint */
  readonly name: string;
  readonly table: string;
  readonly type: ConstraintType;
  /** pg_get_constraintdef: actions, deferrability and NOT VALID included. */
  readonly definition: string;
  readonly deferrable: boolean;
  readonly initiallyDeferred: boolean;
  /** Foreign keys only. */
  readonly references: string | null;
  readonly onUpdate: ReferentialAction | null;
  readonly onDelete: ReferentialAction | null;
}

export type ReferentialAction = 'no action' | 'restrict' | 'cascade' | 'set null' | 'set default';

export interface IndexInfo {
  /** schema.index */
  readonly name: string;
  readonly table: string;
  readonly unique: boolean;
  /** pg_get_indexdef without "CREATE [UNIQUE] INDEX name": starts at "ON". */
  readonly definition: string;
  readonly predicate: string | null;
}

export interface EnumInfo {
  readonly name: string;
  readonly owner: string;
  /** In sort order. */
  readonly labels: string[];
}

export interface DomainInfo {
  readonly name: string;
  readonly owner: string;
  readonly baseType: string;
  readonly notNull: boolean;
  readonly default: string | null;
  readonly collation: string | null;
  readonly checks: { readonly name: string; readonly definition: string }[];
}

export interface SequenceInfo {
  readonly name: string;
  readonly owner: string;
  readonly type: string;
  readonly start: string;
  readonly increment: string;
  readonly min: string;
  readonly max: string;
  readonly cache: string;
  readonly cycle: boolean;
  /** schema.table.column of OWNED BY (serial and identity columns). */
  readonly ownedBy: string | null;
}

export interface ViewInfo {
  readonly name: string;
  readonly kind: 'view' | 'materialized view';
  readonly owner: string;
  /** pg_get_viewdef with runs of whitespace outside literals collapsed. */
  readonly definition: string;
  /** reloptions sorted, e.g. "security_invoker=true". */
  readonly options: string[];
}

export interface FunctionInfo {
  /** schema.name(identity arguments) */
  readonly name: string;
  readonly kind: 'function' | 'procedure';
  readonly owner: string;
  readonly returns: string | null;
  readonly language: string;
  readonly volatility: 'immutable' | 'stable' | 'volatile';
  readonly securityDefiner: boolean;
  readonly strict: boolean;
  readonly parallel: 'safe' | 'restricted' | 'unsafe';
  readonly leakproof: boolean;
  /** SET clauses, sorted, e.g. "search_path=pg_catalog". */
  readonly config: string[];
  /** sha256 (hex) of the body. */
  readonly bodySha256: string;
}

export interface TriggerInfo {
  /** schema.table.trigger */
  readonly name: string;
  readonly table: string;
  readonly definition: string;
  readonly enabled: 'origin' | 'disabled' | 'replica' | 'always';
}

export interface PolicyInfo {
  /** schema.table.policy */
  readonly name: string;
  readonly table: string;
  readonly command: 'all' | 'select' | 'insert' | 'update' | 'delete';
  readonly permissive: boolean;
  /** Sorted; "PUBLIC" for the public pseudo-role. */
  readonly roles: string[];
  readonly using: string | null;
  readonly withCheck: string | null;
}

export type GrantObjectKind =
  | 'schema'
  | 'table'
  | 'partitioned table'
  | 'foreign table'
  | 'view'
  | 'materialized view'
  | 'sequence'
  | 'column'
  | 'function'
  | 'procedure'
  | 'type'
  | 'domain';

export interface GrantInfo {
  readonly objectKind: GrantObjectKind;
  readonly object: string;
  readonly grantee: string;
  readonly privilege: string;
  readonly grantable: boolean;
  /**
   * True for a privilege the object has by default (e.g. EXECUTE to PUBLIC on a function) that was
   * revoked; false for an explicit grant beyond the defaults.
   */
  readonly revokedDefault: boolean;
}

export interface ExtensionInfo {
  readonly name: string;
  readonly version: string;
  readonly schema: string;
}

export interface RoleInfo {
  readonly name: string;
  readonly exists: boolean;
  readonly superuser: boolean;
  readonly inherit: boolean;
  readonly createRole: boolean;
  readonly createDb: boolean;
  readonly login: boolean;
  readonly replication: boolean;
  readonly bypassRls: boolean;
  readonly connectionLimit: number;
  readonly validUntil: string | null;
  /** Roles this one is a member of, sorted. */
  readonly memberOf: string[];
}

export interface SnapshotOptions {
  /** Only these schemas (default: every user schema). */
  readonly schemas?: readonly string[];
  /** Tables left out with everything hanging off them. Default ['public.schema_migrations']. */
  readonly ignoreTables?: readonly string[];
  /** Cluster roles the migrations created, to include with their attributes. */
  readonly roles?: readonly string[];
}
