import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTransactionControl, lineColumnAt, splitStatements, transactionControlKind } from '../src/sql/split.js';

const texts = (sql: string): string[] => splitStatements(sql).map((s) => s.text);

describe('splitStatements', () => {
  it('splits on top-level semicolons, trims, and drops empty statements', () => {
    expect(texts('  select 1 ;\n\n select 2;;  ; \n')).toEqual(['select 1', 'select 2']);
    expect(texts('select 1')).toEqual(['select 1']);
    expect(texts('')).toEqual([]);
    expect(texts(' ;\n ; ')).toEqual([]);
  });

  it('points offset at the first character of each statement', () => {
    const sql = '\n  select 1;\n\t\tselect 2 ;';
    for (const s of splitStatements(sql)) expect(sql.slice(s.offset, s.offset + s.text.length)).toBe(s.text);
    expect(splitStatements(sql).map((s) => s.offset)).toEqual([3, 15]);
  });

  it('drops statements made only of comments but keeps a comment leading a statement', () => {
    expect(texts('-- only a comment;\n/* and; another */ ;\n-- lead\nselect 1; -- trailing')).toEqual([
      '-- lead\nselect 1',
    ]);
  });

  it('ignores semicolons in single-quoted strings with doubled quotes', () => {
    expect(texts("select 'a;b', 'it''s; fine'; select 2")).toEqual(["select 'a;b', 'it''s; fine'", 'select 2']);
  });

  it('honours backslash escapes only in E-strings', () => {
    expect(texts("select E'it\\'s; still', e'\\\\'; select 2")).toEqual(["select E'it\\'s; still', e'\\\\'", 'select 2']);
    // In a standard string a backslash is an ordinary character: the string ends at the quote.
    expect(texts("select 'c:\\'; select 2")).toEqual(["select 'c:\\'", 'select 2']);
    // An identifier ending in e is not an E prefix.
    expect(texts("select 'x' as somee, name'\\'; select 2")).toEqual(["select 'x' as somee, name'\\'", 'select 2']);
  });

  it('ignores semicolons in quoted identifiers', () => {
    expect(texts('create table "we;ird ""t;""" ("c;" int); select 1')).toEqual([
      'create table "we;ird ""t;""" ("c;" int)',
      'select 1',
    ]);
  });

  it('ignores semicolons in dollar quotes, tagged or not', () => {
    const fn = `create function f() returns int language plpgsql as $$
begin
  perform 1; return 2;
end $$`;
    const tagged = `do $body$ begin raise notice '$$;'; end; $body$`;
    const nested = `select $outer$ a; $inner$ b; $inner$ c; $outer$`;
    expect(texts(`${fn};\n${tagged};\n${nested};`)).toEqual([fn, tagged, nested]);
  });

  it('does not take $1 parameters or identifiers with $ for dollar quotes', () => {
    expect(texts('prepare p as select $1; select a$b$ from t; select 3')).toEqual([
      'prepare p as select $1',
      'select a$b$ from t',
      'select 3',
    ]);
  });

  it('handles nested block comments and line comments', () => {
    expect(texts('select /* a /* nested; */ still; */ 1; -- x; y\nselect 2')).toEqual([
      'select /* a /* nested; */ still; */ 1',
      '-- x; y\nselect 2',
    ]);
  });

  it('keeps a SQL-standard function body with BEGIN ATOMIC ... END together', () => {
    const fn = `CREATE FUNCTION grade(score int) RETURNS text LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN score > 90 THEN 'a' ELSE CASE WHEN score > 50 THEN 'b' ELSE 'c' END END;
  SELECT 'unreached; really';
END`;
    expect(texts(`${fn};\nSELECT grade(95);\nBEGIN;\nCOMMIT;`)).toEqual([fn, 'SELECT grade(95)', 'BEGIN', 'COMMIT']);
    const proc = `create procedure p() begin /* c */ atomic insert into t values (1); insert into t values (2); end`;
    expect(texts(`${proc}; select 1`)).toEqual([proc, 'select 1']);
  });

  it('keeps parenthesised multi-command rule actions together', () => {
    const rule = 'create rule r as on insert to t do also (insert into a values (1); insert into b values (2))';
    expect(texts(`${rule}; select 1`)).toEqual([rule, 'select 1']);
  });

  it('handles CRLF line endings', () => {
    const sql = 'create table a (x int);\r\n-- note\r\ninsert into a values (1);\r\n';
    expect(texts(sql)).toEqual(['create table a (x int)', '-- note\r\ninsert into a values (1)']);
    const second = splitStatements(sql)[1];
    expect(second && lineColumnAt(sql, second.offset)).toEqual({ line: 2, column: 1, sourceLine: '-- note' });
  });

  it('runs unterminated quotes and comments to the end of the input', () => {
    expect(texts("select 'open; select 2")).toEqual(["select 'open; select 2"]);
    expect(texts('select 1 /* open; select 2')).toEqual(['select 1 /* open; select 2']);
    expect(texts('select $$ open; select 2')).toEqual(['select $$ open; select 2']);
  });
});

