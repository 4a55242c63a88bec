import { TenantkitError, quoteIdent } from '@tenantkit/testkit';
import type { IdentityFacts } from './guard.js';

/**
 * The codes rls-assert raises. They are TenantkitErrors like every other failure of the kit, so
 * `instanceof TenantkitError` and `error.code` work as everywhere else.
 */
export const RLS_ASSERT_ERROR_CODES = [
  'TENANTKIT_BYPASSING_IDENTITY',
  'TENANTKIT_TENANT_CONTEXT',
  'TENANTKIT_UNKNOWN_TENANT_COLUMN',
  'TENANTKIT_UNKNOWN_TABLE',
  'TENANTKIT_UNKNOWN_TENANT_SETTING',
  'TENANTKIT_UNKNOWN_CHECK',
  'TENANTKIT_UNKNOWN_ROLE',
  'TENANTKIT_ISOLATION_NOT_PROVEN',
  'TENANTKIT_IDENTITY_UNREADABLE',
] as const;
export type RlsAssertErrorCode = (typeof RLS_ASSERT_ERROR_CODES)[number];

/** Base of rls-assert's errors; `code` is typed with its own codes. */
export class RlsAssertError extends TenantkitError<RlsAssertErrorCode> {}

/** True for an rls-assert error, of the given code when one is passed. */
export function isRlsAssertError(error: unknown, code?: RlsAssertErrorCode): error is RlsAssertError {
  return error instanceof RlsAssertError && (code === undefined || error.code === code);
}

/** Which of the connection's two users a reason is about. */
export type CheckedUser = 'current_user' | 'session_user';

/**
 * One reason an identity would see through row level security. `role` is the user checked
 * (current_user or session_user of the probing connection).
 */
export type BypassReason =
  | { readonly kind: 'superuser'; readonly role: string; readonly user: CheckedUser }
  | { readonly kind: 'bypassrls'; readonly role: string; readonly user: CheckedUser }
  | {
      readonly kind: 'member-of-bypassing';
      readonly role: string;
      readonly user: CheckedUser;
      /** The superuser or BYPASSRLS role it belongs to. */
      readonly bypassing: string;
      readonly bypassingIs: 'superuser' | 'bypassrls';
      /** inherit: its privileges apply without SET ROLE; set: SET ROLE reaches it; member: membership only (PG16+). */
      readonly via: readonly ('inherit' | 'set' | 'member')[];
    }
  | {
      readonly kind: 'owns-unforced-table';
      readonly role: string;
      readonly user: CheckedUser;
      /** schema.table, for messages. */
      readonly table: string;
      readonly schema: string;
      readonly name: string;
      readonly owner: string;
      /** RLS is enabled on the table (relrowsecurity); the owner skips it all the same without FORCE. */
      readonly rlsEnabled: boolean;
    };

const RESERVED = new Set(['all', 'user', 'table', 'select', 'group', 'order', 'current_user', 'session_user']);

/** A name as it would be typed in a fix: bare when that reads the same, quoted otherwise. */
function ident(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) && !RESERVED.has(name) ? name : quoteIdent(name);
}

function userLabel(reason: BypassReason): string {
  return `${reason.user} "${reason.role}"`;
}

function explain(reason: BypassReason): { why: string; fix: string } {
  switch (reason.kind) {
    case 'superuser':
      return {
        why: `${userLabel(reason)} is a SUPERUSER, and superusers ignore row level security, FORCE'd or not`,
        fix:
          reason.user === 'session_user'
            ? `connect as a login role that is NOSUPERUSER NOBYPASSRLS (the role the application uses) instead of switching to one with SET ROLE: a superuser session can RESET ROLE at any time`
            : `ALTER ROLE ${ident(reason.role)} NOSUPERUSER; or connect as a NOSUPERUSER NOBYPASSRLS login role`,
      };
    case 'bypassrls':
      return {
        why: `${userLabel(reason)} has BYPASSRLS, so no policy applies to it`,
        fix: `ALTER ROLE ${ident(reason.role)} NOBYPASSRLS; or connect as a NOSUPERUSER NOBYPASSRLS login role`,
      };
    case 'member-of-bypassing': {
      const how = reason.via.includes('inherit')
        ? 'inherits its privileges'
        : reason.via.includes('set')
          ? 'can SET ROLE to it'
          : 'is a member of it (a membership that grants neither INHERIT nor SET today can be changed by whoever administers it)';
      return {
        why: `${userLabel(reason)} is a member of "${reason.bypassing}", which is ${reason.bypassingIs === 'superuser' ? 'a SUPERUSER' : 'BYPASSRLS'}, and ${how}: anything it runs can act as that role and skip row level security`,
        fix: `REVOKE ${ident(reason.bypassing)} FROM ${ident(reason.role)}; (and from any role in between), or connect as a login role outside that role's membership`,
      };
    }
    case 'owns-unforced-table': {
      const owns = reason.owner === reason.role ? 'owns' : `is a member of "${reason.owner}", which owns`;
      return {
        why: `${userLabel(reason)} ${owns} ${reason.table}, which has no FORCE ROW LEVEL SECURITY${reason.rlsEnabled ? '' : ' (and row level security is not even enabled on it)'}: a table's owner skips its policies`,
        fix: `ALTER TABLE ${ident(reason.schema)}.${ident(reason.name)} ${reason.rlsEnabled ? '' : 'ENABLE ROW LEVEL SECURITY, '}FORCE ROW LEVEL SECURITY;${reason.owner === reason.role ? '' : ` or REVOKE ${ident(reason.owner)} FROM ${ident(reason.role)};`} or connect as a role that owns no tenant table (the application's runtime role)`,
      };
    }
  }
}

