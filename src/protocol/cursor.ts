import { InvalidParamsError } from './errors.js';

/**
 * Opaque pagination cursors. The payload is an offset plus a short fingerprint of the
 * list it was cut from, so a cursor from another list (or a hand-made one) is refused
 * with -32602 instead of silently paging something else.
 */
export function encodeCursor(offset: number, listKey: string): string {
  return Buffer.from(`${listKey}:${offset}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: unknown, listKey: string): number {
  if (cursor === undefined || cursor === null) return 0;
  if (typeof cursor !== 'string' || cursor.length > 256) throw new InvalidParamsError('Invalid cursor');
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const sep = text.lastIndexOf(':');
  const offset = Number(text.slice(sep + 1));
  if (sep < 0 || text.slice(0, sep) !== listKey || !Number.isSafeInteger(offset) || offset < 0) {
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
