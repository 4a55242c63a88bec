import type { AutoFactories, World } from '@tenantkit/fixtures';
import { ContextLeakError, type Queryable, type Session, type TestDatabase } from '@tenantkit/testkit';
import { escapeRegExp } from '@tenantkit/testkit/internal';
import { TENANTISH } from './audit/audit-context.js';
import { expectApplied, requireName, requireSettingName, setLocal, setLocalRole } from './context-steps.js';
import { TenantContextError } from './errors.js';
import type { TableRef } from './guard.js';

/**
 * How a request of the application tells Postgres which tenant it acts for. `apply` runs inside
 * the caller's transaction and only ever uses LOCAL scope (SET LOCAL, set_config(..., true),
 * SET LOCAL ROLE): the context ends with that transaction, on COMMIT and on ROLLBACK alike.
 */
export interface TenantContext {
  readonly description: string;
  apply(tx: Session, tenant: string): Promise<void>;
  /** Settings apply() writes (LOCAL); assertNoLeak checks them on the connection afterwards. */
  readonly settings: readonly string[];
  /** The setting that holds the tenant id itself, when the context is that one setting (gucContext). */
  readonly tenantSetting?: string;
  /** apply() switches the role with SET LOCAL ROLE. */
  readonly switchesRole: boolean;
  /**
   * The tenant value for which apply() sets an explicitly empty context, the way a setting reads
   * once an earlier SET LOCAL has ended (''): policies must then show nothing. Undefined when the
   * strategy has no empty form (one role per tenant).
   */
  readonly clearedValue?: string;
  /**
   * Runs once after the tenants are seeded and before any probe (checkIsolation): a context that
   * acts as one user per tenant creates those users here, and returns the world with any rows it added.
   */
  prepare?(db: TestDatabase, world: World, factories: AutoFactories): Promise<World>;
}

/** `SET LOCAL setting = tenant`, as set_config(setting, tenant, true). */
export function gucContext(setting: string): TenantContext {
  const name = requireSettingName('The tenant setting', setting);
  return {
    description: `SET LOCAL ${name} = <tenant>`,
    settings: [name],
    tenantSetting: name,
    switchesRole: false,
    clearedValue: '',
    async apply(tx, tenant) {
      await setLocal(tx, name, tenant);
      await expectApplied(tx, `SET LOCAL ${name}`, name, tenant, undefined);
    },
  };
}

/**
 * One database role per tenant, switched with SET LOCAL ROLE. The connecting role must be able to
 * SET ROLE to each (GRANT tenant_role TO login_role). On a single-session backend the kit refuses
 * role changes from owner/app: use a server backend for this strategy.
 */
export function rolePerTenantContext(roleFor: (tenant: string) => string): TenantContext {
  return {
    description: 'SET LOCAL ROLE <role of the tenant>',
    settings: [],
    switchesRole: true,
    async apply(tx, tenant) {
      const role = requireName(`The role for tenant ${JSON.stringify(tenant)}`, roleFor(tenant));
      await setLocalRole(tx, role, `role of tenant ${JSON.stringify(tenant)}`);
      await expectApplied(tx, `SET LOCAL ROLE ${role}`, undefined, undefined, role);
    },
  };
}

export interface JwtClaimsOptions {
  /** The claim holding the tenant, or a path into nested claims (['app_metadata', 'tenant_id']). Default tenant_id. */
  readonly claim?: string | readonly string[];
  /** Role switched to with SET LOCAL ROLE, and written as the `role` claim; null switches nothing. Default authenticated. */
  readonly role?: string | null;
  /** The setting holding the claims as JSON. Default request.jwt.claims. */
  readonly claimsSetting?: string;
  /** Further claims (sub, email, ...); the tenant claim overrides the same path in them. */
  readonly extraClaims?: Readonly<Record<string, unknown>>;
}

function claimsFor(path: readonly string[], tenant: string, role: string | null, extra: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const claims: Record<string, unknown> = { ...(role === null ? {} : { role }), ...structuredClone(extra) };
  let node = claims;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    const child = typeof next === 'object' && next !== null && !Array.isArray(next) ? (next as Record<string, unknown>) : {};
    node[key] = child;
    node = child;
  }
  node[path[path.length - 1]!] = tenant;
  return claims;
}

/**
 * Supabase/PostgREST style: the request's JWT claims as JSON in a setting
 * (set_config('request.jwt.claims', json, true)) and SET LOCAL ROLE to the claims' role. The
 * cleared value '' sets the claims setting itself to '' (a request without a token) under the role.
 */
