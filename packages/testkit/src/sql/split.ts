/**
 * A lexer-level splitter for PostgreSQL scripts. It knows exactly as much of the Postgres lexer as
 * is needed to find the semicolons that end statements: string literals ('...', E'...'),
 * quoted identifiers, dollar quotes, comments (nested block comments included), parentheses
 * (CREATE RULE ... DO (a; b)) and SQL-standard function bodies (BEGIN ATOMIC ... END).
 */

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

const CH_TAB = 0x09;
const CH_LF = 0x0a;
const CH_VT = 0x0b;
const CH_FF = 0x0c;
const CH_CR = 0x0d;
const CH_SPACE = 0x20;
const CH_DQUOTE = 0x22;
const CH_DOLLAR = 0x24;
const CH_SQUOTE = 0x27;
const CH_LPAREN = 0x28;
const CH_RPAREN = 0x29;
const CH_STAR = 0x2a;
const CH_MINUS = 0x2d;
const CH_SLASH = 0x2f;
const CH_SEMI = 0x3b;
const CH_BACKSLASH = 0x5c;

/** Whitespace as the Postgres lexer defines it (not JavaScript's wider Unicode set). */
function isSpace(c: number): boolean {
  return c === CH_SPACE || c === CH_TAB || c === CH_LF || c === CH_CR || c === CH_FF || c === CH_VT;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Postgres treats every non-ASCII character as a letter in identifiers. */
function isIdentStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c >= 0x80;
}

function isIdentCont(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === CH_DOLLAR;
}

/** Index just past a `--` comment starting at `i` (the line break is not part of it). */
function skipLineComment(sql: string, i: number): number {
  let j = i + 2;
  while (j < sql.length) {
    const c = sql.charCodeAt(j);
    if (c === CH_LF || c === CH_CR) break;
    j++;
  }
  return j;
}

/** Index just past a (possibly nested) block comment starting at `i`; unterminated: the end. */
function skipBlockComment(sql: string, i: number): number {
  let depth = 1;
  let j = i + 2;
  while (j < sql.length) {
    const c = sql.charCodeAt(j);
    const next = sql.charCodeAt(j + 1);
    if (c === CH_SLASH && next === CH_STAR) {
      depth++;
      j += 2;
    } else if (c === CH_STAR && next === CH_SLASH) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else {
      j++;
    }
  }
  return sql.length;
}

/**
 * Index just past a quoted token whose opening quote is at `i`. A doubled quote is an escaped
 * quote; with `backslashEscapes` (E'...') a backslash escapes the next character.
 */
function skipQuoted(sql: string, i: number, quote: number, backslashEscapes: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql.charCodeAt(j);
    if (backslashEscapes && c === CH_BACKSLASH) {
      j += 2;
    } else if (c === quote) {
      if (sql.charCodeAt(j + 1) === quote) j += 2;
      else return j + 1;
    } else {
      j++;
    }
  }
  return sql.length;
}

/**
 * The dollar-quote delimiter ($$ or $tag$) starting at `i`, or null. A tag follows identifier
 * rules without `$`, so `$1` (a parameter) never opens a quote.
 */
function dollarTagAt(sql: string, i: number): string | null {
  let j = i + 1;
  if (j < sql.length && isIdentStart(sql.charCodeAt(j))) {
    j++;
    while (j < sql.length) {
      const c = sql.charCodeAt(j);
      if (!(isIdentStart(c) || isDigit(c))) break;
      j++;
    }
  }
  return sql.charCodeAt(j) === CH_DOLLAR ? sql.slice(i, j + 1) : null;
}

/** Index of the first character after whitespace and comments, starting at `i`. */
function skipTrivia(sql: string, i: number): number {
  let j = i;
  while (j < sql.length) {
    const c = sql.charCodeAt(j);
    if (isSpace(c)) j++;
    else if (c === CH_MINUS && sql.charCodeAt(j + 1) === CH_MINUS) j = skipLineComment(sql, j);
    else if (c === CH_SLASH && sql.charCodeAt(j + 1) === CH_STAR) j = skipBlockComment(sql, j);
    else break;
  }
  return j;
}

/** Index just past the identifier (keyword) starting at `i`. */
function identEnd(sql: string, i: number): number {
  let j = i + 1;
  while (j < sql.length && isIdentCont(sql.charCodeAt(j))) j++;
  return j;
}

