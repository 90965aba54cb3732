import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { MAX_MATCH_LENGTH, MAX_TEMPLATE_LENGTH, UriTemplate } from '../../src/protocol/uri-template.js';
import { FUZZ_TIMEOUT_MS, counter, params } from './budget.js';
import { bestOf } from './timing.js';

vi.setConfig({ testTimeout: FUZZ_TIMEOUT_MS });

/**
 * URI templates under arbitrary input. Documented behaviour: the constructor throws TypeError
 * for an invalid or ambiguous template and nothing else; expand and match never throw;
 * match(expand(v)) gives v back for values the encoding can carry unambiguously; every match
 * of a URI up to the maximum length takes well under 20 ms, whatever the template.
 */

function fail(message: string): never {
  throw new Error(message);
}

function checkMatchResult(r: unknown): void {
  if (r === undefined) return;
  if (typeof r !== 'object' || r === null) fail('match returned a non-object');
  for (const v of Object.values(r)) {
    if (typeof v === 'string') continue;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) continue;
    fail(`match produced a ${typeof v}`);
  }
}

const templateChars = fc.constantFrom(...'{}{}{}+#./;?&,*:=%0123456789abcx_é \\-'.split(''));

describe('UriTemplate construction', () => {
  it('accepts or throws TypeError, and what it accepts can expand and match', () => {
    const c = counter();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: templateChars, maxLength: 30 }),
          fc.string({ unit: 'binary', maxLength: 30 }),
        ),
        fc.string({ unit: templateChars, maxLength: 30 }),
        (source, uri) => {
          c.tick();
          let t: UriTemplate;
          try {
            t = new UriTemplate(source);
          } catch (err) {
            if (!(err instanceof TypeError)) fail(`threw ${String(err)}`);
            return;
          }
          const vars = Object.fromEntries(t.variableNames.map((n) => [n, 'v']));
          if (typeof t.expand({}) !== 'string' || typeof t.expand(vars) !== 'string') fail('expand');
          checkMatchResult(t.match(uri));
          checkMatchResult(t.match(t.expand(vars)));
        },
      ),
      params('templateParse'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('templateParse').numRuns!);
  });

  it('rejects non-strings, empty and oversized templates with TypeError', () => {
    for (const bad of [
      '',
      'x'.repeat(MAX_TEMPLATE_LENGTH + 1),
      42,
      null,
      '{',
      '{}',
      '{a:0}',
      '{a:10000}',
      '{a b}',
      '{a}}{',
    ]) {
      expect(() => new UriTemplate(bad as string)).toThrow(TypeError);
    }
  });
});

const varName = fc.constantFrom('a', 'b', 'x_1', 'long.name', 'v%41', '__proto__');
const expression = fc.record({
  op: fc.constantFrom('', '+', '#', '.', '/', ';', '?', '&'),
  names: fc.uniqueArray(varName, { minLength: 1, maxLength: 2 }),
  explode: fc.boolean(),
  prefix: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
});
type Expr = { op: string; names: string[]; explode: boolean };
const literal = fc.string({ unit: fc.constantFrom(...'ab/:-_.~!$é%20'.split('')), maxLength: 4 });

/**
 * The documented ambiguity rule, restated: an expression without operator right after another
 * expression, or a '/' or '.' expression right after a list of the same operator.
 */
function ambiguous(parts: [string, Expr][]): boolean {
  return parts.some(([lit, e], i) => {
    if (i === 0 || lit !== '') return false;
    const prev = parts[i - 1]![1];
    if (e.op === '' || e.op === '+') return true;
    return (e.op === '/' || e.op === '.') && prev.op === e.op && (prev.explode || prev.names.length > 1);
  });
}

/** Templates of up to eight expressions, adjacent ones included; `ambiguous` says whether the constructor must refuse it. */
const anyTemplate = fc.array(fc.tuple(literal, expression), { minLength: 1, maxLength: 8 }).chain((parts) =>
  fc.tuple(literal, fc.constant(parts)).map(([tail, ps]) => ({
    source:
      ps
        .map(([lit, e]) => {
          const specs = e.names.map((n) =>
            e.explode ? `${n}*` : e.prefix !== undefined ? `${n}:${e.prefix}` : n,
          );
          return `${lit}{${e.op}${specs.join(',')}}`;
        })
        .join('') + tail,
    ambiguous: ambiguous(ps),
  })),
);

/** Raw UTF-16 code units, lone surrogates included. */
const utf16 = fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 12 });
const value = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  utf16,
  fc.array(fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), utf16), { maxLength: 3 }),
  fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), utf16), fc.oneof(fc.string({ maxLength: 4 }), utf16), {
    maxKeys: 2,
  }),
  fc.constantFrom(undefined, null, 0, 42, true),
);

