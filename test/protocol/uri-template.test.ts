import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/protocol/errors.js';
import { MAX_MATCH_LENGTH, UriTemplate } from '../../src/protocol/uri-template.js';
import { McpServer } from '../../src/server/server.js';

/** The matching rules documented at the top of src/protocol/uri-template.ts, one case each. */

const match = (template: string, uri: string) => new UriTemplate(template).match(uri);

describe('UriTemplate construction', () => {
  it.each([
    ['{a}{b}', '{b} directly follows {a}'],
    ['x://{a}{+b}', '{+b} directly follows {a}'],
    ['{?q}{b}', '{b} directly follows {?q}'],
    ['x{/a*}{/b}', "same '/' separator"],
    ['x{.a,b}{.c}', "same '.' separator"],
  ])('refuses the ambiguous %s', (template, message) => {
    expect(() => new UriTemplate(template)).toThrow(TypeError);
    expect(() => new UriTemplate(template)).toThrow(message);
  });

  it.each([
    'x://{a}{.ext}',
    'x{/a}{/b*}',
    'search://x{?q}{&page}',
    'x{;a}{;b}',
    'x://{a}{?q}{#f}',
    '{+path}{?q}',
  ])('accepts %s, whose adjacent expressions an operator separates', (template) => {
    expect(new UriTemplate(template).template).toBe(template);
  });

  it('names the option when a server registers an ambiguous template', () => {
    const server = new McpServer({ name: 's', version: '1' });
    const register = () => server.resourceTemplate('x://{a}{b}', {}, () => '');
    expect(register).toThrow(InvalidOptionError);
    expect(register).toThrow(/"resource template".*\{b\} directly follows \{a\}/);
  });
});

describe('UriTemplate expand', () => {
  it('copies pct-encoded triplets in literals and encodes what a URI cannot hold', () => {
    expect(new UriTemplate('x://a%20b/c d%zz/{id}').expand({ id: 'é' })).toBe('x://a%20b/c%20d%25zz/%C3%A9');
  });

  it('writes lone surrogates as U+FFFD, in values, keys and literals', () => {
    const t = new UriTemplate('x://\ud800/{a}{?m*}');
    expect(t.expand({ a: ['\udfff'], m: { '\ud800k': 'v\udc00' } })).toBe(
      'x://%EF%BF%BD/%EF%BF%BD?%EF%BF%BDk=v%EF%BF%BD',
    );
  });

  it('ignores inherited properties of the variables object', () => {
    const vars = Object.create({ id: 'inherited' }) as Record<string, unknown>;
    expect(new UriTemplate('x://h/{id}{?toString,hasOwnProperty}').expand(vars)).toBe('x://h/');
  });
});

