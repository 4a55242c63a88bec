import { createHash } from 'node:crypto';
import type { Queryable } from '../queryable.js';
import { CatalogUnexpectedError } from '../errors.js';
import { EXTENSIONS_SQL, QUERIES, ROLES_SQL } from './catalog-queries.js';
import type {
  SchemaSnapshot,
  TableInfo,
  ColumnInfo,
  ConstraintType,
  ConstraintInfo,
  ReferentialAction,
  IndexInfo,
  EnumInfo,
  DomainInfo,
  SequenceInfo,
  ViewInfo,
  FunctionInfo,
  TriggerInfo,
  PolicyInfo,
  GrantObjectKind,
  GrantInfo,
  ExtensionInfo,
  RoleInfo,
  SnapshotOptions,
} from './types.js';

export type * from './types.js';

/**
 * Reads a normalized, JSON-serializable picture of what migrations built (types.ts) from the
 * catalog (catalog-queries.ts): no OIDs, no current sequence values, every list sorted by name in
 * code-point order. Two databases migrated the same way give deep-equal snapshots.
 */
/** Code-point order, the same on every machine and locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byName<T extends { readonly name: string }>(items: T[]): T[] {
  return items.sort((a, b) => compareNames(a.name, b.name));
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Collapses whitespace runs outside quoted literals and identifiers; trims. */
export function normalizeWhitespace(sql: string): string {
  let out = '';
  let quote: string | null = null;
  let pendingSpace = false;
  for (const ch of sql) {
    if (quote) {
      out += ch;
      if (ch === quote) quote = null;
      continue;
    }
    if (/\s/.test(ch)) {
      pendingSpace = out.length > 0;
      continue;
    }
    if (pendingSpace) out += ' ';
    pendingSpace = false;
    if (ch === "'" || ch === '"') quote = ch;
    out += ch;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const RELKIND_TABLE: Record<string, TableInfo['kind']> = { r: 'table', p: 'partitioned table', f: 'foreign table' };
const PERSISTENCE: Record<string, TableInfo['persistence']> = { p: 'permanent', u: 'unlogged', t: 'temporary' };
const CONSTRAINT_TYPE: Record<string, ConstraintType> = {
  p: 'primary key',
  f: 'foreign key',
  u: 'unique',
  c: 'check',
  x: 'exclusion',
};
const ACTION: Record<string, ReferentialAction> = { a: 'no action', r: 'restrict', c: 'cascade', n: 'set null', d: 'set default' };
const VOLATILITY: Record<string, FunctionInfo['volatility']> = { i: 'immutable', s: 'stable', v: 'volatile' };
const PARALLEL: Record<string, FunctionInfo['parallel']> = { s: 'safe', r: 'restricted', u: 'unsafe' };
const ENABLED: Record<string, TriggerInfo['enabled']> = { O: 'origin', D: 'disabled', R: 'replica', A: 'always' };
const COMMAND: Record<string, PolicyInfo['command']> = { '*': 'all', r: 'select', a: 'insert', w: 'update', d: 'delete' };

/** Postgres arrays may come back parsed (pg, PGlite) or as text when a driver does not know the type. */
function textArray(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string' && value.startsWith('{')) {
    const inner = value.slice(1, -1);
    if (inner === '') return [];
    const items: string[] = [];
    let current = '';
    let quoted = false;
    let wasQuoted = false;
    for (let i = 0; i < inner.length; i++) {
      const ch = inner[i]!;
      if (quoted) {
        if (ch === '\\') current += inner[++i] ?? '';
        else if (ch === '"') quoted = false;
        else current += ch;
      } else if (ch === '"') {
        quoted = true;
        wasQuoted = true;
      } else if (ch === ',') {
        items.push(current);
        current = '';
        wasQuoted = false;
      } else current += ch;
    }
    if (current !== '' || wasQuoted || inner.endsWith(',')) items.push(current);
    return items;
  }
  return [];
}

const sortedText = (value: unknown): string[] => textArray(value).sort(compareNames);
const bool = (value: unknown): boolean => value === true || value === 't' || value === 'true';
const orNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

type Row = Record<string, unknown>;

function lookup<T>(table: Record<string, T>, code: unknown, what: string): T {
  const found = table[String(code)];
  if (found === undefined) throw new CatalogUnexpectedError(what, String(code));
  return found;
}

/** Strips "CREATE [UNIQUE] INDEX name " so the definition does not repeat the key. */
function indexDefinition(definition: string, bareName: string): string {
  const match = /^CREATE (UNIQUE )?INDEX (CONCURRENTLY )?(IF NOT EXISTS )?/.exec(definition);
  if (!match) return definition;
  const rest = definition.slice(match[0].length);
  return rest.startsWith(`${bareName} `) ? rest.slice(bareName.length + 1) : rest;
}

/** schema.table.object, for objects whose names are unique per table. */
function qualify(qualifiedTable: string, name: string): string {
  return `${qualifiedTable}.${name}`;
}

export async function snapshotSchema(db: Queryable, options: SnapshotOptions = {}): Promise<SchemaSnapshot> {
  const schemaFilter = options.schemas ? [...options.schemas] : null;
  const ignored = new Set(options.ignoreTables ?? ['public.schema_migrations']);
  const roleNames = [...new Set(options.roles ?? [])];
  const run = async (sql: string): Promise<Row[]> => (await db.query<Row>(sql, [schemaFilter])).rows;

  // Extensions first: with none installed the other queries can skip the extension-membership check.
  const extensionRows = (await db.query<Row>(EXTENSIONS_SQL)).rows;
  const queries = QUERIES[extensionRows.length > 0 ? 'with' : 'without'];
  // One query per object kind; a pooled Queryable runs them side by side.
  const [schemaRows, tableRows, constraintRows, indexRows, typeRows, sequenceRows, viewRows, functionRows, triggerRows, policyRows, grantRows, roleRows] =
    await Promise.all([
      run(queries.schemas),
      run(queries.tables),
      run(queries.constraints),
      run(queries.indexes),
      run(queries.types),
      run(queries.sequences),
      run(queries.views),
      run(queries.functions),
      run(queries.triggers),
      run(queries.policies),
      run(queries.grants),
      roleNames.length > 0 ? db.query<Row>(ROLES_SQL, [roleNames]).then((result) => result.rows) : Promise.resolve([] as Row[]),
    ]);

  // A name given as schema.table matches the quoted form too (and the other way round).
  const isIgnored = (table: string): boolean => ignored.has(table) || ignored.has(table.replaceAll('"', ''));

  const readColumns = (value: unknown): { position: number; column: ColumnInfo }[] => {
    const raw = (typeof value === 'string' ? JSON.parse(value) : (value ?? [])) as Row[];
    return raw.map((row) => {
      const generatedCode = String(row.generated ?? '');
      const expression = orNull(row.expression);
      const identityCode = String(row.identity ?? '');
      const column: ColumnInfo = {
        name: String(row.name),
        type: String(row.type),
        notNull: bool(row.notNull),
        default: generatedCode === '' ? expression : null,
        identity: identityCode === 'a' ? 'always' : identityCode === 'd' ? 'by default' : null,
        generated:
          generatedCode !== '' && expression !== null ? { kind: generatedCode === 'v' ? 'virtual' : 'stored', expression } : null,
        collation: orNull(row.collation),
      };
      return { position: Number(row.position), column };
    });
  };

  const tables = byName(
    tableRows
      .filter((row) => !isIgnored(String(row.name)))
      .map((row): TableInfo => {
        const name = String(row.name);
        const columns = readColumns(row.columns);
        const parents = textArray(row.parents);
        const isPartition = bool(row.is_partition);
        return {
          name,
          kind: lookup(RELKIND_TABLE, row.relkind, 'relkind'),
          owner: String(row.owner),
          persistence: lookup(PERSISTENCE, row.persistence, 'relpersistence'),
          partitionKey: orNull(row.partition_key),
          partitionOf: isPartition ? (parents[0] ?? null) : null,
          partitionBound: orNull(row.partition_bound),
          inherits: isPartition ? [] : parents,
          rowSecurity: bool(row.row_security),
          forceRowSecurity: bool(row.force_row_security),
          options: sortedText(row.options),
          columns: columns.map((entry) => entry.column).sort((a, b) => compareNames(a.name, b.name)),
          columnOrder: [...columns].sort((a, b) => a.position - b.position).map((entry) => entry.column.name),
        };
      }),
  );

  const constraints = byName(
    constraintRows
      .filter((row) => !isIgnored(String(row.table_name)))
      .map((row): ConstraintInfo => {
        const table = String(row.table_name);
        const isForeign = row.type === 'f';
        return {
          name: qualify(table, String(row.name)),
          table,
          type: lookup(CONSTRAINT_TYPE, row.type, 'contype'),
          definition: String(row.definition),
          deferrable: bool(row.deferrable),
          initiallyDeferred: bool(row.deferred),
          references: isForeign ? orNull(row.references) : null,
          onUpdate: isForeign ? lookup(ACTION, row.on_update, 'confupdtype') : null,
          onDelete: isForeign ? lookup(ACTION, row.on_delete, 'confdeltype') : null,
        };
      }),
  );

  const indexes = byName(
    indexRows
      .filter((row) => !isIgnored(String(row.table_name)))
      .map((row): IndexInfo => ({
        name: String(row.name),
        table: String(row.table_name),
        unique: bool(row.unique),
        definition: indexDefinition(String(row.definition), String(row.bare_name)),
        predicate: orNull(row.predicate),
      })),
  );

  const enums: EnumInfo[] = [];
  const domains: DomainInfo[] = [];
  for (const row of typeRows) {
    if (row.typtype === 'e') {
      enums.push({ name: String(row.name), owner: String(row.owner), labels: textArray(row.labels) });
    } else {
      const checks = textArray(row.checks)
        .map((text) => JSON.parse(text) as { name: string; definition: string })
        .map((check) => ({ name: check.name, definition: check.definition }));
      domains.push({
        name: String(row.name),
        owner: String(row.owner),
        baseType: String(row.base_type),
        notNull: bool(row.not_null),
        default: orNull(row.default_expr),
        collation: orNull(row.collation),
        checks: byName(checks),
      });
    }
  }

  const sequences = byName(
    sequenceRows
      .map((row): SequenceInfo => ({
        name: String(row.name),
        owner: String(row.owner),
        type: String(row.type),
        start: String(row.start),
        increment: String(row.increment),
        min: String(row.min),
        max: String(row.max),
        cache: String(row.cache),
        cycle: bool(row.cycle),
        ownedBy: orNull(row.owned_by),
      }))
      .filter((sequence) => sequence.ownedBy === null || !isIgnored(sequence.ownedBy.slice(0, sequence.ownedBy.lastIndexOf('.')))),
  );

  const views = byName(
    viewRows.map((row): ViewInfo => ({
      name: String(row.name),
      kind: row.relkind === 'm' ? 'materialized view' : 'view',
      owner: String(row.owner),
      definition: normalizeWhitespace(String(row.definition)),
      options: sortedText(row.options),
    })),
  );

  const functions = byName(
    functionRows.map((row): FunctionInfo => ({
      name: String(row.name),
      kind: row.kind === 'p' ? 'procedure' : 'function',
      owner: String(row.owner),
      returns: orNull(row.returns),
      language: String(row.language),
      volatility: lookup(VOLATILITY, row.volatility, 'provolatile'),
      securityDefiner: bool(row.security_definer),
      strict: bool(row.strict),
      parallel: lookup(PARALLEL, row.parallel, 'proparallel'),
      leakproof: bool(row.leakproof),
      config: sortedText(row.config),
      bodySha256: sha256(String(row.body ?? '')),
    })),
  );

  const triggers = byName(
    triggerRows
      .filter((row) => !isIgnored(String(row.table_name)))
      .map((row): TriggerInfo => ({
        name: qualify(String(row.table_name), String(row.name)),
        table: String(row.table_name),
        definition: String(row.definition),
        enabled: lookup(ENABLED, row.enabled, 'tgenabled'),
      })),
  );

  const policies = byName(
    policyRows
      .filter((row) => !isIgnored(String(row.table_name)))
      .map((row): PolicyInfo => ({
        name: qualify(String(row.table_name), String(row.name)),
        table: String(row.table_name),
        command: lookup(COMMAND, row.command, 'polcmd'),
        permissive: bool(row.permissive),
        roles: sortedText(row.roles),
        using: orNull(row.using_expr),
        withCheck: orNull(row.with_check),
      })),
  );

  const grants = grantRows
    .map((row): GrantInfo => ({
      objectKind: String(row.kind) as GrantObjectKind,
      object: String(row.name),
      grantee: String(row.grantee),
      privilege: String(row.privilege),
      grantable: bool(row.grantable),
      revokedDefault: bool(row.revoked),
    }))
    .filter((grant) => {
      if (grant.objectKind === 'column') return !isIgnored(grant.object.slice(0, grant.object.lastIndexOf('.')));
      if (grant.objectKind === 'table' || grant.objectKind === 'partitioned table') return !isIgnored(grant.object);
      return true;
    })
    .sort((a, b) => compareNames(grantKey(a), grantKey(b)));

  const extensions = byName(
    extensionRows.map((row): ExtensionInfo => ({ name: String(row.name), version: String(row.version), schema: String(row.schema) })),
  );

  const found = new Map(roleRows.map((row) => [String(row.name), row]));
  const roles = roleNames.sort(compareNames).map((name): RoleInfo => {
    const row = found.get(name);
    return {
      name,
      exists: row !== undefined,
      superuser: bool(row?.superuser),
      inherit: bool(row?.inherit),
      createRole: bool(row?.create_role),
      createDb: bool(row?.create_db),
      login: bool(row?.login),
      replication: bool(row?.replication),
      bypassRls: bool(row?.bypass_rls),
      connectionLimit: row ? Number(row.connection_limit) : -1,
      validUntil: orNull(row?.valid_until),
      memberOf: sortedText(row?.member_of),
    };
  });

  return {
    schemas: byName(schemaRows.map((row) => ({ name: String(row.name), owner: String(row.owner) }))),
    tables,
    constraints,
    indexes,
    enums: byName(enums),
    domains: byName(domains),
    sequences,
    views,
    functions,
    triggers,
    policies,
    grants,
    extensions,
    roles,
  };
}

/** The identity of one grant entry: what, on which object, to whom. */
export function grantKey(grant: GrantInfo): string {
  return `${grant.revokedDefault ? 'revoked default ' : ''}${grant.privilege} on ${grant.objectKind} ${grant.object} to ${grant.grantee}`;
}