export function jwtClaimsContext(options: JwtClaimsOptions = {}): TenantContext {
  const path = typeof options.claim === 'string' || options.claim === undefined ? [options.claim ?? 'tenant_id'] : [...options.claim];
  if (path.length === 0 || path.some((key) => typeof key !== 'string' || key === '')) {
    throw new TenantContextError(
      'claim',
      `the claim path ${JSON.stringify(options.claim)} is empty or has an empty key`,
      "Pass the claim's name ('tenant_id') or its path (['app_metadata', 'tenant_id']).",
    );
  }
  const role = options.role === undefined ? 'authenticated' : options.role === null ? null : requireName('The JWT role', options.role);
  const setting = requireSettingName('The claims setting', options.claimsSetting ?? 'request.jwt.claims');
  const extra = options.extraClaims ?? {};
  return {
    description: `set_config('${setting}', {"${path.join('.')}": <tenant>}, true)${role === null ? '' : ` + SET LOCAL ROLE ${role}`}`,
    settings: [setting],
    switchesRole: role !== null,
    clearedValue: '',
    async apply(tx, tenant) {
      const json = tenant === '' ? '' : JSON.stringify(claimsFor(path, tenant, role, extra));
      await setLocal(tx, setting, json);
      if (role !== null) await setLocalRole(tx, role, 'JWT role');
      await expectApplied(tx, `set_config('${setting}', ..., true)`, setting, json, role ?? undefined);
    },
  };
}

export interface CustomContextOptions {
  readonly description?: string;
  /** Settings fn writes, for assertNoLeak. */
  readonly settings?: readonly string[];
  readonly switchesRole?: boolean;
  readonly clearedValue?: string;
}

/**
 * Anything else, e.g. calling the application's own function (SELECT app.enter_tenant($1)). fn
 * runs inside the caller's transaction and must only use LOCAL scope.
 */
export function customContext(fn: (tx: Session, tenant: string) => Promise<void>, options: CustomContextOptions = {}): TenantContext {
  return {
    description: options.description ?? 'custom tenant context',
    settings: options.settings ?? [],
    switchesRole: options.switchesRole ?? false,
    ...(options.clearedValue === undefined ? {} : { clearedValue: options.clearedValue }),
    apply: (tx, tenant) => fn(tx, tenant),
  };
}

export interface AssertNoLeakOptions {
  /**
   * For a context that switches roles: the role the connection must be back to. Default: its
   * session_user (right for a login connection, not for a single-session backend's SET ROLE).
   */
  readonly role?: string;
}

/**
 * Run on the same connection once the transaction that applied a context has ended (COMMIT or
 * ROLLBACK): the setting must read NULL or '' again, and for a context switching roles the role
 * must be back. Throws ContextLeakError otherwise, which is what a plain SET causes.
 */
export async function assertNoLeak(session: Queryable, context: string | TenantContext, options: AssertNoLeakOptions = {}): Promise<void> {
  const settings = typeof context === 'string' ? [requireSettingName('The tenant setting', context)] : context.settings;
  for (const setting of settings) {
    const { rows } = await session.query<{ value: string | null }>('SELECT pg_catalog.current_setting($1, true) AS value', [setting]);
    const value = rows[0]?.value;
    if (value !== null && value !== undefined && value !== '') throw new ContextLeakError(setting, value);
  }
  if (typeof context !== 'string' && context.switchesRole) {
    const { rows } = await session.query<{ cu: string; su: string }>('SELECT current_user::text AS cu, session_user::text AS su');
    const row = rows[0];
    const expected = options.role ?? row?.su;
    if (row && row.cu !== expected) throw new ContextLeakError('role', row.cu);
  }
}

/** The tenant setting the policies read, as detectTenantSetting found it. */
export type DetectedTenantSetting =
  | { readonly kind: 'guc'; readonly setting: string; readonly policies: number }
  | {
      readonly kind: 'jwt';
      readonly claimsSetting: string;
      /** The last key of the path: the claim itself. */
      readonly claim: string;
      /** Keys from the top of the claims down to the claim (['app_metadata', 'tenant_id']). */
      readonly path: readonly string[];
      readonly policies: number;
    };

type Usage =
  | { readonly kind: 'guc'; readonly setting: string }
  | { readonly kind: 'jwt'; readonly setting: string; readonly path: readonly string[] }
  /** The setting is cast to JSON but no claim is taken from it here (a function returning the claims). */
  | { readonly kind: 'json'; readonly setting: string };

