import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError, InvalidParamsError } from '../protocol/errors.js';

/**
 * The multi-round-trip (`input_required`) state a 2026-07-28 server hands the client and
 * gets back on retry. It holds the answers collected so far, so the server keeps nothing
 * between rounds and any replica can take the retry. It is signed (HMAC-SHA256) and bound
 * to the method, target, arguments and principal, so a client can neither forge answers
 * nor replay the state against another call; it expires.
 */
export interface RequestStatePayload {
  /** Method + target (tool/prompt name or URI) the state belongs to. */
  t: string;
  /** Digest of the original arguments. */
  a: string;
  /** Answers collected in earlier rounds, by input key. */
  r: Record<string, unknown>;
  /** Handler-defined state (ctx.state), carried opaquely. */
  s?: unknown;
  /** Expiry, ms since epoch. */
  e: number;
  /** Principal the state was issued to (auth subject), if any. */
  p?: string;
}

export interface RequestStateCodecOptions {
  /** Shared secret (>= 32 bytes) so every replica accepts every other's state. Default: random per process. */
  secret?: string | Uint8Array | undefined;
  /** How long a client may take to answer, default 10 minutes. */
  ttlMs?: number | undefined;
}

export class RequestStateCodec {
  private readonly key: Buffer;
  readonly ttlMs: number;

  constructor(options: RequestStateCodecOptions = {}) {
    if (options.secret !== undefined) {
      const key =
        typeof options.secret === 'string'
          ? Buffer.from(options.secret, 'utf8')
          : Buffer.from(options.secret);
      if (key.length < 32) throw new InvalidOptionError('requestStateSecret', 'must be at least 32 bytes');
      this.key = key;
    } else {
      this.key = randomBytes(32);
    }
    const ttl = options.ttlMs ?? 600_000;
    if (!Number.isFinite(ttl) || ttl <= 0)
      throw new InvalidOptionError('requestStateTtlMs', 'must be a positive number');
    this.ttlMs = ttl;
  }

  static digest(value: unknown): string {
    return createHash('sha256')
      .update(JSON.stringify(value ?? null))
      .digest('base64url')
      .slice(0, 22);
  }

  encode(payload: Omit<RequestStatePayload, 'e'>): string {
    const body = Buffer.from(JSON.stringify({ ...payload, e: Date.now() + this.ttlMs }), 'utf8').toString(
      'base64url',
    );
    return `${body}.${this.sign(body)}`;
  }

  /** Verifies and decodes; any problem is -32602 with a reason a client developer can act on. */
  decode(token: unknown, expect: { t: string; a: string; p?: string | undefined }): RequestStatePayload {
    if (typeof token !== 'string' || token.length > 1_000_000)
      throw new InvalidParamsError('Invalid requestState');
    const dot = token.indexOf('.');
    if (dot <= 0) throw new InvalidParamsError('Invalid requestState: malformed');
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1), 'base64url');
    const wanted = Buffer.from(this.sign(body), 'base64url');
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) {
      throw new InvalidParamsError(
        'Invalid requestState: signature mismatch (tampered or from another server)',
      );
    }
    let payload: RequestStatePayload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as RequestStatePayload;
    } catch {
      throw new InvalidParamsError('Invalid requestState: malformed');
    }
    if (typeof payload.e !== 'number' || payload.e < Date.now())
      throw new InvalidParamsError('Invalid requestState: expired');
    if (payload.t !== expect.t || payload.a !== expect.a) {
      throw new InvalidParamsError('Invalid requestState: issued for a different request');
    }
    if (payload.p !== expect.p)
      throw new InvalidParamsError('Invalid requestState: issued to a different principal');
    if (typeof payload.r !== 'object' || payload.r === null)
      throw new InvalidParamsError('Invalid requestState: malformed');
    return payload;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