/** The next unquoted word (lower-cased) at or after `i`, skipping whitespace and comments. */
function nextWord(sql: string, i: number): { word: string; end: number } | null {
  const start = skipTrivia(sql, i);
  if (start >= sql.length || !isIdentStart(sql.charCodeAt(start))) return null;
  const end = identEnd(sql, start);
  return { word: sql.slice(start, end).toLowerCase(), end };
}

function pushStatement(out: SqlStatement[], sql: string, start: number, end: number): void {
  let s = start;
  let e = end;
  while (s < e && isSpace(sql.charCodeAt(s))) s++;
  while (e > s && isSpace(sql.charCodeAt(e - 1))) e--;
  if (s < e) out.push({ text: sql.slice(s, e), offset: s });
}

/**
 * Splits a Postgres script into statements at top-level semicolons. Statements that hold nothing
 * but whitespace and comments are dropped; a comment before a statement stays part of it.
 * Unterminated quotes or comments run to the end of the input (the server then reports them).
 */
export function splitStatements(sql: string): SqlStatement[] {
  const out: SqlStatement[] = [];
  const n = sql.length;
  let start = 0;
  let significant = false;
  let parenDepth = 0;
  /** Depth of BEGIN ATOMIC blocks plus CASE expressions opened inside them. */
  let blockDepth = 0;
  let i = 0;

  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === CH_MINUS && sql.charCodeAt(i + 1) === CH_MINUS) {
      i = skipLineComment(sql, i);
      continue;
    }
    if (c === CH_SLASH && sql.charCodeAt(i + 1) === CH_STAR) {
      i = skipBlockComment(sql, i);
      continue;
    }
    if (c === CH_SEMI) {
      if (parenDepth === 0 && blockDepth === 0) {
        if (significant) pushStatement(out, sql, start, i);
        start = i + 1;
        significant = false;
      }
      i++;
      continue;
    }

    significant = true;
    if (c === CH_SQUOTE) {
      i = skipQuoted(sql, i, CH_SQUOTE, false);
    } else if (c === CH_DQUOTE) {
      i = skipQuoted(sql, i, CH_DQUOTE, false);
    } else if (c === CH_DOLLAR) {
      const tag = dollarTagAt(sql, i);
      if (tag === null) {
        // A parameter such as $1, or a stray dollar sign.
        i++;
        while (i < n && isDigit(sql.charCodeAt(i))) i++;
      } else {
        const close = sql.indexOf(tag, i + tag.length);
        i = close < 0 ? n : close + tag.length;
      }
    } else if (isIdentStart(c)) {
      const end = identEnd(sql, i);
      if (end === i + 1 && (c === 0x45 || c === 0x65) && sql.charCodeAt(end) === CH_SQUOTE) {
        // E'...': a string with backslash escapes.
        i = skipQuoted(sql, end, CH_SQUOTE, true);
        continue;
      }
      const word = sql.slice(i, end).toLowerCase();
      if (word === 'begin') {
        if (nextWord(sql, end)?.word === 'atomic') blockDepth++;
      } else if (blockDepth > 0) {
        if (word === 'case') blockDepth++;
        else if (word === 'end') blockDepth--;
      }
      i = end;
    } else if (isDigit(c)) {
      // A number, possibly followed by letters (1e10, 0x1F): consumed whole, so a trailing
      // E is never read as the prefix of an E'...' string.
      i++;
      while (i < n && (isIdentCont(sql.charCodeAt(i)) || sql.charCodeAt(i) === 0x2e)) {
        if (sql.charCodeAt(i) === CH_DOLLAR) break;
        i++;
      }
    } else {
      if (c === CH_LPAREN) parenDepth++;
      else if (c === CH_RPAREN && parenDepth > 0) parenDepth--;
      i++;
    }
  }
  if (significant) pushStatement(out, sql, start, n);
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
  const first = nextWord(statementText, 0);
  if (first === null) return null;
  const second = nextWord(statementText, first.end);
  switch (first.word) {
    case 'begin':
      return second?.word === 'atomic' ? null : 'begin';
    case 'start':
      return second?.word === 'transaction' ? 'begin' : null;
    case 'commit':
    case 'end':
      return 'commit';
    case 'abort':
      return 'rollback';
    case 'prepare':
      return second?.word === 'transaction' ? 'commit' : null;
    case 'rollback': {
      if (second?.word === 'to') return null;
      if (second?.word === 'work' || second?.word === 'transaction') {
        if (nextWord(statementText, second.end)?.word === 'to') return null;
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
