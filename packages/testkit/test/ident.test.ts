import { describe, expect, test } from 'vitest';
import { InvalidIdentifierError, TenantkitError } from '../src/errors.js';
import { quoteIdent, quoteLiteral, quoteQualified } from '../src/sql/ident.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('the quote helpers', () => {
  test('quote what SQL can hold', () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteQualified('public', 'docs')).toBe('"public"."docs"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
  });

  test.each([
    ['an empty identifier', () => quoteIdent(''), /The SQL identifier "" is empty/],
    ['an identifier with NUL', () => quoteIdent('a\0b'), /The SQL identifier "a\\u0000b" contains a NUL character/],
    ['a qualified name with an empty part', () => quoteQualified('public', ''), /The SQL identifier "" is empty/],
    ['a literal with NUL', () => quoteLiteral('a\0b'), /The SQL literal "a\\u0000b" contains a NUL character/],
  ])('refuse %s with TENANTKIT_INVALID_IDENTIFIER and the fix', (_what, fn, message) => {
    const error = thrown(fn);
    expect(error).toBeInstanceOf(InvalidIdentifierError);
    expect(error).toBeInstanceOf(TenantkitError);
    expect(error).toMatchObject({ code: 'TENANTKIT_INVALID_IDENTIFIER' });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toMatch(/Pass a non-empty name without NUL characters/);
  });
});

describe('a backend used out of order', () => {
  test('PGlite refuses a database from a template it never prepared, with TENANTKIT_BACKEND_MISUSE', async () => {
    const { PgliteBackend } = await import('../src/backends/pglite/pglite-backend.js');
    const backend = new PgliteBackend();
    const error = await backend.createDatabase({ key: 'never', name: 'tk_tpl_never', built: true, migrations: 0, ms: 0 } as never).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'TENANTKIT_BACKEND_MISUSE', object: 'pglite' });
    expect((error as Error).message).toMatch(/was not prepared in this process.*Call prepare\(\)/);
  });
});
