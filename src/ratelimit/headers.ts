import type { RateLimitInfo } from '../protocol/errors.js';

/**
 * HTTP headers describing a rate limit decision, for 429 responses (and, if wanted, successful
 * ones). Emits both generations of the IETF draft (draft-ietf-httpapi-ratelimit-headers):
 * - `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (delta seconds), which most
 *   clients and gateways read today;
 * - `RateLimit-Policy: "<scope>";q=<limit>;w=<window s>` and `RateLimit: "<scope>";r=<remaining>;t=<reset s>`
 *   from the current draft, with the scope as the policy name (`w` only when the window is known;
 *   the info attached by the rate limit middleware carries `windowMs`).
 * `Retry-After` (whole seconds, rounded up, at least 1) is present only when retryAfterMs > 0.
 */
export function rateLimitHeaders(info: RateLimitInfo & { windowMs?: number }): Record<string, string> {
  const limit = nonNegativeInt(info.limit);
  const remaining = Math.min(limit, nonNegativeInt(info.remaining));
  const reset = Math.ceil(Math.max(0, finite(info.resetMs)) / 1000);
  const headers: Record<string, string> = {};
  if (finite(info.retryAfterMs) > 0) {
    headers['Retry-After'] = String(Math.max(1, Math.ceil(info.retryAfterMs / 1000)));
  }
  headers['RateLimit-Limit'] = String(limit);
  headers['RateLimit-Remaining'] = String(remaining);
  headers['RateLimit-Reset'] = String(reset);
  const name = sfString(info.scope);
  const windowMs = finite(info.windowMs ?? 0);
  headers['RateLimit-Policy'] =
    `${name};q=${limit}${windowMs > 0 ? `;w=${Math.max(1, Math.ceil(windowMs / 1000))}` : ''}`;
  headers.RateLimit = `${name};r=${remaining};t=${reset}`;
  return headers;
}

function finite(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

function nonNegativeInt(n: unknown): number {
  return Math.max(0, Math.floor(finite(n)));
}

/**
 * A Structured Fields string: printable ASCII only, with `"` and `\` escaped. Anything else in a
 * scope (a resource URI can hold any character) is percent-encoded so the header stays valid.
 */
function sfString(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/gu, percentEncode);
  return `"${printable.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function percentEncode(c: string): string {
  try {
    return encodeURIComponent(c);
  } catch {
    return '%EF%BF%BD'; // a lone surrogate: encode U+FFFD, as TextEncoder would
  }
}
