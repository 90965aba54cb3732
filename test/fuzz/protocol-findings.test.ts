import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from '../../src/protocol/cursor.js';
import { validateMessage } from '../../src/protocol/jsonrpc.js';
import { UriTemplate } from '../../src/protocol/uri-template.js';
import { bestOf } from './timing.js';

/**
 * What the fuzzers found in src/protocol, pinned as regression tests. Each asserts the
 * correct behaviour; `it.fails` records that today's code does not have it yet. When a fix
 * lands, its test starts failing: turn that `it.fails` into `it`, and drop the matching
 * exclusion from the generators in this folder (each exclusion names its finding).
 */

describe('F1: URI template matching backtracks polynomially on adjacent expressions', () => {
  // `{a}{.ext}` compiles to ^x://([^/?#]*?)(?:\.([^/?#]*?))?$ : every split point is tried.
  it.fails('matches a maximum-length URI against {a}{.ext} in bounded time', () => {
    const t = new UriTemplate('x://{a}{.ext}');
    expect(bestOf(2, () => t.match(`x://${'.'.repeat(8150)}/`), 50)).toBeLessThan(50);
  });

  // Three adjacent expressions: cubic (2,400 characters take ~3 s; four expressions ~n^4).
  it.fails('matches {a}{b}{c}x against 800 characters in bounded time', () => {
    const t = new UriTemplate('{a}{b}{c}x');
    expect(bestOf(2, () => t.match(`${'a'.repeat(800)}y`), 50)).toBeLessThan(50);
  });
});

describe('F2: expand throws URIError on a lone surrogate', () => {
  it.fails('expands any string value without throwing', () => {
    expect(() => new UriTemplate('x://{a}').expand({ a: 'ok\ud800' })).not.toThrow();
  });
});

describe('F3: expand reads inherited properties of the variables object', () => {
  it.fails('treats names missing from the object as undefined', () => {
    expect(new UriTemplate('x://h/{constructor}{?toString}').expand({})).toBe('x://h/');
  });
});

describe('F4: literals are percent-encoded by expand but matched raw', () => {
  it.fails('round-trips a template whose literal has non-ASCII characters', () => {
    const t = new UriTemplate('notes://café/{id}');
    expect(t.match(t.expand({ id: '1' }))).toEqual({ id: '1' });
  });

  it.fails('copies pct-encoded triplets in literals unchanged (RFC 6570 section 3.1)', () => {
    expect(new UriTemplate('x://a%20b/{id}').expand({ id: '1' })).toBe('x://a%20b/1');
  });
});

describe('F5: a named scalar value containing a comma comes back as an array', () => {
  it.fails('round-trips {?q} with q = "a,b"', () => {
    const t = new UriTemplate('search://x{?q}');
    expect(t.match(t.expand({ q: 'a,b' }))).toEqual({ q: 'a,b' });
  });
});

describe('F8: {&...} continuations after {?...} are dropped by match', () => {
  it.fails('returns page from search://{?q}{&page}', () => {
    const t = new UriTemplate('search://x{?q}{&page}');
    expect(t.match(t.expand({ q: 'x', page: '2' }))).toEqual({ q: 'x', page: '2' });
  });
});

describe('F6: a cursor for a long list key cannot be decoded', () => {
  // encodeCursor embeds the whole key; past ~190 bytes the cursor exceeds decodeCursor's 256-character limit.
  it.fails('round-trips a cursor for a 200-character list key', () => {
    const key = `resources/templates?uri=${'x'.repeat(176)}`;
    expect(decodeCursor(encodeCursor(10, key), key)).toBe(10);
  });
});

describe('F7: validateMessage accepts malformed error responses', () => {
  it.fails('refuses an error response whose id is not a string, integer or null', () => {
    expect(validateMessage({ jsonrpc: '2.0', id: { x: 1 }, error: { code: -32600, message: 'x' } }).ok).toBe(
      false,
    );
  });

  it.fails('refuses a response carrying both result and error', () => {
    expect(validateMessage({ jsonrpc: '2.0', id: 1, result: {}, error: { code: 1, message: 'x' } }).ok).toBe(
      false,
    );
  });

  it.fails('refuses a non-integer error code', () => {
    expect(validateMessage({ jsonrpc: '2.0', id: 1, error: { code: 1.5, message: 'x' } }).ok).toBe(false);
  });
});
