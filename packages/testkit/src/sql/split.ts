/**
 * Splits PostgreSQL scripts into statements on the tokens of the shared lexer (lexer.ts), so a
 * semicolon inside a string, quoted identifier, dollar quote or comment never ends one; it also
 * tracks parentheses (CREATE RULE ... DO (a; b)) and SQL-standard function bodies
 * (BEGIN ATOMIC ... END). Also here: positions in a script (line and column) and the
 * transaction control statements.
 */
import { type SqlToken, isSqlSpace, sqlTokens, tokenizeSql } from './lexer.js';

export interface SqlStatement {
  /** The statement without its terminating semicolon, trimmed of surrounding whitespace. */
  readonly text: string;
  /** Index in the input (a JavaScript string index) of the first character of `text`. */
  readonly offset: number;
}

export interface LineColumn {
  /** 1-based line number. Line breaks are \n, \r\n and a lone \r. */
  readonly line: number;
  /** 1-based column, counted in characters (code points), as Postgres counts positions. */
  readonly column: number;
  /** The whole line the offset falls on, without its line break. */
  readonly sourceLine: string;
}

const CH_LF = 0x0a;
const CH_CR = 0x0d;

function pushStatement(out: SqlStatement[], sql: string, start: number, end: number): void {
  let s = start;
  let e = end;
  while (s < e && isSqlSpace(sql.charCodeAt(s))) s++;
  while (e > s && isSqlSpace(sql.charCodeAt(e - 1))) e--;
  if (s < e) out.push({ text: sql.slice(s, e), offset: s });
}

function isPunctuation(token: SqlToken | undefined, text: string): boolean {
  return token?.kind === 'punctuation' && token.text === text;
}

/** An unquoted word, lower-cased; undefined for any other token. */
function wordOf(token: SqlToken | undefined): string | undefined {
  return token?.kind === 'word' ? token.text.toLowerCase() : undefined;
}

/**
 * Splits a Postgres script into statements at top-level semicolons. Statements that hold nothing
 * but whitespace and comments are dropped; a comment before a statement stays part of it.
 * Unterminated quotes or comments run to the end of the input (the server then reports them).
 */
export function splitStatements(sql: string): SqlStatement[] {
  const out: SqlStatement[] = [];
  const tokens = tokenizeSql(sql);
  let start = 0;
  let significant = false;
  let parenDepth = 0;
  /** Depth of BEGIN ATOMIC blocks plus CASE expressions opened inside them. */
  let blockDepth = 0;

  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t]!;
    if (isPunctuation(token, ';')) {
      if (parenDepth === 0 && blockDepth === 0) {
        if (significant) pushStatement(out, sql, start, token.start);
        start = token.end;
        significant = false;
      }
      continue;
    }
    significant = true;
    const word = wordOf(token);
    if (word === 'begin') {
      if (wordOf(tokens[t + 1]) === 'atomic') blockDepth++;
    } else if (word !== undefined && blockDepth > 0) {
      if (word === 'case') blockDepth++;
      else if (word === 'end') blockDepth--;
    } else if (isPunctuation(token, '(')) {
      parenDepth++;
    } else if (isPunctuation(token, ')') && parenDepth > 0) {
      parenDepth--;
    }
  }
  if (significant) pushStatement(out, sql, start, sql.length);
  return out;
}

/**
 * Line, column and the source line at `offset` (a JavaScript string index into `source`, as
 * produced by splitStatements). The column counts characters (code points), so a character
 * outside the Basic Multilingual Plane counts once, as it does in Postgres error positions.
 */
export function lineColumnAt(source: string, offset: number): LineColumn {
  const target = Math.max(0, Math.min(Math.trunc(offset), source.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < target; i++) {
    const c = source.charCodeAt(i);
    if (c === CH_LF) {
      line++;
      lineStart = i + 1;
    } else if (c === CH_CR && source.charCodeAt(i + 1) !== CH_LF) {
      line++;
      lineStart = i + 1;
    }
  }
  let lineEnd = lineStart;
  while (lineEnd < source.length) {
    const c = source.charCodeAt(lineEnd);
    if (c === CH_LF || c === CH_CR) break;
    lineEnd++;
  }
  const sourceLine = source.slice(lineStart, lineEnd);
  const column = Math.min(codePointLength(source, lineStart, target), codePointLength(source, lineStart, lineEnd)) + 1;
  return { line, column, sourceLine };
}

/** Number of code points in source[start, end). */
function codePointLength(source: string, start: number, end: number): number {
  let count = 0;
  for (let i = start; i < end; i++) {
    const c = source.charCodeAt(i);
    // A low surrogate preceded by a high surrogate completes a pair already counted.
    if (c >= 0xdc00 && c <= 0xdfff && i > start) {
      const prev = source.charCodeAt(i - 1);
      if (prev >= 0xd800 && prev <= 0xdbff) continue;
    }
    count++;
  }
  return count;
}

/**
 * The JavaScript string index of a 1-based character (code point) position in `text`, as
 * Postgres reports it in an error's `position`. Positions past the end map to `text.length`.
 */
export function indexOfCharPosition(text: string, position: number): number {
  let index = 0;
  for (let p = 1; p < position && index < text.length; p++) {
    const c = text.charCodeAt(index);
    const next = text.charCodeAt(index + 1);
    index += c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
  }
  return index;
}

/** What a transaction control statement does to the session's transaction. */
export type TransactionControl = 'begin' | 'commit' | 'rollback';

/**
 * Classifies a statement as transaction control: 'begin' for BEGIN / START TRANSACTION, 'end' for
 * COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION and COMMIT/ROLLBACK PREPARED; null otherwise
 * (including BEGIN ATOMIC, SAVEPOINT, RELEASE and ROLLBACK TO SAVEPOINT, which stay inside one).
 */
export function transactionControlKind(statementText: string): TransactionControl | null {
  const tokens = sqlTokens(statementText);
  const first = wordOf(tokens.next().value ?? undefined);
  if (first === undefined) return null;
  const second = wordOf(tokens.next().value ?? undefined);
  switch (first) {
    case 'begin':
      return second === 'atomic' ? null : 'begin';
    case 'start':
      return second === 'transaction' ? 'begin' : null;
    case 'commit':
    case 'end':
      return 'commit';
    case 'abort':
      return 'rollback';
    case 'prepare':
      return second === 'transaction' ? 'commit' : null;
    case 'rollback': {
      if (second === 'to') return null;
      if (second === 'work' || second === 'transaction') {
        if (wordOf(tokens.next().value ?? undefined) === 'to') return null;
      }
      return 'rollback';
    }
    default:
      return null;
  }
}

/** True for statements that open or close a transaction (see transactionControlKind). */
export function isTransactionControl(statementText: string): boolean {
  return transactionControlKind(statementText) !== null;
}
