import { createHash } from 'node:crypto';
import { InvalidOptionError } from '../protocol/errors.js';
import { AuthorizationServerUnavailableError } from './challenge.js';
import type { FetchLike } from './discovery.js';

export interface IntrospectionOptions {
  /** RFC 7662 endpoint; default: `introspection_endpoint` from the issuer's metadata. */
  endpoint?: string;
  /** This resource server's credentials at the authorization server. */
  clientId: string;
  clientSecret: string;
  /** How the credentials are sent, default `client_secret_basic`. */
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  /**
   * How long an active answer is reused, default 10 000 ms (0: never). Never past the token's
   * `exp`. A revoked token keeps working for at most this long.
   */
  cacheTtlMs?: number;
  /** How long an inactive answer is reused, default 1000 ms, at most 10 000 ms: enough to absorb a flood. */
  negativeCacheTtlMs?: number;
  /** Bound on cached answers, default 10 000. */
  maxCacheEntries?: number;
  /**
   * Require the answer's `aud` to include the audience, default true. Turn off only for an
   * authorization server that omits `aud` and issues tokens for this resource alone.
   */
  requireAudience?: boolean;
}

interface Entry {
  expires: number;
  /** Undefined for an inactive token. */
  claims: Record<string, unknown> | undefined;
}

const NEGATIVE_TTL_CAP_MS = 10_000;

/**
 * RFC 7662 client with a bounded cache keyed by the token's SHA-256 (the cache never holds a
 * token in clear) and one upstream request per token at a time.
 */
export class Introspector {
  readonly requireAudience: boolean;
  private readonly cacheTtlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Record<string, unknown> | undefined>>();
  /** Upstream requests made (observability, tests). */
  requests = 0;

  constructor(
    private readonly options: IntrospectionOptions,
    private readonly endpoint: () => Promise<string>,
    private readonly fetchImpl: FetchLike,
    private readonly timeoutMs: number,
  ) {
    const o = options;
    if (typeof o.clientId !== 'string' || o.clientId === '') {
      throw new InvalidOptionError('introspection.clientId', 'must be a non-empty string');
    }
    if (typeof o.clientSecret !== 'string' || o.clientSecret === '') {
      throw new InvalidOptionError('introspection.clientSecret', 'must be a non-empty string');
    }
    if (
      o.authMethod !== undefined &&
      o.authMethod !== 'client_secret_basic' &&
      o.authMethod !== 'client_secret_post'
    ) {
      throw new InvalidOptionError(
        'introspection.authMethod',
        'must be "client_secret_basic" or "client_secret_post"',
      );
    }
    const ms = (name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER) => {
      const v = value ?? fallback;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
        throw new InvalidOptionError(
          `introspection.${name}`,
          `must be a number of milliseconds between 0 and ${max}`,
        );
      }
      return v;
    };
    this.cacheTtlMs = ms('cacheTtlMs', o.cacheTtlMs, 10_000);
    this.negativeTtlMs = ms('negativeCacheTtlMs', o.negativeCacheTtlMs, 1000, NEGATIVE_TTL_CAP_MS);
    this.maxEntries = ms('maxCacheEntries', o.maxCacheEntries, 10_000);
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new InvalidOptionError('introspection.maxCacheEntries', 'must be a positive integer');
    }
    if (o.requireAudience !== undefined && typeof o.requireAudience !== 'boolean') {
      throw new InvalidOptionError('introspection.requireAudience', 'must be a boolean');
    }
    this.requireAudience = o.requireAudience ?? true;
  }

  /** The introspection answer of an active token, or undefined when the server says it is inactive. */
  async introspect(token: string): Promise<Record<string, unknown> | undefined> {
    const key = createHash('sha256').update(token).digest('base64url');
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.expires > now) return hit.claims;
      this.cache.delete(key);
    }
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const request = this.fetchAnswer(token)
      .then((claims) => {
        this.remember(key, claims);
        return claims;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, request);
    return request;
  }

  private remember(key: string, claims: Record<string, unknown> | undefined): void {
    const now = Date.now();
    let ttl = claims ? this.cacheTtlMs : this.negativeTtlMs;
    if (claims && typeof claims.exp === 'number') ttl = Math.min(ttl, claims.exp * 1000 - now);
    if (ttl <= 0) return;
    if (this.cache.size >= this.maxEntries) {
      // Oldest insertion first: Map iteration order.
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, { expires: now + ttl, claims });
  }

  private async fetchAnswer(token: string): Promise<Record<string, unknown> | undefined> {
    const endpoint = await this.endpoint();
    const body = new URLSearchParams({ token, token_type_hint: 'access_token' });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    const { clientId, clientSecret } = this.options;
    if (this.options.authMethod === 'client_secret_post') {
      body.set('client_id', clientId);
      body.set('client_secret', clientSecret);
    } else {
      // RFC 6749 §2.3.1: each part is form-urlencoded before base64.
      const user = encodeURIComponent(clientId).replace(/%20/g, '+');
      const pass = encodeURIComponent(clientSecret).replace(/%20/g, '+');
      headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    }
    this.requests++;
    let response: Response;
    try {
      response = await this.fetchImpl(endpoint, {
        method: 'POST',
        headers,
        body: body.toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new AuthorizationServerUnavailableError(
        `Token introspection at ${endpoint} failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new AuthorizationServerUnavailableError(
        `Token introspection at ${endpoint} answered HTTP ${response.status}`,
      );
    }
    let answer: unknown;
    try {
      answer = await response.json();
    } catch {
      throw new AuthorizationServerUnavailableError(`Token introspection at ${endpoint} did not answer JSON`);
    }
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
      throw new AuthorizationServerUnavailableError(
        `Token introspection at ${endpoint} did not answer a JSON object`,
      );
    }
    const claims = answer as Record<string, unknown>;
    return claims.active === true ? claims : undefined;
  }
}
