/**
 * Policy expressions as a tree (parsed by policy-parser.ts from pg_get_expr() output) and a
 * three-valued evaluator: whether an expression holds for every row when the tenant setting is
 * set, never set or empty, or when the session picks the values of the settings it reads.
 */

/**
 * How the tenant context looks to the evaluator: `set` to some tenant (unknown which: only
 * expressions true whatever it is come out TRUE), `unset` (never set in this session:
 * current_setting(x, true) is NULL, current_setting(x) raises), `empty` (set once, then ended:
 * ''), or `chosen`: every setting holds whatever value the session picks, as any role may SET a
 * custom setting (expressions that some choice makes true for every row come out TRUE).
 */
export type Scenario = 'set' | 'unset' | 'empty' | 'chosen';

export type Expr =
  | { readonly t: 'bool'; readonly v: boolean }
  | { readonly t: 'null' }
  | { readonly t: 'str'; readonly v: string }
  | { readonly t: 'num'; readonly v: string }
  | { readonly t: 'col'; readonly name: string }
  | { readonly t: 'call'; readonly name: string; readonly args: readonly Expr[] }
  | { readonly t: 'cast'; readonly arg: Expr; readonly type: string }
  | { readonly t: 'cmp'; readonly op: string; readonly l: Expr; readonly r: Expr }
  /** Any other binary operator (arithmetic, ||, ->>, @>...): strict, NULL in gives NULL out. */
  | { readonly t: 'op'; readonly op: string; readonly l: Expr; readonly r: Expr }
  | { readonly t: 'and' | 'or'; readonly args: readonly Expr[] }
  | { readonly t: 'not'; readonly arg: Expr }
  | { readonly t: 'is'; readonly arg: Expr; readonly test: 'null' | 'true' | 'false'; readonly negated: boolean }
  | { readonly t: 'opaque' };

export type Value =
  | { readonly k: 'bool'; readonly v: boolean }
  | { readonly k: 'null' }
  | { readonly k: 'lit'; readonly v: string }
  | { readonly k: 'col'; readonly name: string }
  /** The tenant setting's value when set: not null, not empty, otherwise unknown. */
  | { readonly k: 'ctx' }
  /** A setting's value in the `chosen` scenario: any text the session likes, NULL (never set) included. */
  | { readonly k: 'chosen' }
  | { readonly k: 'err' }
  | { readonly k: 'unknown' };

const TRUE: Value = { k: 'bool', v: true };

export function isTrue(value: Value): boolean {
  return value.k === 'bool' && value.v;
}
const FALSE: Value = { k: 'bool', v: false };
const NULL: Value = { k: 'null' };
const ERR: Value = { k: 'err' };
const UNKNOWN: Value = { k: 'unknown' };
const CHOSEN: Value = { k: 'chosen' };
/** Comparisons a chosen value can satisfy against any constant: it can equal it or differ from it. */
const CHOOSABLE_COMPARISONS = new Set(['=', '<>', '!=', 'IS DISTINCT FROM', 'IS NOT DISTINCT FROM']);

/** Types whose input accepts ''; a cast of '' to anything else raises (fail closed). */
const TEXT_TYPES = new Set(['text', 'character varying', 'varchar', 'character', 'char', 'bpchar', 'name', 'citext', 'unknown', '"char"']);

/**
 * Evaluates a policy expression for a row whose columns are unknown but not null. TRUE means the
 * expression holds for every such row in that scenario. Every current_setting() reads as the
 * tenant's: a request may set several (tenant, user, role), so one read with IS NOT NULL is open.
 */
