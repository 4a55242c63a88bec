import {
  type ColumnInfo,
  type SchemaSnapshot,
  type TableInfo,
  compareNames,
  grantKey,
} from './schema-snapshot.js';

export interface SchemaChange {
  readonly kind: '+' | '-' | '~';
  /** The object, e.g. "index public.documents_title_idx" or "column public.documents.title". */
  readonly object: string;
  /** What changed, e.g. "nullable -> not null". */
  readonly detail?: string;
}

export interface SnapshotDiff {
  /** Differences in what the schema is. */
  readonly changes: SchemaChange[];
  /** Differences that change no behaviour, such as the physical order of columns. */
  readonly notices: SchemaChange[];
}

type Value = unknown;

/** How one property's change reads: "label before -> after" unless a kind says otherwise. */
type Describe = (before: Value, after: Value) => string;

function show(value: Value): string {
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (Array.isArray(value)) return `[${value.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))).join(', ')}]`;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const labelled =
  (label: string): Describe =>
  (before, after) =>
    `${label} ${show(before)} -> ${show(after)}`;

const toggle =
  (label: string, off: string, on: string): Describe =>
  (before, after) =>
    `${label ? `${label} ` : ''}${before ? on : off} -> ${after ? on : off}`;

const expression =
  (label: string): Describe =>
  (before, after) =>
    `${label} ${before === null ? 'none' : String(before)} -> ${after === null ? 'none' : String(after)}`;

/** Lists of named entries (a domain's checks): what was added, dropped or redefined. */
const namedEntries =
  (label: string): Describe =>
  (before, after) => {
    type Entry = { readonly name: string; readonly definition: string };
    const old = new Map(((before ?? []) as Entry[]).map((entry) => [entry.name, entry.definition]));
    const neu = new Map(((after ?? []) as Entry[]).map((entry) => [entry.name, entry.definition]));
    const parts: string[] = [];
    for (const name of [...new Set([...old.keys(), ...neu.keys()])].sort(compareNames)) {
      const a = old.get(name);
      const b = neu.get(name);
      if (a === b) continue;
      if (a === undefined) parts.push(`${label} ${name} added: ${b}`);
      else if (b === undefined) parts.push(`${label} ${name} dropped: ${a}`);
      else parts.push(`${label} ${name}: ${a} -> ${b}`);
    }
    return parts.join('; ');
  };

const shortHash: Describe = (before, after) => `body changed (sha256 ${String(before).slice(0, 12)} -> ${String(after).slice(0, 12)})`;

/** Per object kind: properties whose change reads better than "name before -> after". */
const DESCRIBE: Record<string, Record<string, Describe>> = {
  table: {
    rowSecurity: toggle('row security', 'disabled', 'enabled'),
    forceRowSecurity: toggle('force row security', 'off', 'on'),
    partitionKey: labelled('partition key'),
    partitionOf: labelled('partition of'),
    partitionBound: labelled('partition bound'),
  },
  column: {
    notNull: toggle('', 'nullable', 'not null'),
    default: expression('default'),
  },
  policy: {
    using: expression('USING'),
    withCheck: expression('WITH CHECK'),
    permissive: toggle('', 'restrictive', 'permissive'),
  },
  function: { bodySha256: shortHash, securityDefiner: toggle('', 'security invoker', 'security definer') },
  procedure: { bodySha256: shortHash, securityDefiner: toggle('', 'security invoker', 'security definer') },
  domain: { notNull: toggle('', 'nullable', 'not null'), default: expression('default'), checks: namedEntries('check') },
};

function splitCamel(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => ` ${letter.toLowerCase()}`);
}

