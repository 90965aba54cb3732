/**
 * The three algorithms, as pure arithmetic on a small state record. The Redis store runs the
 * same arithmetic in Lua (redis-script.ts); keep the two in step.
 *
 * Shared rules
 * - Time never runs backwards for a key: a clock reading earlier than the key's last update is
 *   treated as that last update, so a clock step back cannot refill or reopen a limit.
 * - A request is allowed when at least one whole unit is available (`remaining >= 1`).
 *   Rejected requests consume nothing, so a client hammering a closed limit does not push its
 *   own reopening further out.
 * - Fixed and sliding windows are aligned to the Unix epoch (`floor(now / windowMs)`), so every
 *   key and every process sharing a store agree on the boundaries.
 *
 * Token bucket: capacity C = burst ?? requests, refilled continuously at `requests` tokens per
 *   `windowMs` (R/W per ms), never above C. A new key starts full. A request takes one token.
 *   So a client can send C back-to-back, then one every W/R ms on average; over any interval
 *   of length T at most C + T*R/W are admitted. `limit` reports C; `resetMs` is the time until
 *   the bucket is full again.
 *
 * Fixed window: at most `requests` admitted in each aligned window [kW, (k+1)W). The count
 *   restarts at each boundary, so up to 2x requests can pass around a boundary. `resetMs` is the
 *   time to the next boundary.
 *
 * Sliding window: the weighted two-window counter (constant memory per key, unlike a log).
 *   With `prev` and `curr` the admitted counts of the previous and current aligned windows and
 *   `elapsed` the time into the current one, the estimate is
 *       est = prev * (W - elapsed) / W + curr
 *   and a request is allowed when est + 1 <= requests. This assumes the previous window's
 *   requests were spread evenly; it never admits more than `requests` in one aligned window, and
 *   it smooths the fixed window's boundary burst for ordinary traffic, but traffic bunched at the
 *   end of a window can still see up to ~2x in an arbitrary W-long span (use the token bucket for
 *   a hard burst bound). `resetMs` is when the estimate falls to 0: the end of the next window
 *   if the current one has requests, else the end of the current one.
 */
import type { RateLimitResult } from './store.js';
import type { RateLimitPolicy } from './store.js';

/**
 * Flat mutable state, the same shape for every algorithm so LRU entries stay small:
 * t = last update (ms). Token bucket: a = tokens at t. Fixed window: a = window index,
 * b = admitted in it. Sliding window: a = window index, b = admitted in window a, c = in a - 1.
 */
export interface LimitState {
  t: number;
  a: number;
  b: number;
  c: number;
}

/** Absorbs float error in products such as 6000 * 10 / 60000 so a due unit is not missed. */
const EPSILON = 1e-9;

/** Rounds a duration up to whole ms, ignoring sub-microsecond float error (0.99 ms of refill is not 2 ms away). */
function ceilMs(ms: number): number {
  return Math.ceil(ms - 1e-6);
}

export function capacityOf(policy: RateLimitPolicy): number {
  return policy.algorithm === 'token-bucket' ? (policy.burst ?? policy.requests) : policy.requests;
}

/** Puts `s` in the state of a key never seen before (in place, so LRU entries can be recycled). */
export function resetState(policy: RateLimitPolicy, s: LimitState, now: number): void {
  s.t = now;
  s.a = policy.algorithm === 'token-bucket' ? capacityOf(policy) : Math.floor(now / policy.windowMs);
  s.b = 0;
  s.c = 0;
}

/** Brings the state forward to `now` (refill, or roll windows). Semantics-preserving: safe to persist. */
export function advance(policy: RateLimitPolicy, s: LimitState, now: number): void {
  if (now <= s.t) return;
  const W = policy.windowMs;
  if (policy.algorithm === 'token-bucket') {
    s.a = Math.min(capacityOf(policy), s.a + ((now - s.t) * policy.requests) / W);
  } else {
    const w = Math.floor(now / W);
    if (w !== s.a) {
      // Only the sliding window keeps the window just before the current one.
      s.c = policy.algorithm === 'sliding-window' && w === s.a + 1 ? s.b : 0;
      s.b = 0;
      s.a = w;
    }
  }
  s.t = now;
}

/** Reports the limit as of `s.t` (call `advance` first). */
export function describe(policy: RateLimitPolicy, s: LimitState): RateLimitResult {
  const W = policy.windowMs;
  const L = policy.requests;
  switch (policy.algorithm) {
    case 'token-bucket': {
      const cap = capacityOf(policy);
      const remaining = Math.max(0, Math.floor(s.a + EPSILON));
      const allowed = remaining >= 1;
      return {
        allowed,
        limit: cap,
        remaining,
        resetMs: Math.max(0, ceilMs(((cap - s.a) * W) / L)),
        retryAfterMs: allowed ? 0 : Math.max(1, ceilMs(((1 - s.a) * W) / L)),
      };
    }
    case 'fixed-window': {
      const remaining = Math.max(0, L - s.b);
      const resetMs = Math.max(1, ceilMs((s.a + 1) * W - s.t));
      return {
        allowed: remaining >= 1,
        limit: L,
        remaining,
        resetMs,
        retryAfterMs: remaining >= 1 ? 0 : resetMs,
      };
    }
    case 'sliding-window': {
      const elapsed = s.t - s.a * W;
      const est = (s.c * (W - elapsed)) / W + s.b;
      const remaining = Math.max(0, Math.floor(L - est + EPSILON));
      const allowed = remaining >= 1;
      const resetMs = s.b > 0 ? ceilMs(2 * W - elapsed) : s.c > 0 ? ceilMs(W - elapsed) : 0;
      return {
        allowed,
        limit: L,
        remaining,
        resetMs,
        retryAfterMs: allowed ? 0 : slidingRetryAfter(L, W, s, elapsed),
      };
    }
  }
}

/**
 * Time until est + 1 <= L. Within the current window only the previous window's weight decays,
 * which suffices while curr + 1 <= L; otherwise the current count becomes the next window's
 * `prev` and we solve the same equation there.
 */
function slidingRetryAfter(L: number, W: number, s: LimitState, elapsed: number): number {
  let wait = W - elapsed;
  if (s.b + 1 <= L) {
    if (s.c > 0) wait = W - ((L - 1 - s.b) * W) / s.c - elapsed;
  } else {
    wait += Math.max(0, W - ((L - 1) * W) / s.b);
  }
  return Math.max(1, ceilMs(wait));
}

/** Consumes one unit (call only when `describe` said allowed). */
export function take(policy: RateLimitPolicy, s: LimitState): void {
  if (policy.algorithm === 'token-bucket') s.a -= 1;
  else s.b += 1;
}
