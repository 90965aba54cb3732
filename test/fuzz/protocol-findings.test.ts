import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/protocol/cursor.js';
import { InvalidParamsError } from '../../src/protocol/errors.js';
import { validateMessage } from '../../src/protocol/jsonrpc.js';
import { UriTemplate } from '../../src/protocol/uri-template.js';
import { bestOf } from './timing.js';

/**
 * What the fuzzers found in src/protocol, kept as regression tests now that all are fixed.
 * A new finding goes here as `it.fails` (asserting the correct behaviour) until its fix lands;
 * then it becomes `it`, and any exclusion the generators in this folder needed for it goes.
 */

describe('F1: URI template matching backtracks polynomially on adjacent expressions', () => {
  // `{a}{.ext}` compiled to ^x://([^/?#]*?)(?:\.([^/?#]*?))?$ : every split point was tried.
  it('matches a maximum-length URI against {a}{.ext} in bounded time', () => {
    const t = new UriTemplate('x://{a}{.ext}');
    expect(bestOf(2, () => t.match(`x://${'.'.repeat(8150)}/`), 20)).toBeLessThan(20);
  });

  // Three adjacent simple expressions were cubic (2,400 characters took ~3 s). Nothing marks
  // where one ends, so the template is refused; with separators it matches in linear time.
  it('refuses {a}{b}{c}x and matches {a}-{b}-{c}x against 8,000 characters in bounded time', () => {
    expect(() => new UriTemplate('{a}{b}{c}x')).toThrow(TypeError);
    const t = new UriTemplate('{a}-{b}-{c}x');
    for (const uri of [`${'a'.repeat(8000)}y`, `${'-'.repeat(8000)}y`, `${'a-'.repeat(4000)}y`]) {
      expect(t.match(uri)).toBeUndefined();
      expect(bestOf(2, () => t.match(uri), 20)).toBeLessThan(20);
    }
  });
});

describe('F2: expand throws URIError on a lone surrogate', () => {
  it('expands any string value without throwing', () => {
    expect(() => new UriTemplate('x://{a}').expand({ a: 'ok\ud800' })).not.toThrow();
    // Lone surrogates become U+FFFD, the replacement character, like any UTF-8 encoder writes them.
    expect(new UriTemplate('x://{a}{?b}').expand({ a: '\udc00x', b: ['\ud800'] })).toBe(
      'x://%EF%BF%BDx?b=%EF%BF%BD',
    );
  });
});

describe('F3: expand reads inherited properties of the variables object', () => {
  it('treats names missing from the object as undefined', () => {
    expect(new UriTemplate('x://h/{constructor}{?toString}').expand({})).toBe('x://h/');
  });
});

describe('F4: literals are percent-encoded by expand but matched raw', () => {
  it('round-trips a template whose literal has non-ASCII characters', () => {
    const t = new UriTemplate('notes://café/{id}');
    expect(t.match(t.expand({ id: '1' }))).toEqual({ id: '1' });
  });

  it('copies pct-encoded triplets in literals unchanged (RFC 6570 section 3.1)', () => {
    expect(new UriTemplate('x://a%20b/{id}').expand({ id: '1' })).toBe('x://a%20b/1');
  });
});

describe('F5: a named scalar value containing a comma comes back as an array', () => {
  it('round-trips {?q} with q = "a,b"', () => {
    const t = new UriTemplate('search://x{?q}');
    expect(t.match(t.expand({ q: 'a,b' }))).toEqual({ q: 'a,b' });
  });
});

describe('F8: {&...} continuations after {?...} are dropped by match', () => {
  it('returns page from search://{?q}{&page}', () => {
    const t = new UriTemplate('search://x{?q}{&page}');
    expect(t.match(t.expand({ q: 'x', page: '2' }))).toEqual({ q: 'x', page: '2' });
  });
});

describe('F6: a cursor for a long list key cannot be decoded', () => {
  // encodeCursor embeds the whole key; past ~190 bytes the cursor exceeds decodeCursor's 256-character limit.
  it('round-trips a cursor for a 200-character list key', () => {
    const key = `resources/templates?uri=${'x'.repeat(176)}`;
    expect(decodeCursor(encodeCursor(10, key), key)).toBe(10);
    expect(encodeCursor(Number.MAX_SAFE_INTEGER, key.repeat(100)).length).toBeLessThanOrEqual(44);
    expect(() => decodeCursor(encodeCursor(10, key), `${key}y`)).toThrow(InvalidParamsError);
  });
});

describe('F7: validateMessage accepts malformed error responses', () => {
  it('refuses an error response whose id is not a string, integer or null', () => {
    expect(validateMessage({ jsonrpc: '2.0', id: { x: 1 }, error: { code: -32600, message: 'x' } }).ok).toBe(
      false,
    );
  });

  it('refuses a response carrying both result and error', () => {
    expect(validateMessage({ jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } }).ok).toBe(
      false,
    );
  });

  it('refuses a non-integer error code', () => {
    expect(validateMessage({ jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'x' } }).ok).toBe(false);
  });
});