function equal(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Property-by-property differences of one object present on both sides. */
function compareObject(kind: string, object: string, before: object, after: object, skip: readonly string[], out: SchemaChange[]): void {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((key) => key !== 'name' && !skip.includes(key));
  for (const key of keys) {
    const a = (before as Record<string, Value>)[key];
    const b = (after as Record<string, Value>)[key];
    if (equal(a, b)) continue;
    // "partitioned table" reads like "table", "materialized view" like "view".
    const family = DESCRIBE[kind] ?? DESCRIBE[kind.slice(kind.lastIndexOf(' ') + 1)];
    const describe = family?.[key] ?? labelled(splitCamel(key));
    out.push({ kind: '~', object: `${kind} ${object}`, detail: describe(a ?? null, b ?? null) });
  }
}

/**
 * Added, removed and changed entries of one list, keyed by `key`. `kindOf` names an entry's kind
 * ("view" or "materialized view"); when it differs between the sides the entry is reported as
 * dropped and re-created.
 */
function compareLists<T extends object>(
  before: readonly T[],
  after: readonly T[],
  key: (item: T) => string,
  kindOf: (item: T) => string,
  out: SchemaChange[],
  options: { skip?: readonly string[]; nested?: (a: T, b: T) => void; label?: (item: T) => string } = {},
): void {
  const label = options.label ?? key;
  const old = new Map(before.map((item) => [key(item), item]));
  const neu = new Map(after.map((item) => [key(item), item]));
  const names = [...new Set([...old.keys(), ...neu.keys()])].sort(compareNames);
  for (const name of names) {
    const a = old.get(name);
    const b = neu.get(name);
    if (a && b && kindOf(a) === kindOf(b)) {
      compareObject(kindOf(a), label(a), a, b, options.skip ?? [], out);
      options.nested?.(a, b);
      continue;
    }
    if (a) out.push({ kind: '-', object: `${kindOf(a)} ${label(a)}` });
    if (b) out.push({ kind: '+', object: `${kindOf(b)} ${label(b)}` });
  }
}

function compareColumns(a: TableInfo, b: TableInfo, changes: SchemaChange[], notices: SchemaChange[]): void {
  compareLists<ColumnInfo>(
    a.columns,
    b.columns,
    (column) => column.name,
    () => 'column',
    changes,
    { label: (column) => `${a.name}.${column.name}` },
  );
  const common = new Set(a.columns.map((column) => column.name).filter((name) => b.columns.some((column) => column.name === name)));
  const orderBefore = a.columnOrder.filter((name) => common.has(name));
  const orderAfter = b.columnOrder.filter((name) => common.has(name));
  if (!equal(orderBefore, orderAfter)) {
    notices.push({ kind: '~', object: `table ${a.name}`, detail: `column order ${orderBefore.join(', ')} -> ${orderAfter.join(', ')}` });
  }
}

/** What differs between two snapshots, in a stable order: by object kind, then name. */
export function diffSnapshots(before: SchemaSnapshot, after: SchemaSnapshot): SnapshotDiff {
  const changes: SchemaChange[] = [];
  const notices: SchemaChange[] = [];
  const byName = (item: { readonly name: string }) => item.name;
  const fixed = (kind: string) => () => kind;

  compareLists(before.extensions, after.extensions, byName, fixed('extension'), changes);
  compareLists(before.roles, after.roles, byName, fixed('role'), changes);
  compareLists(before.schemas, after.schemas, byName, fixed('schema'), changes);
  compareLists(before.enums, after.enums, byName, fixed('enum'), changes);
  compareLists(before.domains, after.domains, byName, fixed('domain'), changes);
  compareLists(before.sequences, after.sequences, byName, fixed('sequence'), changes);
  compareLists(before.tables, after.tables, byName, (table) => table.kind, changes, {
    skip: ['columns', 'columnOrder'],
    nested: (a, b) => compareColumns(a, b, changes, notices),
  });
  compareLists(before.constraints, after.constraints, byName, fixed('constraint'), changes, { skip: ['table'] });
  compareLists(before.indexes, after.indexes, byName, fixed('index'), changes, { skip: ['table'] });
  compareLists(before.views, after.views, byName, (view) => view.kind, changes);
  compareLists(before.functions, after.functions, byName, (fn) => fn.kind, changes);
  compareLists(before.triggers, after.triggers, byName, fixed('trigger'), changes, { skip: ['table'] });
  compareLists(before.policies, after.policies, byName, fixed('policy'), changes, { skip: ['table'] });
  compareLists(before.grants, after.grants, grantKey, fixed('grant'), changes, {
    skip: ['objectKind', 'object', 'grantee', 'privilege', 'revokedDefault'],
  });
  return { changes, notices };
}

/** No changes; notices (column order) do not count. */
export function isEmpty(diff: SnapshotDiff): boolean {
  return diff.changes.length === 0;
}

export function formatChange(change: SchemaChange): string {
  return `${change.kind} ${change.object}${change.detail === undefined ? '' : `: ${change.detail}`}`;
}

/** One line per change, then the notices prefixed "note:"; empty text when nothing differs. */
export function formatDiff(diff: SnapshotDiff): string {
  return [...diff.changes.map(formatChange), ...diff.notices.map((notice) => `note: ${formatChange(notice)}`)].join('\n');
}
