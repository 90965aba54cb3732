import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, InvalidOptionError } from '../../src/protocol/errors.js';
import {
  SAFE_IDENTIFIER,
  type SqlDialect,
  SqlFragment,
  SqlSecurityError,
  assertIdentifier,
  createSqlTag,
  quoteIdentifier,
  sql,
} from '../../src/security/index.js';

const INJECTION_NAMES = [
  'users"; DROP TABLE sentinel; --',
  'x" OR 1=1 --',
  'a`b',
  '`; DROP TABLE sentinel; --',
  "Robert'); DROP TABLE sentinel;--",
  '""',
  '"',
  '`',
  'back\\slash',
  'semi;colon',
  'with space',
  'dotted.name',
  'ünïcødé',
  'emoji😀',
  '$1',
  '?',
  '/* comment */',
  '-- comment',
];

function reason(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    if (err instanceof SqlSecurityError) return err.reason;
    throw err;
  }
}

describe('quoteIdentifier', () => {
  it.each<[string, SqlDialect, string]>([
    ['users', 'postgres', '"users"'],
    ['Users', 'postgres', '"Users"'],
    ['a"b', 'postgres', '"a""b"'],
    ['a"b', 'sqlite', '"a""b"'],
    ['a`b', 'mysql', '`a``b`'],
    ['a"b', 'mysql', '`a"b`'],
    ['a`b', 'postgres', '"a`b"'],
    ['x" OR 1=1 --', 'postgres', '"x"" OR 1=1 --"'],
  ])('%s in %s -> %s', (name, dialect, expected) => {
    expect(quoteIdentifier(name, { dialect })).toBe(expected);
  });

  it('quotes qualified names part by part', () => {
    expect(quoteIdentifier(['public', 'my.table'], { dialect: 'postgres' })).toBe('"public"."my.table"');
    expect(quoteIdentifier(['db', 'a`b'], { dialect: 'mysql' })).toBe('`db`.`a``b`');
    expect(reason(() => quoteIdentifier([], { dialect: 'postgres' }))).toBe('INVALID_IDENTIFIER');
  });

  it.each<[unknown, SqlDialect, string]>([
    ['', 'postgres', 'INVALID_IDENTIFIER'],
    ['a\0b', 'postgres', 'INVALID_IDENTIFIER'],
    ['a\nb', 'sqlite', 'INVALID_IDENTIFIER'],
    ['a\u202eb', 'mysql', 'INVALID_IDENTIFIER'],
    ['\ud800', 'postgres', 'INVALID_IDENTIFIER'],
    [42, 'postgres', 'INVALID_IDENTIFIER'],
    ['trailing ', 'mysql', 'INVALID_IDENTIFIER'],
    ['emoji😀', 'mysql', 'INVALID_IDENTIFIER'],
    ['a'.repeat(64), 'postgres', 'IDENTIFIER_TOO_LONG'],
    ['é'.repeat(32), 'postgres', 'IDENTIFIER_TOO_LONG'],
    ['a'.repeat(65), 'mysql', 'IDENTIFIER_TOO_LONG'],
    ['a'.repeat(1025), 'sqlite', 'IDENTIFIER_TOO_LONG'],
  ])('rejects %j in %s (%s)', (name, dialect, why) => {
    expect(reason(() => quoteIdentifier(name as string, { dialect }))).toBe(why);
  });

  it('accepts names right at the dialect limits', () => {
    expect(quoteIdentifier('a'.repeat(63), { dialect: 'postgres' })).toHaveLength(65);
    expect(quoteIdentifier('é'.repeat(31), { dialect: 'postgres' })).toHaveLength(33);
    expect(quoteIdentifier('é'.repeat(64), { dialect: 'mysql' })).toHaveLength(66);
  });

  it('enforces an allow-list: regex (whole name) or exact names', () => {
    expect(quoteIdentifier('created_at', { dialect: 'postgres', allow: SAFE_IDENTIFIER })).toBe(
      '"created_at"',
    );
    expect(reason(() => quoteIdentifier('a b', { dialect: 'postgres', allow: SAFE_IDENTIFIER }))).toBe(
      'IDENTIFIER_NOT_ALLOWED',
    );
    // An unanchored regex still has to match the whole name.
    expect(reason(() => quoteIdentifier('ok"; DROP', { dialect: 'postgres', allow: /[a-z]+/ }))).toBe(
      'IDENTIFIER_NOT_ALLOWED',
    );
    expect(quoteIdentifier('total', { dialect: 'mysql', allow: ['total', 'created_at'] })).toBe('`total`');
    expect(reason(() => quoteIdentifier('Total', { dialect: 'mysql', allow: ['total'] }))).toBe(
      'IDENTIFIER_NOT_ALLOWED',
    );
  });

  it('validates options', () => {
    expect(() => quoteIdentifier('a', { dialect: 'oracle' as SqlDialect })).toThrow(/dialect/);
    expect(() => quoteIdentifier('a', { dialect: 'postgres', allow: /a/g })).toThrow(/allow/);
    expect(() => quoteIdentifier('a', { dialect: 'postgres', allow: 'a' as unknown as RegExp })).toThrow(
      InvalidOptionError,
    );
  });
});

