import { InvalidIdentifierError } from '../errors.js';

/** The one place identifiers and literals become SQL text. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new InvalidIdentifierError('identifier', name, 'is empty');
  if (name.includes('\0')) throw new InvalidIdentifierError('identifier', name, 'contains a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

/** A schema-qualified name, each part quoted. */
export function quoteQualified(...parts: string[]): string {
  return parts.map(quoteIdent).join('.');
}

export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new InvalidIdentifierError('literal', value, 'contains a NUL character');
  return value.includes('\\')
    ? ` E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`.trimStart()
    : `'${value.replaceAll("'", "''")}'`;
}

/**
 * A name Postgres accepts for a custom setting read with current_setting(): identifiers joined by
 * dots (app.tenant_id, request.jwt.claims). Any other fails with SQLSTATE 42602 when it is set.
 */
export function isCustomSettingName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)+$/.test(name);
}
