/** The one place identifiers and literals become SQL text. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new TypeError('An SQL identifier cannot be empty');
  if (name.includes('\0')) throw new TypeError('An SQL identifier cannot contain NUL');
  return `"${name.replaceAll('"', '""')}"`;
}

/** A schema-qualified name, each part quoted. */
export function quoteQualified(...parts: string[]): string {
  return parts.map(quoteIdent).join('.');
}

export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new TypeError('An SQL literal cannot contain NUL');
  return value.includes('\\')
    ? ` E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`.trimStart()
    : `'${value.replaceAll("'", "''")}'`;
}