const LITERAL = String.raw`'((?:[^']|'')*)'`;
const TEXT_CAST = String.raw`(?:\s*::\s*text)?`;
const SETTING_CALL = new RegExp(
  String.raw`\bcurrent_setting\s*\(\s*${LITERAL}${TEXT_CAST}\s*(?:,\s*(?:true|false|'[^']*'(?:\s*::\s*boolean)?)\s*)?\)`,
  'gi',
);
/** What may follow the value before the claim is taken: closing parens, nullif's second argument, casts to JSON. */
const BEFORE_CLAIM = String.raw`((?:\s*(?:\)|,\s*''${TEXT_CAST}\s*\)|::\s*jsonb?\b))*)`;
/** Object keys walked with ->, parens between them, then ->> 'claim'. */
const CLAIM_PATH = String.raw`((?:\s*(?:\)|->\s*'(?:[^']|'')*'${TEXT_CAST}))*)\s*->>\s*${LITERAL}`;
const CLAIM_TAIL = new RegExp(`^${BEFORE_CLAIM}${CLAIM_PATH}`, 'i');
const JSON_TAIL = new RegExp(`^${BEFORE_CLAIM}`, 'i');
const PATH_KEY = new RegExp(String.raw`->\s*${LITERAL}`, 'g');

function unquote(literal: string): string {
  return literal.replaceAll("''", "'");
}

function claimPath(keys: string, claim: string): string[] {
  return [...keys.matchAll(PATH_KEY)].map((match) => unquote(match[1]!)).concat(unquote(claim));
}

/** The current_setting(...) calls of an expression or function body, with what is done to their value. */
function settingUsages(text: string): Usage[] {
  const usages: Usage[] = [];
  for (const match of text.matchAll(SETTING_CALL)) {
    const setting = unquote(match[1]!);
    // Built-in parameters (role, search_path) have no dot; tenant settings are custom ones.
    if (!setting.includes('.')) continue;
    const tail = text.slice(match.index + match[0].length, match.index + match[0].length + 400);
    const claim = CLAIM_TAIL.exec(tail);
    if (claim && /::\s*json/i.test(claim[1]!)) {
      usages.push({ kind: 'jwt', setting, path: claimPath(claim[2]!, claim[3]!) });
      continue;
    }
    const json = JSON_TAIL.exec(tail);
    usages.push(json && /::\s*json/i.test(json[1]!) ? { kind: 'json', setting } : { kind: 'guc', setting });
  }
  return usages;
}

function identPattern(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? `(?:${escapeRegExp(name)}|"${escapeRegExp(name)}")` : `"${escapeRegExp(name.replaceAll('"', '""'))}"`;
}

interface PolicyRow {
  oid: number | string;
  using_expr: string | null;
  check_expr: string | null;
}

interface FunctionRow {
  policy: number | string;
  schema: string;
  name: string;
  body: string | null;
}

/**
 * Reads the row level security policies (all of them, or those on `tables`) and returns the setting
 * they most often compare with: `{ kind: 'guc', setting }` for current_setting('app.tenant_id'...),
 * `{ kind: 'jwt', claimsSetting, claim }` for current_setting('request.jwt.claims', true)::json->>'tenant_id'
 * (pick jwtClaimsContext then). SQL and PL/pgSQL functions the policies call are read one level
 * deep, so current_tenant() wrappers and Supabase's auth.jwt() ->> 'tenant_id' are recognised.
 * Undefined when no policy reads a custom setting.
 */
