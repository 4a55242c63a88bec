import { type Session, quoteIdent } from '@tenantkit/testkit';
import { isCustomSettingName, messageOf, sqlStateOf } from '@tenantkit/testkit/internal';
import { TenantContextError } from './errors.js';

/** The steps tenant contexts are made of: LOCAL settings and roles, each read back. */

export function requireName(kind: string, name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '' || name.includes('\0')) {
    throw new TenantContextError(
      String(name),
      `${kind} must be a non-empty name, got ${JSON.stringify(name)}`,
      'Pass the name the policies use, e.g. gucContext(\'app.tenant_id\').',
    );
  }
  return name;
}

/**
 * A setting name Postgres accepts for a custom setting (a dotted name of identifiers), checked when
 * the context is made: otherwise the first probe fails with SQLSTATE 42602.
 */
export function requireSettingName(kind: string, name: unknown): string {
  const checked = requireName(kind, name);
  if (!isCustomSettingName(checked)) {
    throw new TenantContextError(
      checked,
      `${kind} ${JSON.stringify(checked)} is not a name Postgres accepts for a custom setting (it would fail with SQLSTATE 42602)`,
      'Use a dotted name of letters, digits and underscores, the one the policies read with current_setting(), e.g. app.tenant_id.',
    );
  }
  return checked;
}

const OUTSIDE_TRANSACTION_FIX =
  'Apply the context inside a transaction (db.app.transaction(async (tx) => { await context.apply(tx, tenant); ... })): LOCAL settings outside one end with the statement that set them, so the probes would run without any tenant.';

export async function setLocal(tx: Session, setting: string, value: string): Promise<void> {
  await tx.query('SELECT pg_catalog.set_config($1, $2, true)', [setting, value]);
}

export async function setLocalRole(tx: Session, role: string, purpose: string): Promise<void> {
  try {
    await tx.query(`SET LOCAL ROLE ${quoteIdent(role)}`);
  } catch (error) {
    const state = sqlStateOf(error);
    if (state === '42704' || state === '42501' || state === '22023') {
      throw new TenantContextError(
        role,
        `SET LOCAL ROLE ${role} (${purpose}) was refused: ${messageOf(error)}`,
        `Create the role and make the connecting role a member it can SET ROLE to (CREATE ROLE ${quoteIdent(role)} NOLOGIN; GRANT ${quoteIdent(role)} TO <login role>;), or fix the role name.`,
        error,
      );
    }
    throw error;
  }
}

/** A separate statement reads the context back: outside a transaction it would be gone already. */
export async function expectApplied(tx: Session, what: string, setting: string | undefined, value: string | undefined, role: string | undefined): Promise<void> {
  const { rows } = await tx.query<{ value: string | null; role: string }>(
    'SELECT pg_catalog.current_setting($1, true) AS value, current_user::text AS role',
    [setting ?? 'tenantkit.unused'],
  );
  const row = rows[0];
  if (setting !== undefined && value !== undefined && value !== '' && row?.value !== value) {
    throw new TenantContextError(setting, `${what} did not hold (read back ${JSON.stringify(row?.value ?? null)})`, OUTSIDE_TRANSACTION_FIX);
  }
  if (role !== undefined && row?.role !== role) {
    throw new TenantContextError(role, `${what} did not hold (current_user is ${JSON.stringify(row?.role ?? null)})`, OUTSIDE_TRANSACTION_FIX);
  }
}