describe('UriTemplate expand and match on generated templates', () => {
  it('refuse exactly the ambiguous templates, and never throw for arbitrary values and URIs', () => {
    const c = counter();
    fc.assert(
      fc.property(
        anyTemplate,
        fc.dictionary(varName, value, { maxKeys: 4 }),
        fc.string({ unit: 'binary', maxLength: 40 }),
        ({ source, ambiguous }, vars, uri) => {
          c.tick();
          let t: UriTemplate;
          try {
            t = new UriTemplate(source);
          } catch (err) {
            if (!(err instanceof TypeError) || !ambiguous) fail(`refused ${source}: ${String(err)}`);
            return;
          }
          if (ambiguous) fail(`accepted ambiguous ${source}`);
          const expanded = t.expand(vars);
          if (typeof expanded !== 'string') fail('expand');
          checkMatchResult(t.match(expanded));
          checkMatchResult(t.match(uri));
        },
      ),
      params('templateExpandMatch'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('templateExpandMatch').numRuns!);
  });
});

/** Heavy on the characters the encoding treats specially, plus any code point. */
const unit = fc.oneof(
  fc.constantFrom(...":/?#[]@!$&'()*+,;=%-._~ aZ09é{}".split('')),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const text = (minLength: number) => fc.string({ unit, minLength, maxLength: 16 });
const named = fc.option(text(0), { nil: undefined });
/** Two items at least: a one-item list is written exactly like a scalar. */
const list = fc.array(text(0), { minLength: 2, maxLength: 4 });

interface RoundTrip {
  template: string;
  values: fc.Arbitrary<Record<string, string | string[] | undefined>>;
}
const ROUND_TRIPS: RoundTrip[] = [
  { template: 'file:///{+path}', values: fc.record({ path: text(1) }) },
  { template: 'db://{schema}/{table}', values: fc.record({ schema: text(1), table: text(1) }) },
  {
    template: 'repo://{owner}/{repo}/blob/{+path}',
    values: fc.record({ owner: text(1), repo: text(1), path: text(1) }),
  },
  {
    template: 'users://{id}{?fields,expand}',
    values: fc.record({ id: text(1), fields: named, expand: named }),
  },
  { template: 'weather://{city}/forecast{?days}', values: fc.record({ city: text(1), days: named }) },
  // '.' is unreserved, so it stays literal in {a} and would be ambiguous with the {.ext} prefix.
  {
    template: 'x://{a}{.ext}',
    values: fc.record({ a: text(1).filter((s) => !s.includes('.')), ext: text(1) }),
  },
  { template: 'note://{id}{#section}', values: fc.record({ id: text(1), section: text(1) }) },
  { template: 'doc://{id}{;v}', values: fc.record({ id: text(1), v: named }) },
  {
    template: 'x://h{/segs*}',
    values: fc.record({ segs: fc.array(text(1), { minLength: 1, maxLength: 4 }) }),
  },
  { template: 'mem://{a,b}', values: fc.record({ a: text(1), b: text(1) }) },
  { template: 'search://x{?q}{&page,size}', values: fc.record({ q: named, page: named, size: named }) },
  {
    template: 'search://x{?q,tags}',
    values: fc.record({ q: named, tags: fc.option(list, { nil: undefined }) }),
  },
  {
    template: 'search://x{?tag*}{&q}',
    values: fc.record({
      tag: fc.option(fc.array(text(0), { minLength: 1, maxLength: 3 }), { nil: undefined }),
      q: named,
    }),
  },
  { template: 'x://h/{ids}', values: fc.record({ ids: list }) },
  { template: 'x://{+dir}/raw', values: fc.record({ dir: text(0) }) },
  { template: 'café://{id}/x%20y', values: fc.record({ id: text(1) }) },
  {
    template: 'pkg://{name}-v{version}.tgz',
    values: fc.record({ name: text(1).filter((s) => !s.includes('-v')), version: text(1) }),
  },
  {
    template: 'x://h{/dir}{/segs*}',
    values: fc.record({ dir: text(1), segs: fc.array(text(1), { minLength: 1, maxLength: 3 }) }),
  },
];

function defined(vars: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(vars).filter(([, v]) => v !== undefined));
}

describe('UriTemplate round trip', () => {
  it('match(expand(vars)) gives vars back for values the encoding carries unambiguously', () => {
    const templates = ROUND_TRIPS.map((r) => ({ t: new UriTemplate(r.template), values: r.values }));
    const c = counter();
    fc.assert(
      fc.property(
        fc.oneof(...templates.map(({ t, values }) => values.map((v) => ({ t, v })))),
        ({ t, v }) => {
          c.tick();
          const uri = t.expand(v);
          const back = t.match(uri);
          expect(back, `${t.template} -> ${uri}`).toEqual(defined(v));
        },
      ),
      params('templateRoundTrip'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('templateRoundTrip').numRuns!);
  });
});

/** Templates that backtracked polynomially before matching was made atomic (finding F1), and everyday ones. */
const FIXED_TEMPLATES = [
  'file:///{+path}',
  'db://{schema}/{table}',
  'repo://{owner}/{repo}/blob/{+path}',
  'users://{id}{?fields,expand}',
  'weather://{city}/forecast{?days}',
  'note://{id}{#section}',
  'x://h{/segs*}',
  'x://{a}{.ext}',
  'search://x{?q}{&page}',
  '{a}-{b}-{c}x',
  '{+a}/{+b}/{+c}{?q}{#f}',
  'x{.a}{.b}{.c}{.d}.x',
  '{/a}{/b}{/c}{/d}{/e*}',
  '{+a}aaaaaaaaaaaaaaab{+b}',
  '{+path}/data{?q}',
  '{+a}.{+b}.{+c}.json{#f}',
];
const MAX = MAX_MATCH_LENGTH;
const LIMIT_MS = 20;
const SUFFIXES = ['', '!', '/', '#', '?', 'x', '.x', 'aab'];

/** A URI of exactly the maximum length: the template's head, then `unit` over and over, then `suffix`. */
function adversarial(t: UriTemplate, unit: string, suffix: string): string {
  const head = t.template.slice(0, t.template.indexOf('{'));
  const start = head === '' ? '' : new UriTemplate(head).expand({});
  return (start + unit.repeat(Math.ceil(MAX / unit.length))).slice(0, MAX - suffix.length) + suffix;
}

/** What backtracking feeds on: the template's own literal and operator characters, plus value characters. */
function alphabet(t: UriTemplate): string[] {
  const outside = t.template.replace(/\{[^}]*\}/g, (e) => e.slice(1, 2));
  return [...new Set([...outside, 'a', '%', ',', '='])];
}

/** Times one match; fails the test past the limit, naming the case. */
function timer() {
  let worst = 0;
  let worstCase = '';
  return {
    check(t: UriTemplate, unit: string, suffix: string): void {
      const uri = adversarial(t, unit, suffix);
      expect(uri.length).toBe(MAX);
      checkMatchResult(t.match(uri));
      const ms = bestOf(3, () => t.match(uri), LIMIT_MS / 4);
      const name = `${t.template} on ${JSON.stringify(unit)}... ${JSON.stringify(suffix)}`;
      if (ms >= LIMIT_MS) fail(`${ms.toFixed(1)} ms for ${name}`);
      if (ms > worst) [worst, worstCase] = [ms, name];
    },
    get worst() {
      return { ms: worst, name: worstCase };
    },
  };
}

describe('UriTemplate matching time', () => {
  it(`takes under ${LIMIT_MS} ms on every repetition of one character of the known-hard templates`, () => {
    const time = timer();
    for (const t of FIXED_TEMPLATES.map((s) => new UriTemplate(s))) {
      for (const unit of alphabet(t)) for (const suffix of SUFFIXES) time.check(t, unit, suffix);
    }
    expect(time.worst.ms, time.worst.name).toBeLessThan(LIMIT_MS);
  });

  it(`takes under ${LIMIT_MS} ms per maximum-length adversarial URI, whatever the template`, () => {
    const generated = anyTemplate.filter((g) => !g.ambiguous).map((g) => new UriTemplate(g.source));
    const time = timer();
    const c = counter();
    fc.assert(
      fc.property(
        fc.oneof(
          generated,
          fc.constantFrom(...FIXED_TEMPLATES).map((s) => new UriTemplate(s)),
        ),
        fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(...SUFFIXES),
        (t, picks, suffix) => {
          c.tick();
          const chars = alphabet(t);
          time.check(t, picks.map((p) => chars[p % chars.length]).join(''), suffix);
        },
      ),
      // No shrinking: each step would re-time a slow match, and the failure already names its case.
      { ...params('templateTiming'), endOnFailure: true },
    );
    expect(c.count).toBeGreaterThanOrEqual(params('templateTiming').numRuns!);
    expect(time.worst.ms, time.worst.name).toBeLessThan(LIMIT_MS);
  });

  it('refuses URIs past the documented bound without scanning them', () => {
    const t = new UriTemplate('file:///{+path}');
    const uri = `file:///${'a'.repeat(10_000_000)}`;
    expect(t.match(uri)).toBeUndefined();
    expect(bestOf(3, () => t.match(uri), 5)).toBeLessThan(5);
  });
});
