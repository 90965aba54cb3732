import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { decodeCursor, encodeCursor, paginate } from '../../src/protocol/cursor.js';
import { ErrorCode, InvalidParamsError } from '../../src/protocol/errors.js';
import { FUZZ_TIMEOUT_MS, counter, params } from './budget.js';

vi.setConfig({ testTimeout: FUZZ_TIMEOUT_MS });

/**
 * Cursors come straight from clients. decodeCursor must answer every input with an offset
 * that is a non-negative safe integer, or with -32602; never anything else.
 */

function fail(message: string): never {
  throw new Error(message);
}

function outcome(cursor: unknown, key: string): number | 'invalid' {
  try {
    const offset = decodeCursor(cursor, key);
    if (!Number.isSafeInteger(offset) || offset < 0) fail(`decoded to ${offset}`);
    return offset;
  } catch (err) {
    if (!(err instanceof InvalidParamsError) || err.code !== ErrorCode.InvalidParams)
      fail(`threw ${String(err)}`);
    return 'invalid';
  }
}

const utf16 = fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)), maxLength: 80 });
/** Keys as servers use them, long ones, and raw UTF-16 (lone surrogates included). */
const listKey = fc.oneof(
  fc.constantFrom('tools', 'resources', 'prompts', 'resources/templates', 'k:with:colons', ''),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'binary', minLength: 200, maxLength: 600 }),
  utf16,
);

/** The documented fingerprint: the first 16 base64url characters of SHA-256 over the key's UTF-16 code units. */
function fingerprint(key: string): string {
  return createHash('sha256').update(Buffer.from(key, 'utf16le')).digest('base64url').slice(0, 16);
}

describe('decodeCursor', () => {
  it('answers arbitrary strings with an offset or -32602', () => {
    const c = counter();
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), utf16), listKey, (cursor, key) => {
        c.tick();
        outcome(cursor, key);
      }),
      params('cursorStrings'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('cursorStrings').numRuns!);
  });

  it('answers well-formed base64url of hostile payloads the same way', () => {
    const keys = ['tools', 'resources', ''];
    const payload = fc.oneof(
      utf16,
      fc
        .tuple(
          fc.oneof(
            fc.constantFrom(...keys).map(fingerprint),
            fc.constantFrom(...keys),
            fc.string({ maxLength: 17 }),
          ),
          fc.constantFrom(':', '::', ''),
          fc.oneof(
            fc.constantFrom(
              '-1',
              '-0',
              '1e3',
              '0x10',
              ' 5',
              '5 ',
              'Infinity',
              'NaN',
              '9007199254740992',
              '1.5',
              '',
              '00',
              '007',
            ),
            fc.integer().map(String),
            fc.maxSafeNat().map(String),
          ),
        )
        .map(([k, sep, n]) => `${k}${sep}${n}`),
    );
    const c = counter();
    fc.assert(
      fc.property(payload, fc.constantFrom(...keys), (text, key) => {
        c.tick();
        const cursor = Buffer.from(text, 'utf8').toString('base64url');
        const r = outcome(cursor, key);
        // Whatever the spelling, an accepted cursor is this list's fingerprint and a canonical offset.
        if (
          r !== 'invalid' &&
          Buffer.from(cursor, 'base64url').toString('utf8') !== `${fingerprint(key)}:${r}`
        ) {
          fail(`accepted ${JSON.stringify(text)} for ${JSON.stringify(key)}`);
        }
      }),
      params('cursorEncoded'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('cursorEncoded').numRuns!);
  });

  it('round-trips its own short cursors and refuses them on any other list', () => {
    const c = counter();
    fc.assert(
      fc.property(fc.maxSafeNat(), listKey, listKey, (offset, key, other) => {
        c.tick();
        const cursor = encodeCursor(offset, key);
        if (cursor.length > 44) fail(`cursor of ${cursor.length} characters`);
        if (outcome(cursor, key) !== offset) fail('round trip');
        if (other !== key && outcome(cursor, other) !== 'invalid') fail('cursor accepted by another list');
      }),
      params('cursorRoundTrip'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('cursorRoundTrip').numRuns!);
  });

  it('treats absent cursors as the start and any other non-string as invalid', () => {
    const c = counter();
    fc.assert(
      fc.property(fc.anything(), (v) => {
        c.tick();
        const r = outcome(v, 'tools');
        const expected = v === undefined || v === null ? 0 : typeof v === 'string' ? r : 'invalid';
        if (r !== expected) fail(`got ${r}`);
      }),
      params('cursorAnything'),
    );
    expect(c.count).toBeGreaterThanOrEqual(params('cursorAnything').numRuns!);
  });

  it('pages past the end and at huge offsets without error', () => {
    const items = Array.from({ length: 5 }, (_, i) => i);
    expect(paginate(items, encodeCursor(Number.MAX_SAFE_INTEGER, 'k'), 2, 'k')).toEqual({
      page: [],
      nextCursor: undefined,
    });
    const first = paginate(items, undefined, 2, 'k');
    expect(first.page).toEqual([0, 1]);
    expect(paginate(items, first.nextCursor, 2, 'k').page).toEqual([2, 3]);
  });
});
