import { InvalidOptionError } from '../protocol/errors.js';
import { SqlSecurityError } from './errors.js';
import { hasControlCharacter, hasInvalidUnicode } from './path.js';

/**
 * SQL for tools, without injection.
 *
 * The rule: a value that came from a client never becomes SQL text. Values travel as bound
 * parameters (the driver sends them apart from the statement, so quotes in them are just
 * data); the only client input that can become SQL text is an identifier (a column to sort
 * by, a table to read), and it goes through an allow-list and dialect quoting first.
 *
 * ```ts
 * import { sql } from 'mcpkit/security';
 *
 * server.tool('find_orders', schema, async ({ customer, sortBy, ids }) => {
 *   const q = sql`SELECT id, total FROM orders
 *                 WHERE customer = ${customer} AND id IN (${sql.join(ids)})
 *                 ORDER BY ${sql.ident(sortBy, { allow: ['created_at', 'total'] })}`;
 *   // q.text:   SELECT id, total FROM orders WHERE customer = $1 AND id IN ($2, $3) ORDER BY "total"
 *   // q.values: [customer, ...ids]
 *   const { rows } = await pool.query(q);            // pg takes { text, values } as is
 * });
 *
 * sql.mysql`SELECT * FROM t WHERE id = ${id}`        // mysql2: conn.execute(q.text, q.values)
 * sql.sqlite`SELECT * FROM t WHERE id = ${id}`       // node:sqlite / better-sqlite3: db.prepare(q.text).all(...q.values)
 * ```
 *
 * Never build the template from strings (`sql([userText])` is refused at runtime), and never
 * interpolate into string literals in the static text (`'%${x}%'`): bind the whole value
 * (`LIKE ${'%' + x + '%'}`). A literal `?` or `$1` in the static text would be taken for a
 * placeholder by the driver; write it as a bound value instead. SQLite builds that still
 * allow double-quoted strings read a quoted name matching no column as a string literal:
 * pass `allow` so only real column names get through.
 */
export type SqlDialect = 'postgres' | 'mysql' | 'sqlite';

export const SQL_DIALECTS: readonly SqlDialect[] = ['postgres', 'mysql', 'sqlite'];

/** A conservative identifier shape: ASCII letters, digits and '_', not starting with a digit. */
export const SAFE_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A regular expression the whole name must match, or the exact names that are allowed. */
export type IdentifierAllowList = RegExp | readonly string[];

export interface IdentifierOptions {
  dialect: SqlDialect;
  /** When given, the name must also pass this allow-list. */
  allow?: IdentifierAllowList;
}

/** PostgreSQL silently truncates names past 63 bytes; two long names could then collide. */
const POSTGRES_MAX_BYTES = 63;
const MYSQL_MAX_CHARS = 64;
/** SQLite has no limit; this only bounds the work done on hostile input. */
const SQLITE_MAX_CHARS = 1024;
const ASTRAL = /[\u{10000}-\u{10ffff}]/u;

function checkDialect(dialect: unknown): SqlDialect {
  if (typeof dialect !== 'string' || !SQL_DIALECTS.includes(dialect as SqlDialect)) {
    throw new InvalidOptionError('dialect', `must be one of ${SQL_DIALECTS.join(', ')}`);
  }
  return dialect as SqlDialect;
}

function checkAllow(allow: unknown): IdentifierAllowList | undefined {
  if (allow === undefined) return undefined;
  if (allow instanceof RegExp) {
    // A global or sticky regex keeps lastIndex between calls and would answer differently each time.
    if (allow.global || allow.sticky)
      throw new InvalidOptionError('allow', 'regular expression must not use the g or y flag');
    return allow;
  }
  if (Array.isArray(allow) && allow.every((a) => typeof a === 'string')) return allow as readonly string[];
  throw new InvalidOptionError('allow', 'must be a RegExp or an array of names');
}

function isAllowed(name: string, allow: IdentifierAllowList): boolean {
  if (!(allow instanceof RegExp)) return allow.includes(name);
  const m = allow.exec(name);
  return m !== null && m.index === 0 && m[0].length === name.length;
}

