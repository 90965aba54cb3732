import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  REDACTED,
  type SqlDialect,
  SqlSecurityError,
  UriSecurityError,
  createSqlTag,
  normalizeResourceUri,
  quoteIdentifier,
  redact,
  validateResourceUri,
} from '../../src/security/index.js';
import { FUZZ_TIMEOUT_MS, counter, params } from './budget.js';

vi.setConfig({ testTimeout: FUZZ_TIMEOUT_MS });

function fail(message: string): never {
  throw new Error(message);
}

const utf16 = (maxLength: number) =>
  fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength });

describe('validateResourceUri / normalizeResourceUri', () => {
  const uriChars = fc.constantFrom(...'abcXYZ019:/?#[]@!$&\'()*+,;=%-._~ \t\n\\é"<>{}|^`'.split(''));
  const uriLike = fc.oneof(
    fc.webUrl({ withQueryParameters: true, withFragments: true }),
    fc
      .tuple(
        fc.constantFrom(
          'file:',
          'file://',
          'note://',
          'x:',
          'javascript:',
          'JaVaScRiPt:',
          'data:',
          'https://',
          'urn:',
          'c:',
          '',
        ),
        fc.string({ unit: uriChars, maxLength: 40 }),
      )
      .map(([scheme, rest]) => scheme + rest),
    utf16(40),
  );

  it('accepts only clean URIs, and normalization is idempotent on them', () => {
    let accepted = 0;
    const c = counter();
    fc.assert(
      fc.property(uriLike, (uri) => {
        c.tick();
        let url: URL;
        try {
          url = validateResourceUri(uri);
        } catch (err) {
          if (!(err instanceof UriSecurityError)) fail(`threw ${String(err)}`);
          return;
        }
        accepted++;
        const bad = [...uri].some((ch) => {
          const code = ch.charCodeAt(0);
          return code < 0x20 || (code >= 0x7f && code <= 0x9f) || /\s/.test(ch) || ch === '\\';
        });
        if (bad) fail('accepted whitespace, control or backslash');
        if (['javascript:', 'data:', 'vbscript:'].includes(url.protocol)) fail('accepted a dangerous scheme');
        if (url.username !== '' || url.password !== '') fail('accepted credentials');
        const once = normalizeResourceUri(uri);
        if (normalizeResourceUri(once) !== once) fail(`not idempotent: ${once}`);
      }),
      params('uriValidate'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('uriValidate').numRuns!);
    expect(accepted).toBeGreaterThan(c.count * 0.2);
  });
});

describe('quoteIdentifier', () => {
  /** Reads a quoted identifier back, insisting every quote character inside is doubled. */
  function unquote(quoted: string, q: string): string {
    if (quoted.length < 2 || quoted[0] !== q || quoted.at(-1) !== q) fail('not wrapped in quotes');
    const inner = quoted.slice(1, -1);
    let out = '';
    for (let i = 0; i < inner.length; i++) {
      if (inner[i] === q) {
        if (inner[i + 1] !== q) fail('a lone quote character ends the identifier early');
        i++;
      }
      out += inner[i];
    }
    return out;
  }

  it('either refuses a name or quotes it so it reads back unchanged', () => {
    const nameChars = fc.oneof(
      fc.constantFrom('"', '`', "'", ';', ' ', '-', '\\', '\0', '.', 'a', 'Z', '_', '1'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    );
    const name = fc.oneof(fc.string({ unit: nameChars, maxLength: 70 }), utf16(20));
    const c = counter();
    fc.assert(
      fc.property(name, fc.constantFrom<SqlDialect>('postgres', 'mysql', 'sqlite'), (n, dialect) => {
        c.tick();
        let quoted: string;
        try {
          quoted = quoteIdentifier(n, { dialect });
        } catch (err) {
          if (!(err instanceof SqlSecurityError)) fail(`threw ${String(err)}`);
          return;
        }
        if (unquote(quoted, dialect === 'mysql' ? '`' : '"') !== n) fail('identifier changed');
        if (quoted.includes('\0')) fail('NUL in an identifier');
      }),
      params('sqlQuote'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('sqlQuote').numRuns!);
  });

  it('never lets a value into the statement text', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.integer(),
      fc.constant(null),
      fc.boolean(),
      fc.constant(undefined),
    );
    const c = counter();
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        fc.constantFrom<SqlDialect>('postgres', 'mysql', 'sqlite'),
        fc.infiniteStream(value),
        (strings, dialect, values) => {
          c.tick();
          const args = [...values.take(strings.length - 1)];
          const template = Object.freeze(Object.assign([...strings], { raw: Object.freeze([...strings]) }));
          const tag = createSqlTag(dialect);
          let q: { text: string; values: unknown[] };
          try {
            q = tag(template as unknown as TemplateStringsArray, ...args);
          } catch (err) {
            if (
              err instanceof SqlSecurityError &&
              err.reason === 'UNDEFINED_VALUE' &&
              args.includes(undefined)
            )
              return;
            throw err;
          }
          const expected = strings.reduce(
            (text, s, i) => (i === 0 ? s : `${text}${dialect === 'postgres' ? `$${i}` : '?'}${s}`),
            '',
          );
          if (q.text !== expected) fail('text is not the static parts with placeholders');
          expect(q.values).toEqual(args);
        },
      ),
      params('sqlTag'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('sqlTag').numRuns!);
  });
});