/**
 * The identity a check was about to prove isolation with sees through row level security: any
 * "isolated" result from it would be meaningless, so nothing was probed.
 */
export class BypassingIdentityError extends RlsAssertError {
  readonly reasons: readonly BypassReason[];
  readonly facts: IdentityFacts;

  constructor(facts: IdentityFacts, reasons: readonly BypassReason[]) {
    const lines = reasons.map((reason) => {
      const { why, fix } = explain(reason);
      return `  - ${why}. Fix: ${fix}.`;
    });
    const who =
      facts.currentUser === facts.sessionUser
        ? `Role "${facts.currentUser}"`
        : `The connection (current_user "${facts.currentUser}", session_user "${facts.sessionUser}")`;
    super(
      'TENANTKIT_BYPASSING_IDENTITY',
      `${who} bypasses row level security, so any isolation result obtained through it would be meaningless: it would see, and could write, every tenant's rows whatever the policies say. Nothing was probed.\n${lines.join('\n')}\nProve isolation as the role the application connects as: LOGIN NOSUPERUSER NOBYPASSRLS, owning no tenant table (or only tables with FORCE ROW LEVEL SECURITY), member of no superuser or BYPASSRLS role.`,
      { object: facts.currentUser, reasons, sessionUser: facts.sessionUser },
    );
    this.reasons = reasons;
    this.facts = facts;
  }
}

/**
 * The tenant context could not be set up: the setting is unknown (not detectable from the
 * policies), or applying it did not take effect.
 */
export class TenantContextError extends RlsAssertError {
  /** `what` says what happened, `fix` what to do; `object` names the setting, role or tables concerned. */
  constructor(object: string, what: string, fix: string, cause?: unknown) {
    super('TENANTKIT_TENANT_CONTEXT', `Tenant context ${object}: ${sentence(what)} ${fix}`, { object, cause });
  }
}

/**
 * An input that names nothing in the schema (a tenant column no table has, a global table that does
 * not exist, a setting no policy reads, a role that was never created): acting on it would prove
 * nothing, so it is refused with what does exist.
 */
export class NamesNothingError extends RlsAssertError {
  readonly existing: readonly string[];

  constructor(
    code: Extract<RlsAssertErrorCode, 'TENANTKIT_UNKNOWN_TENANT_COLUMN' | 'TENANTKIT_UNKNOWN_TABLE' | 'TENANTKIT_UNKNOWN_TENANT_SETTING' | 'TENANTKIT_UNKNOWN_CHECK' | 'TENANTKIT_UNKNOWN_ROLE'>,
    what: string,
    given: readonly string[],
    existing: readonly string[],
    fix: string,
  ) {
    const shown = existing.slice(0, 30);
    super(
      code,
      `${what} ${given.map((name) => `"${name}"`).join(', ')} ${given.length > 1 ? 'name' : 'names'} nothing in this database. ${existing.length > 0 ? `What exists: ${shown.join(', ')}${existing.length > shown.length ? `, ... (${existing.length} in all)` : ''}.` : 'There is none.'} ${fix}`,
      { object: given.join(', ') },
    );
    this.existing = existing;
  }
}

/** `what` as one sentence: a full stop added unless it already ends with one. */
function sentence(what: string): string {
  return /[.!?]$/.test(what.trimEnd()) ? what.trimEnd() : `${what.trimEnd()}.`;
}

/** The probing connection did not say who it is (no row for current_user): nothing can be vouched for. */
export class IdentityUnreadableError extends RlsAssertError {
  constructor() {
    super(
      'TENANTKIT_IDENTITY_UNREADABLE',
      'The connection returned no row for SELECT current_user, session_user, so the identity proving isolation could not be checked and nothing was probed. Pass a Queryable whose query() returns the rows of the statement (a pg Client, a kit identity), not one that drops them.',
      { object: 'current_user' },
    );
  }
}
