/**
 * The one SQL lexer of the kit: it cuts PostgreSQL text into tokens the way the server's own
 * lexer does (scan.l), as far as the statement splitter, the CHECK parser (fixtures) and the
 * policy-expression parser (rls-assert) need it. Whitespace and comments (nested block comments
 * included) are skipped; every token carries its offsets in the input.
 *
 * It never throws: an unterminated string, identifier or dollar quote runs to the end of the input
 * and is marked `unterminated`, and a character no token starts with comes back as `unexpected`.
 * Callers that parse decide what to do with those; the splitter lets the server report them.
 */

export type SqlTokenKind =
  /** An unquoted identifier or keyword, as written (Postgres folds it to lower case). */
  | 'word'
  /** "A quoted identifier": `value` is the name, quotes removed and doubled quotes undone. */
  | 'quoted-identifier'
  /** 'a string', E'with \n escapes' or $tag$dollar quoted$tag$: `value` is the string's content. */
  | 'string'
  /** 42, 1.5, .5e-3; trailing letters (0x1F, 1_000, 10abc) stay part of the token, as in Postgres 16. */
  | 'number'
  /** $1, $2, ...: a positional parameter. */
  | 'parameter'
  /** A run of operator characters (=, <>, ->>, @>, ||, ...). */
  | 'operator'
  /** ( ) [ ] , . ; : and :: (the type cast). */
  | 'punctuation'
  /** A character that starts no token (a stray $, a backslash, a brace). */
  | 'unexpected';