describe('redact', () => {
  const SUFFIX_SECRETS = [
    'password',
    'token',
    'secret',
    'apikey',
    'authorization',
    'cookie',
    'accesstoken',
    'clientsecret',
    'privatekey',
  ];
  /** Secret key names as people spell them: any case, any separators, any prefix. */
  const secretKey = fc
    .tuple(
      fc.constantFrom('', 'my', 'db', 'x-', 'upstream_'),
      fc.constantFrom(...SUFFIX_SECRETS),
      fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
      fc.constantFrom('', '-', '_', '.'),
    )
    .map(([prefix, base, upper, sep]) => {
      const letters = [...base].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch));
      const mid = Math.floor(letters.length / 2);
      return `${prefix}${letters.slice(0, mid).join('')}${sep}${letters.slice(mid).join('')}`;
    });
  const tokenBody = fc.string({
    unit: fc.constantFrom(...'abcdefXYZ0123456789'.split('')),
    minLength: 8,
    maxLength: 16,
  });
  /** Secrets in free text, each carrying SENTINEL so a leak is easy to spot. */
  const secretText = fc.oneof(
    tokenBody.map((t) => `Authorization: Bearer SENTINEL${t}`),
    tokenBody.map((t) => `see https://admin:SENTINEL${t}@db.internal:5432/app`),
    tokenBody.map((t) =>
      `eyJhbGciOiJIUzI1NiJ9.eyJTENTINEL${t}.sig${t}`.replace('eyJTENTINEL', 'eyJSENTINEL'),
    ),
    tokenBody.map((t) => `GET /x?api_key=SENTINEL${t}&page=2`),
  );

  it('leaves no secret in the output, whatever the shape around it', () => {
    const c = counter();
    fc.assert(
      fc.property(
        fc.object({
          maxDepth: 3,
          maxKeys: 5,
          values: [fc.string({ maxLength: 10 }), fc.integer(), fc.constant(null)],
        }),
        fc.array(fc.tuple(fc.nat(), secretKey, tokenBody), { maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 6 }), secretText), { maxLength: 3 }),
        fc.boolean(),
        (tree, keyed, texts, cyclic) => {
          c.tick();
          const objects: Record<string, unknown>[] = [];
          const collect = (v: unknown): void => {
            if (typeof v !== 'object' || v === null) return;
            if (!Array.isArray(v)) objects.push(v as Record<string, unknown>);
            for (const child of Object.values(v)) collect(child);
          };
          collect(tree);
          for (const [i, key, body] of keyed) objects[i % objects.length]![key] = `SENTINEL${body}`;
          for (const [i, key, text] of texts) objects[i % objects.length]![`note${key}`] = text;
          if (cyclic) objects[objects.length - 1]!.loop = tree;
          const before = cyclic ? undefined : JSON.stringify(tree);
          const out = JSON.stringify(redact(tree));
          if (out.includes('SENTINEL')) fail(`leak: ${out}`);
          if (keyed.length > 0 && !out.includes(REDACTED)) fail('nothing redacted');
          if (before !== undefined && JSON.stringify(tree) !== before) fail('input was modified');
        },
      ),
      params('redact'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('redact').numRuns!);
  });
});