export function evaluate(expr: Expr, scenario: Scenario, columns?: ReadonlySet<string>): Value {
  const ev = (e: Expr) => evaluate(e, scenario, columns);
  switch (expr.t) {
    case 'bool':
      return expr.v ? TRUE : FALSE;
    case 'null':
      return NULL;
    case 'str':
    case 'num':
      return { k: 'lit', v: expr.v };
    case 'col':
      return columns && !columns.has(expr.name) ? UNKNOWN : { k: 'col', name: expr.name };
    case 'call':
      return evaluateCall(expr.name, expr.args, scenario, ev);
    case 'cast': {
      const value = ev(expr.arg);
      const type = expr.type.toLowerCase().replace(/\(.*\)$/, '').trim();
      // A setting the session picks can read 'on' as well as a tenant id.
      if (value.k === 'chosen') return type === 'boolean' || type === 'bool' ? TRUE : value;
      if (value.k === 'lit') {
        if (type === 'boolean' || type === 'bool') {
          const text = value.v.trim().toLowerCase();
          if (['t', 'true', 'y', 'yes', 'on', '1'].includes(text)) return TRUE;
          if (['f', 'false', 'n', 'no', 'off', '0'].includes(text)) return FALSE;
          return ERR;
        }
        if (value.v === '' && !TEXT_TYPES.has(type) && !type.endsWith('[]')) return ERR;
        return value;
      }
      return value;
    }
    case 'cmp': {
      const l = ev(expr.l);
      const r = ev(expr.r);
      if (l.k === 'err' || r.k === 'err') return ERR;
      const constant = (v: Value) => v.k === 'lit' || v.k === 'bool' || v.k === 'null';
      if ((l.k === 'chosen' && constant(r)) || (r.k === 'chosen' && constant(l))) {
        // NULL = x is never true; IS [NOT] DISTINCT FROM NULL is, for the right choice.
        const withNull = l.k === 'null' || r.k === 'null';
        return CHOOSABLE_COMPARISONS.has(expr.op) && (!withNull || expr.op.startsWith('IS ')) ? TRUE : withNull ? NULL : UNKNOWN;
      }
      if (l.k === 'null' || r.k === 'null') return expr.op === 'IS DISTINCT FROM' || expr.op === 'IS NOT DISTINCT FROM' ? UNKNOWN : NULL;
      const equal = sameValue(l, r);
      if (equal === undefined) return UNKNOWN;
      if (expr.op === '=' || expr.op === 'IS NOT DISTINCT FROM') return equal ? TRUE : FALSE;
      if (expr.op === '<>' || expr.op === '!=' || expr.op === 'IS DISTINCT FROM') return equal ? FALSE : TRUE;
      return UNKNOWN;
    }
    case 'op': {
      const l = ev(expr.l);
      const r = ev(expr.r);
      if (l.k === 'err' || r.k === 'err') return ERR;
      if (l.k === 'null' || r.k === 'null') return NULL;
      return UNKNOWN;
    }
    case 'and': {
      const values = expr.args.map(ev);
      if (values.some((v) => v.k === 'bool' && !v.v)) return FALSE;
      if (values.some((v) => v.k === 'err')) return ERR;
      if (values.every((v) => v.k === 'bool' && v.v)) return TRUE;
      return values.some((v) => v.k === 'null') ? NULL : UNKNOWN;
    }
    case 'or': {
      const values = expr.args.map(ev);
      if (values.some((v) => v.k === 'bool' && v.v)) return TRUE;
      if (values.some((v) => v.k === 'err')) return ERR;
      if (values.every((v) => v.k === 'bool' && !v.v)) return FALSE;
      return values.some((v) => v.k === 'null') ? NULL : UNKNOWN;
    }
    case 'not': {
      const value = ev(expr.arg);
      if (value.k === 'bool') return value.v ? FALSE : TRUE;
      return value.k === 'null' || value.k === 'err' ? value : UNKNOWN;
    }
    case 'is': {
      const value = ev(expr.arg);
      if (value.k === 'err') return ERR;
      let result: boolean | undefined;
      if (expr.test === 'null') {
        // Set or never set, whichever the session likes.
        if (value.k === 'chosen') return TRUE;
        if (value.k === 'null') result = true;
        // Columns are taken as not null: a NULL tenant column is reported on its own.
        else if (value.k === 'lit' || value.k === 'bool' || value.k === 'ctx' || value.k === 'col') result = false;
      } else if (value.k === 'bool') result = value.v === (expr.test === 'true');
      else if (value.k === 'null') result = false;
      if (result === undefined) return UNKNOWN;
      return result !== expr.negated ? TRUE : FALSE;
    }
    case 'opaque':
      return UNKNOWN;
  }
}

function sameValue(l: Value, r: Value): boolean | undefined {
  if (l.k === 'col' && r.k === 'col') return l.name === r.name ? true : undefined;
  if (l.k === 'lit' && r.k === 'lit') return l.v === r.v;
  if (l.k === 'bool' && r.k === 'bool') return l.v === r.v;
  return undefined;
}

function evaluateCall(name: string, args: readonly Expr[], scenario: Scenario, ev: (e: Expr) => Value): Value {
  const fn = name.toLowerCase().replace(/^pg_catalog\./, '');
  if (fn === 'current_setting') {
    const missingOk = args[1] ? ev(args[1]) : FALSE;
    if (scenario === 'chosen') return CHOSEN;
    if (scenario === 'set') return { k: 'ctx' };
    if (scenario === 'empty') return { k: 'lit', v: '' };
    if (missingOk.k === 'bool' && missingOk.v) return NULL;
    return missingOk.k === 'bool' ? ERR : UNKNOWN;
  }
  if (fn === 'coalesce') {
    for (const arg of args) {
      const value = ev(arg);
      if (value.k === 'null') continue;
      return value;
    }
    return NULL;
  }
  if (fn === 'nullif' && args.length === 2) {
    const a = ev(args[0]!);
    const b = ev(args[1]!);
    if (a.k === 'null' || a.k === 'err') return a;
    if (b.k === 'err') return ERR;
    if (b.k === 'null') return a;
    // The setting of a tenant is never the empty string or a sentinel literal; a chosen one need not be.
    if ((a.k === 'ctx' || a.k === 'chosen') && b.k === 'lit') return a;
    const equal = sameValue(a, b);
    if (equal === undefined) return UNKNOWN;
    return equal ? NULL : a;
  }
  return UNKNOWN;
}

/** The name a current_setting() call reads, when it is a literal (casts looked through). */
function settingName(arg: Expr | undefined): string | undefined {
  let name = arg;
  while (name?.t === 'cast') name = name.arg;
  return name?.t === 'str' ? name.v : undefined;
}

/** The custom settings an expression reads with current_setting('name', ...), in order, each once. */
export function settingsReadBy(expr: Expr): string[] {
  const found: string[] = [];
  const walk = (e: Expr): void => {
    switch (e.t) {
      case 'call': {
        const read = e.name.toLowerCase().replace(/^pg_catalog\./, '') === 'current_setting' ? settingName(e.args[0]) : undefined;
        if (read !== undefined && !found.includes(read)) found.push(read);
        e.args.forEach(walk);
        return;
      }
      case 'cast':
      case 'not':
      case 'is':
        walk(e.arg);
        return;
      case 'cmp':
      case 'op':
        walk(e.l);
        walk(e.r);
        return;
      case 'and':
      case 'or':
        e.args.forEach(walk);
        return;
      default:
        return;
    }
  };
  walk(expr);
  return found;
}