export interface SqlToken {
  readonly kind: SqlTokenKind;
  /** The source text of the token: input.slice(start, end). */
  readonly text: string;
  /** Strings and quoted identifiers: their content; every other token: `text`. */
  readonly value: string;
  /** Index in the input (a JavaScript string index) of the token's first character. */
  readonly start: number;
  /** Index just past the token's last character. */
  readonly end: number;
  /** A string, quoted identifier or dollar quote that the input ends inside. */
  readonly unterminated?: true;
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
const CH_STAR = 0x2a;
const CH_MINUS = 0x2d;
const CH_DOT = 0x2e;
const CH_SLASH = 0x2f;
const CH_COLON = 0x3a;
const CH_BACKSLASH = 0x5c;

const OPERATOR_CHARS = '+-*/<>=~!@#%^&|`?';
/** An operator that ends in + or - must contain one of these (so `a<-1` is `a < -1`). */
const OPERATOR_SPECIAL_CHARS = '~!@#%^&|`?';
const PUNCTUATION_CHARS = '()[],.;:';

/** Whitespace as the Postgres lexer defines it (not JavaScript's wider Unicode set). */
export function isSqlSpace(c: number): boolean {
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

/** The tokens of `sql`, lazily, from index `from` on. */
export function* sqlTokens(sql: string, from = 0): Generator<SqlToken, void, undefined> {
  const n = sql.length;
  let i = skipTrivia(sql, from);
  while (i < n) {
    const start = i;
    const c = sql.charCodeAt(i);
    let kind: SqlTokenKind;
    let value: string | undefined;
    let unterminated = false;

    if (c === CH_SQUOTE || ((c === 0x45 || c === 0x65) && sql.charCodeAt(i + 1) === CH_SQUOTE)) {
      const escapes = c !== CH_SQUOTE;
      const open = escapes ? i + 1 : i;
      const quoted = quotedEnd(sql, open, CH_SQUOTE, escapes);
      i = quoted.end;
      unterminated = !quoted.closed;
      const body = sql.slice(open + 1, unterminated ? i : i - 1);
      kind = 'string';
      value = escapes ? decodeEscapes(body) : body.replaceAll("''", "'");
    } else if (c === CH_DQUOTE) {
      const quoted = quotedEnd(sql, i, CH_DQUOTE, false);
      i = quoted.end;
      unterminated = !quoted.closed;
      kind = 'quoted-identifier';
      value = sql.slice(start + 1, unterminated ? i : i - 1).replaceAll('""', '"');
    } else if (c === CH_DOLLAR) {
      const tag = dollarTagAt(sql, i);
      if (tag !== null) {
        const close = sql.indexOf(tag, i + tag.length);
        unterminated = close < 0;
        i = unterminated ? n : close + tag.length;
        kind = 'string';
        value = sql.slice(start + tag.length, unterminated ? n : close);
      } else if (isDigit(sql.charCodeAt(i + 1))) {
        i++;
        while (i < n && isDigit(sql.charCodeAt(i))) i++;
        kind = 'parameter';
      } else {
        i++;
        kind = 'unexpected';
      }
    } else if (isIdentStart(c)) {
      i++;
      while (i < n && isIdentCont(sql.charCodeAt(i))) i++;
      kind = 'word';
    } else if (isDigit(c) || (c === CH_DOT && isDigit(sql.charCodeAt(i + 1)))) {
      i = numberEnd(sql, i);
      kind = 'number';
    } else if (c === CH_COLON && sql.charCodeAt(i + 1) === CH_COLON) {
      i += 2;
      kind = 'punctuation';
    } else if (PUNCTUATION_CHARS.includes(sql[i]!)) {
      i++;
      kind = 'punctuation';
    } else if (OPERATOR_CHARS.includes(sql[i]!)) {
      i = operatorEnd(sql, i);
      kind = 'operator';
    } else {
      // One code point, so a stray astral character is not cut in half.
      i += (sql.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
      kind = 'unexpected';
    }

    const text = sql.slice(start, i);
    yield unterminated ? { kind, text, value: value ?? text, start, end: i, unterminated: true } : { kind, text, value: value ?? text, start, end: i };
    i = skipTrivia(sql, i);
  }
}

/** All tokens of `sql`. */
export function tokenizeSql(sql: string): SqlToken[] {
  return [...sqlTokens(sql)];
}

/** Index of the first character after whitespace and comments, starting at `i`. */
function skipTrivia(sql: string, i: number): number {
  let j = i;
  while (j < sql.length) {
    const c = sql.charCodeAt(j);
    if (isSqlSpace(c)) j++;
    else if (c === CH_MINUS && sql.charCodeAt(j + 1) === CH_MINUS) j = skipLineComment(sql, j);
    else if (c === CH_SLASH && sql.charCodeAt(j + 1) === CH_STAR) j = skipBlockComment(sql, j);
    else break;
  }
  return j;
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
 * The end of a quoted token whose opening quote is at `i`: the index just past its closing quote,
 * or the input's end when there is none. A doubled quote is an escaped quote; with
 * `backslashEscapes` (E'...') a backslash escapes the next character.
 */
function quotedEnd(sql: string, i: number, quote: number, backslashEscapes: boolean): { end: number; closed: boolean } {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql.charCodeAt(j);
    if (backslashEscapes && c === CH_BACKSLASH) {
      j += 2;
    } else if (c === quote) {
      if (sql.charCodeAt(j + 1) === quote) j += 2;
      else return { end: j + 1, closed: true };
    } else {
      j++;
    }
  }
  return { end: sql.length, closed: false };
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

const DECIMAL = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;

/**
 * Index just past the number starting at `i`. Letters, digits and underscores right after it
 * belong to it (1e10, 0x1F, 1_000): a trailing E is never read as the prefix of an E'...' string.
 */
function numberEnd(sql: string, i: number): number {
  DECIMAL.lastIndex = i;
  DECIMAL.exec(sql);
  let j = DECIMAL.lastIndex;
  while (j < sql.length) {
    const c = sql.charCodeAt(j);
    if (!(isIdentStart(c) || isDigit(c))) break;
    j++;
  }
  return j;
}

/**
 * Index just past the operator starting at `i`, by the server's rules: a run of operator
 * characters that stops before a comment start, and that sheds trailing + and - unless it holds
 * one of ~ ! @ # % ^ & | ` ? (so `a<-1` compares with -1).
 */
function operatorEnd(sql: string, i: number): number {
  let j = i + 1;
  while (j < sql.length && OPERATOR_CHARS.includes(sql[j]!)) {
    const c = sql.charCodeAt(j);
    const next = sql.charCodeAt(j + 1);
    if ((c === CH_MINUS && next === CH_MINUS) || (c === CH_SLASH && next === CH_STAR)) break;
    j++;
  }
  let last = sql[j - 1]!;
  if (j - i > 1 && (last === '+' || last === '-')) {
    let special = false;
    for (let k = i; k < j - 1; k++) if (OPERATOR_SPECIAL_CHARS.includes(sql[k]!)) special = true;
    if (!special) {
      do {
        j--;
        last = sql[j - 1]!;
      } while (j - i > 1 && (last === '+' || last === '-'));
    }
  }
  return j;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** The content of an E'...' string: backslash escapes as Postgres reads them, '' as one quote. */
function decodeEscapes(body: string): string {
  let out = '';
  let i = 0;
  while (i < body.length) {
    const char = body[i]!;
    if (char === "'" && body[i + 1] === "'") {
      out += "'";
      i += 2;
      continue;
    }
    if (char !== '\\' || i + 1 >= body.length) {
      out += char;
      i++;
      continue;
    }
    const next = body[i + 1]!;
    let match: RegExpExecArray | null;
    if (SIMPLE_ESCAPES[next] !== undefined) {
      out += SIMPLE_ESCAPES[next];
      i += 2;
    } else if ((match = /^[0-7]{1,3}/.exec(body.slice(i + 1, i + 4)))) {
      out += String.fromCharCode(Number.parseInt(match[0], 8) & 0xff);
      i += 1 + match[0].length;
    } else if (next === 'x' && (match = /^[0-9A-Fa-f]{1,2}/.exec(body.slice(i + 2, i + 4)))) {
      out += String.fromCharCode(Number.parseInt(match[0], 16));
      i += 2 + match[0].length;
    } else if ((next === 'u' && (match = /^[0-9A-Fa-f]{4}/.exec(body.slice(i + 2, i + 6)))) || (next === 'U' && (match = /^[0-9A-Fa-f]{8}/.exec(body.slice(i + 2, i + 10))))) {
      const code = Number.parseInt(match[0], 16);
      out += code <= 0x10ffff ? String.fromCodePoint(code) : '';
      i += 2 + match[0].length;
    } else {
      out += next;
      i += 2;
    }
  }
  return out;
}
