/**
 * A small parser for policy expressions as pg_get_expr() prints them, on the tokens of the shared
 * SQL lexer. It reads what the evaluator can judge (comparisons, AND/OR/NOT, IS, casts, calls) and
 * turns anything else (subqueries, CASE, IN, LIKE, ANY, arrays) into an opaque node.
 */
import { type SqlToken, tokenizeSql } from '@tenantkit/testkit/internal';
import type { Expr } from './policy-expression.js';

/** Words that end a type name after `::` or cannot start an operand. */
const KEYWORDS = new Set([
  'and', 'or', 'not', 'is', 'in', 'like', 'ilike', 'similar', 'between', 'escape', 'collate', 'then', 'else', 'end', 'when',
  'case', 'from', 'as', 'any', 'all', 'some', 'distinct', 'null', 'true', 'false', 'select', 'exists', 'array', 'isnull', 'notnull', 'at',
]);

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

/** Parses pg_get_expr() output; undefined when there is no expression. Unreadable parts become opaque. */
export function parseExpression(text: string | null | undefined): Expr | undefined {
  if (text === null || text === undefined || text.trim() === '') return undefined;
  try {
    const parser = new Parser(readTokens(text));
    const expr = parser.expression();
    return parser.done() ? expr : { t: 'opaque' };
  } catch {
    return { t: 'opaque' };
  }
}

/** One operand of a top-level AND: its source text and its tokens. */
export interface Conjunct {
  readonly text: string;
  readonly tokens: readonly SqlToken[];
}

/**
 * The operands of an expression's top-level AND as their source text, outer parentheses looked
 * through; undefined when the expression is not an AND at its top (an OR, a single condition, text
 * the parser cannot read).
 */
export function topLevelConjuncts(text: string | null | undefined): Conjunct[] | undefined {
  if (text === null || text === undefined) return undefined;
  let tokens: SqlToken[];
  try {
    tokens = readTokens(text);
  } catch {
    return undefined;
  }
  for (;;) {
    if (tokens.length === 0) return undefined;
    const parser = new Parser(tokens);
    let spans: Array<readonly [number, number]> | undefined;
    try {
      spans = parser.conjunctSpans();
    } catch {
      return undefined;
    }
    if (spans === undefined) return undefined;
    if (spans.length > 1) {
      const inner = tokens;
      return spans.map(([from, to]) => ({ text: text.slice(inner[from]!.start, inner[to - 1]!.end), tokens: inner.slice(from, to) }));
    }
    if (!new Parser(tokens).isWrapped()) return undefined;
    tokens = tokens.slice(1, -1);
  }
}

/** The tokens call current_setting('<setting>', ...) (qualified by pg_catalog or not). */
export function readsSetting(tokens: readonly SqlToken[], setting: string): boolean {
  return tokens.some((token, index) => {
    if (token.kind !== 'word' || token.value.toLowerCase() !== 'current_setting') return false;
    const open = tokens[index + 1];
    const name = tokens[index + 2];
    return open?.kind === 'punctuation' && open.value === '(' && name?.kind === 'string' && name.value === setting;
  });
}

const DECIMAL = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The expression's tokens; throws on what Postgres would not have printed (the caller makes it opaque). */
function readTokens(text: string): SqlToken[] {
  const tokens = tokenizeSql(text);
  for (const token of tokens) {
    if (token.unterminated) throw new SyntaxError(`unterminated ${token.kind}`);
    if (token.kind === 'unexpected') throw new SyntaxError(`unexpected character ${token.text}`);
    if (token.kind === 'number' && !DECIMAL.test(token.text)) throw new SyntaxError(`unsupported number ${token.text}`);
  }
  return tokens;
}

/** An identifier, quoted or not. */
function isName(token: SqlToken | undefined): token is SqlToken {
  return token?.kind === 'word' || token?.kind === 'quoted-identifier';
}

class Parser {
  #pos = 0;
  constructor(readonly tokens: readonly SqlToken[]) {}

  done(): boolean {
    return this.#pos >= this.tokens.length;
  }

  #peek(offset = 0): SqlToken | undefined {
    return this.tokens[this.#pos + offset];
  }