function checkName(name: unknown, dialect: SqlDialect, allow: IdentifierAllowList | undefined): string {
  if (typeof name !== 'string' || name.length === 0 || hasControlCharacter(name) || hasInvalidUnicode(name)) {
    throw new SqlSecurityError('INVALID_IDENTIFIER');
  }
  // MySQL refuses trailing spaces and characters outside the BMP in identifiers.
  if (dialect === 'mysql' && (name.endsWith(' ') || ASTRAL.test(name)))
    throw new SqlSecurityError('INVALID_IDENTIFIER');
  if (allow !== undefined && !isAllowed(name, allow)) throw new SqlSecurityError('IDENTIFIER_NOT_ALLOWED');
  const tooLong =
    dialect === 'postgres'
      ? Buffer.byteLength(name, 'utf8') > POSTGRES_MAX_BYTES
      : dialect === 'mysql'
        ? [...name].length > MYSQL_MAX_CHARS
        : name.length > SQLITE_MAX_CHARS;
  if (tooLong) throw new SqlSecurityError('IDENTIFIER_TOO_LONG');
  return name;
}

function quote(name: string, dialect: SqlDialect): string {
  // Doubling the quote character is the one escape all three dialects define inside quoted names.
  return dialect === 'mysql' ? `\`${name.replaceAll('`', '``')}\`` : `"${name.replaceAll('"', '""')}"`;
}

/**
 * Quotes an identifier (or a qualified name given as parts: `['public', 'users']`) for the
 * dialect, after checking it is well-formed, fits the dialect's limits and passes `allow`.
 * Quoting keeps case: in PostgreSQL `"Users"` is not `users`.
 * Throws `SqlSecurityError` (-32602) for a bad name, `InvalidOptionError` for bad options.
 */
export function quoteIdentifier(name: string | readonly string[], options: IdentifierOptions): string {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object');
  const dialect = checkDialect(options.dialect);
  const allow = checkAllow(options.allow);
  if (Array.isArray(name)) {
    if (name.length === 0) throw new SqlSecurityError('INVALID_IDENTIFIER');
    return name.map((part: unknown) => quote(checkName(part, dialect, allow), dialect)).join('.');
  }
  return quote(checkName(name, dialect, allow), dialect);
}

export interface AssertIdentifierOptions {
  /** Default `SAFE_IDENTIFIER`. */
  allow?: IdentifierAllowList;
  /** Longest accepted name in UTF-16 code units. Default 63 (the PostgreSQL limit). */
  maxLength?: number;
}

/**
 * Asserts that `name` is a string passing the allow-list (default: `SAFE_IDENTIFIER`), for
 * code that must splice a name without quoting (a driver API that takes a bare table name).
 */
export function assertIdentifier(name: unknown, options?: AssertIdentifierOptions): asserts name is string {
  const allow = checkAllow(options?.allow) ?? SAFE_IDENTIFIER;
  const maxLength = options?.maxLength ?? POSTGRES_MAX_BYTES;
  if (!Number.isSafeInteger(maxLength) || maxLength < 1) {
    throw new InvalidOptionError('maxLength', 'must be a positive integer');
  }
  if (typeof name !== 'string' || name.length === 0 || hasControlCharacter(name) || hasInvalidUnicode(name)) {
    throw new SqlSecurityError('INVALID_IDENTIFIER');
  }
  if (!isAllowed(name, allow)) throw new SqlSecurityError('IDENTIFIER_NOT_ALLOWED');
  if (name.length > maxLength) throw new SqlSecurityError('IDENTIFIER_TOO_LONG');
}

const INTERNAL = Symbol('mcpkit.sql.internal');

/** An identifier to splice into a `sql` template, quoted for whichever dialect renders it. */
export class SqlIdentifier {
  readonly parts: readonly string[];
  readonly allow: IdentifierAllowList | undefined;
  constructor(token: symbol, parts: readonly string[], allow: IdentifierAllowList | undefined) {
    if (token !== INTERNAL)
      throw new InvalidOptionError('SqlIdentifier', 'create identifiers with sql.ident()');
    this.parts = parts;
    this.allow = allow;
  }
}

/** The result of a `sql` template: statement text with placeholders, and the values to bind. */
export class SqlFragment {
  readonly dialect: SqlDialect;
  readonly text: string;
  readonly values: unknown[];
  /** The template pieces, kept so a fragment can be nested into another (and renumbered). */
  readonly strings: readonly string[];
  readonly args: readonly unknown[];
  constructor(token: symbol, dialect: SqlDialect, strings: readonly string[], args: readonly unknown[]) {
    if (token !== INTERNAL) throw new InvalidOptionError('SqlFragment', 'create fragments with the sql tag');
    this.dialect = dialect;
    this.strings = strings;
    this.args = args;
    const values: unknown[] = [];
    const out: string[] = [];
    render(strings, args, dialect, values, out);
    this.text = out.join('');
    this.values = values;
  }
}

function render(
  strings: readonly string[],
  args: readonly unknown[],
  dialect: SqlDialect,
  values: unknown[],
  out: string[],
): void {
  for (let i = 0; i < strings.length; i++) {
    out.push(strings[i]!);
    if (i >= args.length) continue;
    const arg = args[i];
    if (arg instanceof SqlFragment) {
      render(arg.strings, arg.args, dialect, values, out);
    } else if (arg instanceof SqlIdentifier) {
      out.push(
        quoteIdentifier(arg.parts, arg.allow === undefined ? { dialect } : { dialect, allow: arg.allow }),
      );
    } else {
      // Drivers disagree on undefined (NULL, an error, or a shifted parameter list): refuse it.
      if (arg === undefined) throw new SqlSecurityError('UNDEFINED_VALUE');
      values.push(arg);
      out.push(dialect === 'postgres' ? `$${values.length}` : '?');
    }
  }
}

function isTemplateStrings(strings: unknown): strings is TemplateStringsArray {
  return (
    Array.isArray(strings) && Object.isFrozen(strings) && Array.isArray((strings as { raw?: unknown }).raw)
  );
}

export interface SqlTag {
  (strings: TemplateStringsArray, ...values: unknown[]): SqlFragment;
  readonly dialect: SqlDialect;
  /** An identifier from input: checked (and `allow`-listed) now, quoted when rendered. */
  ident(name: string | readonly string[], options?: { allow?: IdentifierAllowList }): SqlIdentifier;
  /** Items (values, fragments or identifiers) separated by `separator` (default `, `), for IN lists and VALUES rows. */
  join(items: readonly unknown[], separator?: SqlFragment): SqlFragment;
}

export function createSqlTag(dialect: SqlDialect): SqlTag {
  const d = checkDialect(dialect);
  const comma = new SqlFragment(INTERNAL, d, [', '], []);
  const tag = (strings: TemplateStringsArray, ...values: unknown[]): SqlFragment => {
    if (!isTemplateStrings(strings) || strings.length !== values.length + 1) {
      throw new InvalidOptionError(
        'strings',
        'sql must be used as a tagged template; put input in ${} so it is bound',
      );
    }
    return new SqlFragment(INTERNAL, d, [...strings], values);
  };
  const ident: SqlTag['ident'] = (name, options) => {
    const allow = checkAllow(options?.allow);
    const parts = Array.isArray(name) ? [...name] : [name as string];
    // Validate now so a bad name fails where it entered, not where the query is rendered.
    quoteIdentifier(parts, allow === undefined ? { dialect: d } : { dialect: d, allow });
    return new SqlIdentifier(INTERNAL, parts, allow);
  };
  const join: SqlTag['join'] = (items, separator = comma) => {
    if (!Array.isArray(items) || items.length === 0) throw new SqlSecurityError('EMPTY_LIST');
    if (!(separator instanceof SqlFragment))
      throw new InvalidOptionError('separator', 'must be a sql fragment');
    const args: unknown[] = [];
    items.forEach((item, i) => {
      if (i > 0) args.push(separator);
      args.push(item);
    });
    return new SqlFragment(INTERNAL, d, new Array<string>(args.length + 1).fill(''), args);
  };
  return Object.assign(tag, { dialect: d, ident, join });
}

/** PostgreSQL by default (`$1`); `sql.mysql` and `sql.sqlite` use `?`. */
export const sql: SqlTag & { readonly postgres: SqlTag; readonly mysql: SqlTag; readonly sqlite: SqlTag } =
  (() => {
    const postgres = createSqlTag('postgres');
    return Object.assign(createSqlTag('postgres'), {
      postgres,
      mysql: createSqlTag('mysql'),
      sqlite: createSqlTag('sqlite'),
    });
  })();