export async function detectTenantSetting(db: Queryable, tables?: readonly TableRef[]): Promise<DetectedTenantSetting | undefined> {
  const filter = tables === undefined ? '' : 'WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))';
  const params = tables === undefined ? undefined : [tables.map((table) => table.schema), tables.map((table) => table.name)];
  const { rows: policies } = await db.query<PolicyRow>(
    `SELECT p.oid, pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS using_expr,
            pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
       FROM pg_catalog.pg_policy p
       JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       ${filter}
      ORDER BY p.oid`,
    params,
  );
  if (policies.length === 0) return undefined;
  const { rows: functions } = await db.query<FunctionRow>(
    `SELECT d.objid AS policy, pn.nspname AS schema, pr.proname AS name,
            pg_catalog.pg_get_functiondef(pr.oid) AS body
       FROM pg_catalog.pg_depend d
       JOIN pg_catalog.pg_proc pr ON pr.oid = d.refobjid
       JOIN pg_catalog.pg_namespace pn ON pn.oid = pr.pronamespace
       JOIN pg_catalog.pg_language l ON l.oid = pr.prolang
      WHERE d.classid = 'pg_catalog.pg_policy'::regclass
        AND d.refclassid = 'pg_catalog.pg_proc'::regclass
        AND d.objid = ANY($1::oid[])
        AND pr.prokind = 'f' AND l.lanname IN ('sql', 'plpgsql')`,
    [policies.map((policy) => String(policy.oid))],
  );

  const counts = new Map<string, { usage: DetectedTenantSetting; policies: number }>();
  for (const policy of policies) {
    const text = [policy.using_expr, policy.check_expr].filter((part): part is string => part !== null).join('\n');
    const usages: Usage[] = settingUsages(text);
    for (const fn of functions.filter((row) => String(row.policy) === String(policy.oid))) {
      const body = settingUsages(fn.body ?? '');
      const claimsSource = body.find((usage) => usage.kind === 'json');
      if (!claimsSource) {
        usages.push(...body);
        continue;
      }
      // The function returns the claims as JSON (auth.jwt()): the claim is taken in the policy.
      const call = new RegExp(String.raw`(?:${identPattern(fn.schema)}\s*\.\s*)?${identPattern(fn.name)}\s*\(\s*\)`, 'g');
      for (const match of text.matchAll(call)) {
        const tail = CLAIM_TAIL.exec(text.slice(match.index + match[0].length, match.index + match[0].length + 400));
        if (tail) usages.push({ kind: 'jwt', setting: claimsSource.setting, path: claimPath(tail[2]!, tail[3]!) });
      }
      usages.push(...body.filter((usage) => usage.kind === 'jwt'));
    }
    const seen = new Set<string>();
    for (const usage of usages) {
      if (usage.kind === 'json') continue;
      const key = usage.kind === 'jwt' ? `jwt\0${usage.setting}\0${usage.path.join('\0')}` : `guc\0${usage.setting}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const entry = counts.get(key);
      if (entry) entry.policies++;
      else
        counts.set(key, {
          usage:
            usage.kind === 'jwt'
              ? { kind: 'jwt', claimsSetting: usage.setting, claim: usage.path[usage.path.length - 1]!, path: usage.path, policies: 0 }
              : { kind: 'guc', setting: usage.setting, policies: 0 },
          policies: 1,
        });
    }
  }
  const ranked = [...counts.entries()].sort(([keyA, a], [keyB, b]) => {
    if (a.policies !== b.policies) return b.policies - a.policies;
    const tenantA = TENANTISH.test(keyA) ? 0 : 1;
    const tenantB = TENANTISH.test(keyB) ? 0 : 1;
    if (tenantA !== tenantB) return tenantA - tenantB;
    return keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
  });
  const best = ranked[0]?.[1];
  return best ? { ...best.usage, policies: best.policies } : undefined;
}

/** The strategy for a detected setting: gucContext, or jwtClaimsContext with the claim's path. */
export function contextFor(detected: DetectedTenantSetting, jwt: Omit<JwtClaimsOptions, 'claim' | 'claimsSetting'> = {}): TenantContext {
  return detected.kind === 'guc'
    ? gucContext(detected.setting)
    : jwtClaimsContext({ ...jwt, claimsSetting: detected.claimsSetting, claim: detected.path });
}

/**
 * detectTenantSetting, turned into a TenantContext; throws TenantContextError when the policies
 * read no setting (roles per tenant, a function in another language, no policies at all).
 */
export async function detectTenantContext(
  db: Queryable,
  tables?: readonly TableRef[],
  jwt: Omit<JwtClaimsOptions, 'claim' | 'claimsSetting'> = {},
): Promise<TenantContext> {
  const detected = await detectTenantSetting(db, tables);
  if (detected) return contextFor(detected, jwt);
  const where = tables === undefined ? 'the database' : tables.map((table) => `${table.schema}.${table.name}`).join(', ');
  throw new TenantContextError(
    where,
    `no row level security policy on ${where} reads a tenant setting with current_setting('...'), directly or through an SQL or PL/pgSQL function it calls, so the setting could not be detected`,
    "Pass the context explicitly: gucContext('app.tenant_id') for a setting, jwtClaimsContext({ claim: 'tenant_id' }) for JWT claims, rolePerTenantContext((tenant) => `tenant_${tenant}`) for a role per tenant, or customContext(fn) for anything else.",
  );
}