describe('assertIdentifier', () => {
  it('accepts plain names and narrows the type', () => {
    const input: unknown = 'order_items';
    assertIdentifier(input);
    expect(input.toUpperCase()).toBe('ORDER_ITEMS');
  });
  it.each<[unknown, string]>([
    ['1abc', 'IDENTIFIER_NOT_ALLOWED'],
    ['a-b', 'IDENTIFIER_NOT_ALLOWED'],
    ['a b', 'IDENTIFIER_NOT_ALLOWED'],
    ['users;DROP', 'IDENTIFIER_NOT_ALLOWED'],
    ['é', 'IDENTIFIER_NOT_ALLOWED'],
    ['a'.repeat(64), 'IDENTIFIER_TOO_LONG'],
    ['', 'INVALID_IDENTIFIER'],
    [undefined, 'INVALID_IDENTIFIER'],
    [{ toString: () => 'users' }, 'INVALID_IDENTIFIER'],
  ])('rejects %j (%s)', (name, why) => {
    expect(reason(() => assertIdentifier(name))).toBe(why);
  });
  it('takes a custom allow-list and length', () => {
    expect(reason(() => assertIdentifier('a-b', { allow: /^[a-z-]+$/ }))).toBe('accepted');
    expect(reason(() => assertIdentifier('orders', { allow: ['users'] }))).toBe('IDENTIFIER_NOT_ALLOWED');
    expect(reason(() => assertIdentifier('abcdef', { maxLength: 5 }))).toBe('IDENTIFIER_TOO_LONG');
    expect(() => assertIdentifier('a', { maxLength: 0 })).toThrow(/maxLength/);
  });
});

describe('sql tagged template', () => {
  it('turns every interpolation into a bound parameter', () => {
    const id = '1; DROP TABLE users; --';
    const q = sql`SELECT * FROM t WHERE id = ${id} AND owner = ${'o'}`;
    expect(q.text).toBe('SELECT * FROM t WHERE id = $1 AND owner = $2');
    expect(q.values).toEqual([id, 'o']);
    const m = sql.mysql`SELECT * FROM t WHERE id = ${id} AND owner = ${'o'}`;
    expect(m.text).toBe('SELECT * FROM t WHERE id = ? AND owner = ?');
    expect(sql.sqlite`SELECT ${1}`.text).toBe('SELECT ?');
    expect(sql.postgres`SELECT ${1}`.text).toBe('SELECT $1');
  });

  it('nests fragments, renumbering placeholders in the outer dialect', () => {
    const where = sql`a = ${1} AND b = ${2}`;
    const q = sql`SELECT * FROM t WHERE ${where} OR c = ${3} OR ${where}`;
    expect(q.text).toBe('SELECT * FROM t WHERE a = $1 AND b = $2 OR c = $3 OR a = $4 AND b = $5');
    expect(q.values).toEqual([1, 2, 3, 1, 2]);
    expect(sql.mysql`SELECT * FROM t WHERE ${where}`.text).toBe('SELECT * FROM t WHERE a = ? AND b = ?');
  });

  it('splices identifiers quoted for the rendering dialect', () => {
    const col = sql.ident('created_at', { allow: ['created_at', 'total'] });
    expect(sql`SELECT * FROM ${sql.ident(['public', 'orders'])} ORDER BY ${col}`.text).toBe(
      'SELECT * FROM "public"."orders" ORDER BY "created_at"',
    );
    expect(sql.mysql`ORDER BY ${col}`.text).toBe('ORDER BY `created_at`');
    expect(reason(() => sql.ident('name; DROP', { allow: ['name'] }))).toBe('IDENTIFIER_NOT_ALLOWED');
    expect(reason(() => sql.mysql.ident('x'.repeat(65)))).toBe('IDENTIFIER_TOO_LONG');
  });

  it('expands lists with join', () => {
    const q = sql`SELECT * FROM t WHERE id IN (${sql.join([7, 8, 9])}) AND x = ${'y'}`;
    expect(q.text).toBe('SELECT * FROM t WHERE id IN ($1, $2, $3) AND x = $4');
    expect(q.values).toEqual([7, 8, 9, 'y']);
    const rows = sql.join(
      [
        [1, 'a'],
        [2, 'b'],
      ].map(([n, s]) => sql`(${n}, ${s})`),
    );
    expect(sql.sqlite`INSERT INTO t VALUES ${rows}`.text).toBe('INSERT INTO t VALUES (?, ?), (?, ?)');
    expect(sql`${sql.join([1, 2], sql` AND `)}`.text).toBe('$1 AND $2');
    expect(reason(() => sql.join([]))).toBe('EMPTY_LIST');
    expect(() => sql.join([1], ' OR 1=1 ' as unknown as SqlFragment)).toThrow(/separator/);
  });

  it('refuses to be called with plain strings, and refuses undefined values', () => {
    const userText = "x' OR '1'='1";
    const forged = [userText] as unknown as TemplateStringsArray;
    expect(() => sql(forged)).toThrow(InvalidOptionError);
    expect(() => sql(Object.freeze([userText]) as unknown as TemplateStringsArray)).toThrow(
      InvalidOptionError,
    );
    expect(reason(() => sql`SELECT ${undefined}`)).toBe('UNDEFINED_VALUE');
    expect(sql`SELECT ${null}`.values).toEqual([null]);
    expect(() => new SqlFragment(Symbol('x'), 'postgres', ['DROP TABLE x'], [])).toThrow(InvalidOptionError);
    expect(() => createSqlTag('oracle' as SqlDialect)).toThrow(/dialect/);
  });

  it('errors travel as -32602', () => {
    try {
      quoteIdentifier('a\0', { dialect: 'postgres' });
      expect.unreachable();
    } catch (err) {
      expect((err as SqlSecurityError).code).toBe(ErrorCode.InvalidParams);
      expect((err as SqlSecurityError).toJSON().data).toEqual({ reason: 'INVALID_IDENTIFIER' });
    }
  });
});

