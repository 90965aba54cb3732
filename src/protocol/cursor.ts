import { createHash } from 'node:crypto';
import { InvalidParamsError } from './errors.js';

/**
 * Opaque pagination cursors. The payload is an offset plus a short fingerprint of the
 * list it was cut from, so a cursor from another list (or a hand-made one) is refused
 * with -32602 instead of silently paging something else. The fingerprint is 96 bits of
 * SHA-256 over the key, so cursors stay short (at most 44 characters) however long the key.
 */

const FINGERPRINT_LENGTH = 16;
const OFFSET = /^(?:0|[1-9][0-9]{0,15})$/;

/** Keys are hashed as UTF-16 code units, so keys that differ only in lone surrogates stay distinct. */
function fingerprint(listKey: string): string {
  return createHash('sha256')
    .update(Buffer.from(listKey, 'utf16le'))
    .digest('base64url')
    .slice(0, FINGERPRINT_LENGTH);
}

let lastKey: string | undefined;
let lastFingerprint = '';

/** One list is paged at a time in practice: remember the last key's fingerprint. */
function fingerprintOf(listKey: string): string {
  if (listKey !== lastKey) {
    lastFingerprint = fingerprint(listKey);
    lastKey = listKey;
  }
  return lastFingerprint;
}

export function encodeCursor(offset: number, listKey: string): string {
  return Buffer.from(`${fingerprintOf(listKey)}:${offset}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: unknown, listKey: string): number {
  if (cursor === undefined || cursor === null) return 0;
  if (typeof cursor !== 'string' || cursor.length > 256) throw new InvalidParamsError('Invalid cursor');
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const digits = text.slice(FINGERPRINT_LENGTH + 1);
  const offset = Number(digits);
  if (
    text[FINGERPRINT_LENGTH] !== ':' ||
    !OFFSET.test(digits) ||
    !Number.isSafeInteger(offset) ||
    text.slice(0, FINGERPRINT_LENGTH) !== fingerprintOf(listKey)
  ) {
    throw new InvalidParamsError('Invalid cursor');
  }
  return offset;
}

export function paginate<T>(items: readonly T[], cursor: unknown, pageSize: number, listKey: string) {
  const start = decodeCursor(cursor, listKey);
  const page = items.slice(start, start + pageSize);
  const end = start + page.length;
  const nextCursor = end < items.length ? encodeCursor(end, listKey) : undefined;
  return { page, nextCursor };
}
