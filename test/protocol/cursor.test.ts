import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, paginate } from '../../src/protocol/cursor.js';
import { InvalidParamsError } from '../../src/protocol/errors.js';

describe('cursors', () => {
  it('stay short and opaque however long the list key', () => {
    const key = `resources/templates?uri=${'x'.repeat(5000)}`;
    const cursor = encodeCursor(12, key);
    expect(cursor.length).toBeLessThanOrEqual(44);
    expect(Buffer.from(cursor, 'base64url').toString('utf8')).not.toContain('resources');
    expect(decodeCursor(cursor, key)).toBe(12);
  });

  it('are refused on another list, including one differing only in a lone surrogate', () => {
    expect(() => decodeCursor(encodeCursor(1, 'tools'), 'prompts')).toThrow(InvalidParamsError);
    expect(() => decodeCursor(encodeCursor(1, 'k\ud800'), 'k\ud801')).toThrow(InvalidParamsError);
  });

  it('refuse non-canonical offsets', () => {
    const [fingerprint] = Buffer.from(encodeCursor(5, 'tools'), 'base64url').toString('utf8').split(':');
    for (const offset of ['05', '+5', '5.0', '1e1', ' 5', '-0', '9007199254740992', '']) {
      const cursor = Buffer.from(`${fingerprint}:${offset}`, 'utf8').toString('base64url');
      expect(() => decodeCursor(cursor, 'tools'), offset).toThrow(InvalidParamsError);
    }
    expect(decodeCursor(Buffer.from(`${fingerprint}:0`).toString('base64url'), 'tools')).toBe(0);
  });

  it('page through a list and end', () => {
    const items = ['a', 'b', 'c'];
    const first = paginate(items, undefined, 2, 'k');
    expect(first.page).toEqual(['a', 'b']);
    expect(paginate(items, first.nextCursor, 2, 'k')).toEqual({ page: ['c'], nextCursor: undefined });
    // Alternating keys go through the one-entry fingerprint cache both ways.
    expect(() => paginate(items, first.nextCursor, 2, 'other')).toThrow(InvalidParamsError);
    expect(paginate(items, first.nextCursor, 2, 'k').page).toEqual(['c']);
  });
});