describe('UriTemplate match', () => {
  it('reads the everyday templates', () => {
    expect(match('test://template/{id}/data', 'test://template/123/data')).toEqual({ id: '123' });
    expect(match('test://template/{id}/data', 'test://template/1/2/data')).toBeUndefined();
    expect(match('test://item/{id}', 'test://item/a%2Fb')).toEqual({ id: 'a/b' });
    expect(match('test://item/{id}', 'test://item/')).toBeUndefined();
    expect(match('test://item/{id}', 'test://item/%zz')).toBeUndefined();
  });

  it('stops an expression before the operator of the one after it', () => {
    expect(match('x://{a}{.ext}', 'x://report.tar.gz')).toEqual({ a: 'report', ext: 'tar.gz' });
    expect(match('x://{a}{.ext}', 'x://report')).toEqual({ a: 'report' });
    expect(match('x{/a}{/b*}', 'x/1/2/3')).toEqual({ a: '1', b: ['2', '3'] });
    expect(match('{+path}{?q}', 'a/b?q=1')).toEqual({ path: 'a/b', q: '1' });
  });

  it('ends an expression at the first occurrence of the next literal, and a tail literal at the end', () => {
    expect(match('pkg://{name}-{version}.tgz', 'pkg://foo-bar-1.0.tgz')).toEqual({
      name: 'foo',
      version: 'bar-1.0',
    });
    expect(match('x://{+dir}/raw', 'x://a/raw/b/raw')).toEqual({ dir: 'a/raw/b' });
    // The '/data' that a query or the end follows.
    expect(match('{+path}/data{?q}', 'a/data/b/data?q=1')).toEqual({ path: 'a/data/b', q: '1' });
    expect(match('{+path}/data{?q}', 'a/data/b/data')).toEqual({ path: 'a/data/b' });
    // No re-split: `a` took the first '/x/', and 'q/x/r' is not a {b}.
    expect(match('{+a}/x/{b}', 'p/x/q/x/r')).toBeUndefined();
  });

  it('treats an operator-led expression that cannot end where it must as absent', () => {
    expect(match('x{.a}.json', 'x.json')).toEqual({});
    expect(match('x{.a}.json', 'x.v1.json')).toEqual({ a: 'v1' });
  });

  it('finds query variables by name across adjacent query expressions, in any order', () => {
    const t = 'search://x{?q}{&page,size}';
    expect(match(t, 'search://x?q=a&page=2&size=9')).toEqual({ q: 'a', page: '2', size: '9' });
    expect(match(t, 'search://x?size=9&q=a')).toEqual({ q: 'a', size: '9' });
    expect(match(t, 'search://x&page=2')).toEqual({ page: '2' });
    expect(match(t, 'search://x?other=1')).toEqual({});
    expect(match('x{;a}{;b}', 'x;b=2;a')).toEqual({ a: '', b: '2' });
  });

  it('gives arrays for exploded variables and raw commas only', () => {
    expect(match('s://x{?q}', 's://x?q=a%2Cb')).toEqual({ q: 'a,b' });
    expect(match('s://x{?q}', 's://x?q=a,b')).toEqual({ q: ['a', 'b'] });
    expect(match('s://x{?q*}', 's://x?q=a')).toEqual({ q: ['a'] });
    expect(match('s://x{?q*}', 's://x?q=a&q=b%2Cc')).toEqual({ q: ['a', 'b,c'] });
    expect(match('s://{id}', 's://1,2')).toEqual({ id: ['1', '2'] });
    expect(match('s://h{/p*}', 's://h/a/b')).toEqual({ p: ['a', 'b'] });
    expect(match('s://{+path}', 's://a,b')).toEqual({ path: 'a,b' });
    expect(match('s://{a,b}', 's://1,2')).toEqual({ a: '1', b: '2' });
  });

  it('matches literals as expand writes them and as written in the template', () => {
    const t = new UriTemplate('notes://café/{id}');
    expect(t.expand({ id: '1' })).toBe('notes://caf%C3%A9/1');
    expect(t.match('notes://caf%C3%A9/1')).toEqual({ id: '1' });
    expect(t.match('notes://café/1')).toEqual({ id: '1' });
    expect(match('x://a%20b/{id}', 'x://a%20b/1')).toEqual({ id: '1' });
    expect(match('x://a%20b/{id}', 'x://a b/1')).toBeUndefined();
  });

  it('keeps __proto__ an own property of the result', () => {
    const r = match('x://{__proto__}', 'x://1,2');
    expect(Object.getPrototypeOf(r)).toBe(Object.prototype);
    expect(Object.hasOwn(r!, '__proto__')).toBe(true);
    expect(r!.__proto__).toEqual(['1', '2']);
  });

  it('refuses URIs over the bound and non-strings', () => {
    const t = new UriTemplate('x://{+rest}');
    expect(t.match(`x://${'a'.repeat(MAX_MATCH_LENGTH - 4)}`)).toEqual({
      rest: 'a'.repeat(MAX_MATCH_LENGTH - 4),
    });
    expect(t.match(`x://${'a'.repeat(MAX_MATCH_LENGTH - 3)}`)).toBeUndefined();
    expect(t.match(42 as unknown as string)).toBeUndefined();
  });

  it('keeps group numbers apart from literal digits after them', () => {
    const t = '{a}0{b}1{c}2{d}3{e}4{f}5{g}6{h}7{i}8{j}9{k}0';
    const uri = 'a0b1c2d3e4f5g6h7i8j9k0';
    expect(match(t, uri)).toEqual(Object.fromEntries([...'abcdefghijk'].map((c) => [c, c])));
  });
});