describe('splitStatements against PGlite', () => {
  let pg: PGlite;
  beforeAll(async () => {
    pg = new PGlite();
    await pg.waitReady;
  });
  afterAll(async () => {
    await pg.close();
  });

  it('produces statements that Postgres runs one by one', async () => {
    const script = `
      CREATE TABLE "semi;colon" (id int, note text);
      INSERT INTO "semi;colon" VALUES (1, 'a;b'), (2, E'it\\'s;'), (3, $$dollar; quoted$$);
      CREATE FUNCTION total() RETURNS bigint LANGUAGE sql
      BEGIN ATOMIC
        SELECT CASE WHEN count(*) > 0 THEN sum(id) ELSE 0 END FROM "semi;colon";
      END;
      /* comment /* nested */ ; */
      CREATE FUNCTION shout(t text) RETURNS text LANGUAGE plpgsql AS $fn$
        BEGIN RETURN upper(t) || ';'; END;
      $fn$;
    `;
    const statements = splitStatements(script);
    expect(statements).toHaveLength(4);
    for (const s of statements) await pg.exec(s.text);
    const total = await pg.query<{ total: number }>('SELECT total()::int AS total');
    expect(total.rows[0]?.total).toBe(6);
    const notes = await pg.query<{ note: string }>('SELECT note FROM "semi;colon" ORDER BY id');
    expect(notes.rows.map((r) => r.note)).toEqual(['a;b', "it's;", 'dollar; quoted']);
    const shout = await pg.query<{ s: string }>("SELECT shout('hi') AS s");
    expect(shout.rows[0]?.s).toBe('HI;');
  });

  it('maps a Postgres error position past non-BMP characters to the right column', async () => {
    const script = "-- 😀 line one\nSELECT '😀😀' AS a, nosuch_col;";
    const [statement] = splitStatements(script);
    if (!statement) throw new Error('expected a statement');
    const error = await pg.exec(statement.text).then(
      () => null,
      (e: unknown) => e as { position?: string },
    );
    expect(error?.position).toBeDefined();
    // position is 1-based in characters; the statement text starts after the comment line.
    const chars = [...statement.text];
    const index = chars.slice(0, Number(error?.position) - 1).join('').length;
    const at = lineColumnAt(script, statement.offset + index);
    expect(at.line).toBe(2);
    expect(at.sourceLine).toBe("SELECT '😀😀' AS a, nosuch_col;");
    expect(at.column).toBe([..."SELECT '😀😀' AS a, "].length + 1);
  });
});

describe('lineColumnAt', () => {
  it('returns 1-based line and column with the source line', () => {
    const src = 'ab\ncd\r\nef\rgh';
    expect(lineColumnAt(src, 0)).toEqual({ line: 1, column: 1, sourceLine: 'ab' });
    expect(lineColumnAt(src, 4)).toEqual({ line: 2, column: 2, sourceLine: 'cd' });
    expect(lineColumnAt(src, 7)).toEqual({ line: 3, column: 1, sourceLine: 'ef' });
    expect(lineColumnAt(src, 10)).toEqual({ line: 4, column: 1, sourceLine: 'gh' });
    expect(lineColumnAt(src, 999)).toEqual({ line: 4, column: 3, sourceLine: 'gh' });
  });

  it('counts a surrogate pair as one column', () => {
    const src = '𝒳𝒴z';
    expect(lineColumnAt(src, src.indexOf('z')).column).toBe(3);
  });
});

describe('isTransactionControl', () => {
  it.each([
    'BEGIN',
    'begin transaction isolation level serializable',
    'BEGIN WORK',
    'START TRANSACTION',
    'COMMIT',
    'commit and chain',
    'END',
    'ROLLBACK',
    'rollback work',
    'ABORT',
    "COMMIT PREPARED 'x'",
    "ROLLBACK PREPARED 'x'",
    "PREPARE TRANSACTION 'x'",
    '-- leading\n/* comment */ commit',
  ])('recognises %j', (sql) => {
    expect(isTransactionControl(sql)).toBe(true);
  });

  it.each([
    'BEGIN ATOMIC SELECT 1; END',
    'ROLLBACK TO SAVEPOINT s',
    'rollback to s',
    'ROLLBACK TRANSACTION TO SAVEPOINT s',
    'SAVEPOINT s',
    'RELEASE SAVEPOINT s',
    'PREPARE q AS SELECT 1',
    'START_TRANSACTION',
    'SELECT 1',
    'create table begin_log (x int)',
    '-- BEGIN\nselect 1',
  ])('does not treat %j as transaction control', (sql) => {
    expect(isTransactionControl(sql)).toBe(false);
  });

  it('tells opening from closing statements', () => {
    expect(transactionControlKind('start transaction')).toBe('begin');
    expect(transactionControlKind('end')).toBe('commit');
    expect(transactionControlKind('rollback work')).toBe('rollback');
    expect(transactionControlKind('abort')).toBe('rollback');
    expect(transactionControlKind('select')).toBeNull();
  });
});