/**
 * The real thing: a SQLite database (node:sqlite, in the Node 22 binary the dev dependencies
 * ship) runs the statements these helpers build from hostile names and values, and a sentinel
 * table proves nothing was injected.
 */
const NODE22 = path.resolve(import.meta.dirname, '../../node_modules/node22/bin/node');
const RUNNER = `
const { DatabaseSync } = await import('node:sqlite');
const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
const db = new DatabaseSync(':memory:');
const out = [];
for (const s of input) {
  try {
    const st = db.prepare(s.text);
    out.push(s.read ? st.all(...s.values) : (st.run(...s.values), null));
  } catch (e) { out.push({ error: String(e.message) }); }
}
process.stdout.write(JSON.stringify(out));
`;

function runSqlite(statements: { text: string; values: unknown[]; read?: boolean }[]): unknown[] {
  const r = spawnSync(
    NODE22,
    ['--no-warnings', '--input-type=commonjs', '-e', `(async () => {${RUNNER}})()`],
    {
      input: JSON.stringify(statements),
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  if (r.status !== 0) throw new Error(`sqlite runner failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown[];
}

describe.skipIf(!existsSync(NODE22))('against a real SQLite database', () => {
  it('keeps hostile identifiers and values inert', () => {
    const q = (s: { text: string; values: unknown[] }, read = false) => ({
      text: s.text,
      values: s.values,
      read,
    });
    const statements = [
      q(sql.sqlite`CREATE TABLE sentinel (x INTEGER)`),
      q(sql.sqlite`INSERT INTO sentinel VALUES (${1})`),
    ];
    for (const name of INJECTION_NAMES) {
      const table = sql.sqlite.ident(name);
      const column = sql.sqlite.ident(`${name}_col`);
      statements.push(q(sql.sqlite`CREATE TABLE ${table} (${column} TEXT)`));
      statements.push(
        q(sql.sqlite`INSERT INTO ${table} (${column}) VALUES (${name}), (${"'); DROP TABLE sentinel; --"})`),
      );
      statements.push(q(sql.sqlite`SELECT ${column} AS v FROM ${table} WHERE ${column} = ${name}`, true));
    }
    statements.push(q(sql.sqlite`SELECT x FROM sentinel`, true));
    statements.push(q(sql.sqlite`SELECT count(*) AS n FROM sqlite_master WHERE type = ${'table'}`, true));
    const results = runSqlite(statements);
    for (const [i, name] of INJECTION_NAMES.entries()) {
      expect(results[2 + i * 3]).toBeNull();
      expect(results[3 + i * 3]).toBeNull();
      expect(results[4 + i * 3]).toEqual([{ v: name }]);
    }
    expect(results.at(-2)).toEqual([{ x: 1 }]);
    expect(results.at(-1)).toEqual([{ n: INJECTION_NAMES.length + 1 }]);
  });

  it('binds IN lists and LIKE patterns as data', () => {
    const results = runSqlite(
      [
        sql.sqlite`CREATE TABLE t (id INTEGER, name TEXT)`,
        sql.sqlite`INSERT INTO t VALUES ${sql.sqlite.join([sql.sqlite`(${1}, ${'a'})`, sql.sqlite`(${2}, ${"b' OR '1'='1"})`, sql.sqlite`(${3}, ${'c'})`])}`,
        { ...sql.sqlite`SELECT id FROM t WHERE id IN (${sql.sqlite.join([1, 3])}) ORDER BY id`, read: true },
        { ...sql.sqlite`SELECT id FROM t WHERE name = ${"a' OR '1'='1"}`, read: true },
        { ...sql.sqlite`SELECT id FROM t WHERE name LIKE ${`%${"' OR '"}%`}`, read: true },
      ].map((s) => ({ text: s.text, values: s.values, read: 'read' in s })),
    );
    expect(results[2]).toEqual([{ id: 1 }, { id: 3 }]);
    expect(results[3]).toEqual([]);
    expect(results[4]).toEqual([{ id: 2 }]);
  });
});