  #word(offset = 0): string | undefined {
    const token = this.#peek(offset);
    return token?.kind === 'word' ? token.value.toLowerCase() : undefined;
  }

  #isPunct(value: string, offset = 0): boolean {
    const token = this.#peek(offset);
    return token?.kind === 'punctuation' && token.value === value;
  }

  #expect(value: string): void {
    if (!this.#isPunct(value)) throw new SyntaxError(`expected ${value}`);
    this.#pos++;
  }

  expression(): Expr {
    return this.#or();
  }

  /** Token ranges [from, to) of the operands of a top-level AND; undefined when an OR or more follows. */
  conjunctSpans(): Array<readonly [number, number]> | undefined {
    const spans: Array<readonly [number, number]> = [];
    for (;;) {
      const from = this.#pos;
      this.#not();
      spans.push([from, this.#pos]);
      if (this.#word() !== 'and') break;
      this.#pos++;
    }
    return this.done() ? spans : undefined;
  }

  /** The whole input is one parenthesized group. */
  isWrapped(): boolean {
    this.#pos = 0;
    if (!this.#isPunct('(')) return false;
    this.#skipGroup();
    return this.done();
  }

  #or(): Expr {
    const args = [this.#and()];
    while (this.#word() === 'or') {
      this.#pos++;
      args.push(this.#and());
    }
    return args.length === 1 ? args[0]! : { t: 'or', args: args.flatMap((a) => (a.t === 'or' ? a.args : [a])) };
  }

  #and(): Expr {
    const args = [this.#not()];
    while (this.#word() === 'and') {
      this.#pos++;
      args.push(this.#not());
    }
    return args.length === 1 ? args[0]! : { t: 'and', args: args.flatMap((a) => (a.t === 'and' ? a.args : [a])) };
  }

  #not(): Expr {
    if (this.#word() === 'not') {
      this.#pos++;
      return { t: 'not', arg: this.#not() };
    }
    return this.#is();
  }

  #is(): Expr {
    let left = this.#comparison();
    for (;;) {
      const word = this.#word();
      if (word === 'isnull' || word === 'notnull') {
        this.#pos++;
        left = { t: 'is', arg: left, test: 'null', negated: word === 'notnull' };
        continue;
      }
      if (word !== 'is') return left;
      this.#pos++;
      let negated = false;
      if (this.#word() === 'not') {
        negated = true;
        this.#pos++;
      }
      const test = this.#word();
      if (test === 'null' || test === 'true' || test === 'false') {
        this.#pos++;
        left = { t: 'is', arg: left, test, negated };
      } else if (test === 'distinct' && this.#word(1) === 'from') {
        this.#pos += 2;
        left = { t: 'cmp', op: negated ? 'IS NOT DISTINCT FROM' : 'IS DISTINCT FROM', l: left, r: this.#comparison() };
      } else {
        throw new SyntaxError('unsupported IS form');
      }
    }
  }

  #comparison(): Expr {
    const left = this.#additive();
    const token = this.#peek();
    if (token?.kind === 'operator' && COMPARISONS.has(token.value)) {
      this.#pos++;
      if (this.#word() === 'any' || this.#word() === 'all' || this.#word() === 'some') {
        this.#pos++;
        this.#skipGroup();
        return { t: 'opaque' };
      }
      const right = this.#additive();
      return { t: 'cmp', op: token.value, l: left, r: right };
    }
    const word = this.#word();
    if (word === 'in' || word === 'like' || word === 'ilike' || word === 'similar' || word === 'between' || (word === 'not' && ['in', 'like', 'ilike', 'similar', 'between'].includes(this.#word(1) ?? ''))) {
      // Set membership and pattern matching: unknown, the operands are skipped.
      this.#skipOperand();
      return { t: 'opaque' };
    }
    if (token?.kind === 'operator') {
      // Any other operator (~, @>, ->>, &&, ...): strict, otherwise unknown.
      this.#pos++;
      if (this.#word() === 'any' || this.#word() === 'all') {
        this.#pos++;
        this.#skipGroup();
        return { t: 'opaque' };
      }
      return { t: 'op', op: token.value, l: left, r: this.#additive() };
    }
    return left;
  }

  #additive(): Expr {
    let left = this.#postfix();
    for (;;) {
      const token = this.#peek();
      if (token?.kind === 'operator' && ['+', '-', '*', '/', '%', '||', '^'].includes(token.value)) {
        this.#pos++;
        left = { t: 'op', op: token.value, l: left, r: this.#postfix() };
        continue;
      }
      return left;
    }
  }

  #postfix(): Expr {
    let expr = this.#primary();
    for (;;) {
      if (this.#isPunct('::')) {
        this.#pos++;
        expr = { t: 'cast', arg: expr, type: this.#typeName() };
        continue;
      }
      if (this.#isPunct('[')) {
        this.#skipBracket();
        expr = { t: 'opaque' };
        continue;
      }
      if (this.#word() === 'collate') {
        this.#pos++;
        this.#qualifiedName();
        continue;
      }
      if (this.#word() === 'at' && this.#word(1) === 'time') {
        this.#pos += 3;
        this.#postfix();
        expr = { t: 'opaque' };
        continue;
      }
      return expr;
    }
  }

  #typeName(): string {
    const parts: string[] = [];
    for (;;) {
      const token = this.#peek();
      if (!isName(token)) break;
      if (token.kind === 'word' && KEYWORDS.has(token.value.toLowerCase())) break;
      parts.push(token.kind === 'quoted-identifier' ? `"${token.value}"` : token.value);
      this.#pos++;
      if (this.#isPunct('.')) {
        parts.push('.');
        this.#pos++;
      }
    }
    if (parts.length === 0) throw new SyntaxError('expected a type name');
    let name = parts.join(' ').replace(/ \. /g, '.');
    if (this.#isPunct('(')) {
      this.#skipGroup();
      name += '(n)';
    }
    while (this.#isPunct('[')) {
      this.#skipBracket();
      name += '[]';
    }
    return name;
  }

  #qualifiedName(): string[] {
    const parts: string[] = [];
    for (;;) {
      const token = this.#peek();
      if (!isName(token)) throw new SyntaxError('expected a name');
      parts.push(token.value);
      this.#pos++;
      if (!this.#isPunct('.')) return parts;
      this.#pos++;
    }
  }

  #primary(): Expr {
    const token = this.#peek();
    if (!token) throw new SyntaxError('unexpected end');
    if (token.kind === 'string') {
      this.#pos++;
      return { t: 'str', v: token.value };
    }
    if (token.kind === 'number') {
      this.#pos++;
      return { t: 'num', v: token.value };
    }
    if (token.kind === 'operator' && (token.value === '-' || token.value === '+')) {
      this.#pos++;
      const operand = this.#postfix();
      return operand.t === 'num' ? { t: 'num', v: token.value === '-' ? `-${operand.v}` : operand.v } : { t: 'opaque' };
    }
    if (token.kind === 'punctuation' && token.value === '(') {
      const start = this.#pos;
      this.#pos++;
      if (this.#word() === 'select' || this.#word() === 'with' || this.#word() === 'values') {
        this.#pos = start;
        this.#skipGroup();
        return { t: 'opaque' };
      }
      try {
        const inner = this.expression();
        this.#expect(')');
        return inner;
      } catch {
        this.#pos = start;
        this.#skipGroup();
        return { t: 'opaque' };
      }
    }
    if (!isName(token)) throw new SyntaxError('unexpected token');
    const word = token.kind === 'quoted-identifier' ? undefined : token.value.toLowerCase();
    if (word === 'true' || word === 'false') {
      this.#pos++;
      return { t: 'bool', v: word === 'true' };
    }
    if (word === 'null') {
      this.#pos++;
      return { t: 'null' };
    }
    if (word === 'exists' || word === 'array' || word === 'row') {
      this.#pos++;
      if (this.#isPunct('[')) this.#skipBracket();
      else this.#skipGroup();
      return { t: 'opaque' };
    }
    if (word === 'case') {
      this.#skipCase();
      return { t: 'opaque' };
    }
    if (word !== undefined && KEYWORDS.has(word)) throw new SyntaxError(`unexpected ${word}`);
    const parts = this.#qualifiedName();
    if (this.#isPunct('(')) {
      const start = this.#pos;
      try {
        return { t: 'call', name: parts.join('.'), args: this.#arguments() };
      } catch {
        this.#pos = start;
        this.#skipGroup();
        return { t: 'opaque' };
      }
    }
    return { t: 'col', name: parts[parts.length - 1]! };
  }

  #arguments(): Expr[] {
    this.#expect('(');
    const args: Expr[] = [];
    if (this.#isPunct(')')) {
      this.#pos++;
      return args;
    }
    for (;;) {
      if (this.#word() === 'variadic' || this.#word() === 'distinct') throw new SyntaxError('unsupported argument form');
      args.push(this.expression());
      if (this.#isPunct(',')) {
        this.#pos++;
        continue;
      }
      this.#expect(')');
      return args;
    }
  }

  /** Skips a parenthesized group, nested groups included. */
  #skipGroup(): void {
    this.#skipBalanced('(', ')');
  }

  #skipBracket(): void {
    this.#skipBalanced('[', ']');
  }

  #skipBalanced(open: string, close: string): void {
    if (!this.#isPunct(open)) throw new SyntaxError(`expected ${open}`);
    let depth = 0;
    while (this.#pos < this.tokens.length) {
      if (this.#isPunct(open)) depth++;
      else if (this.#isPunct(close)) depth--;
      this.#pos++;
      if (depth === 0) return;
    }
    throw new SyntaxError(`unbalanced ${open}`);
  }

  #skipCase(): void {
    let depth = 0;
    while (this.#pos < this.tokens.length) {
      const word = this.#word();
      if (word === 'case') depth++;
      else if (word === 'end') depth--;
      this.#pos++;
      if (depth === 0) return;
    }
    throw new SyntaxError('unterminated CASE');
  }

  /** Skips the right side of IN / LIKE / BETWEEN up to the next boolean connective or closing paren. */
  #skipOperand(): void {
    this.#betweenPending = false;
    while (this.#pos < this.tokens.length) {
      const word = this.#word();
      if (word === 'and' && !this.#betweenPending) return;
      if (word === 'or' || word === 'then' || word === 'else' || word === 'end' || word === 'when') return;
      if (this.#isPunct(')') || this.#isPunct(',')) return;
      if (this.#isPunct('(')) {
        this.#skipGroup();
        continue;
      }
      if (this.#isPunct('[')) {
        this.#skipBracket();
        continue;
      }
      if (word === 'between') this.#betweenPending = true;
      else if (word === 'and') this.#betweenPending = false;
      this.#pos++;
    }
  }

  #betweenPending = false;
}
