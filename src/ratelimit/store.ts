import type { RateLimitAlgorithm } from './config.js';

/** The parts of a {@link RateLimitConfig} a store needs; a `RateLimitConfig` satisfies it. */
export interface RateLimitPolicy {
  readonly algorithm: RateLimitAlgorithm;
  readonly requests: number;
  readonly windowMs: number;
  readonly burst?: number | undefined;
}

/** One limit to check for a client in a {@link RateLimitStore.consume} call. */
export interface LimitRequest {
  /** Names the limit (`global`, `tool:<name>`, ...); state is kept per (key, scope, algorithm). */
  readonly scope: string;
  readonly policy: RateLimitPolicy;
  /**
   * Whether this limit can stop the request (default true). Non-blocking limits (the `warn`
   * action) are evaluated and reported but never prevent the others from being consumed.
   */
  readonly blocking?: boolean;
}

/** The answer for one limit. */
export interface RateLimitResult {
  /** This limit had room (for a consumed limit: the request took one unit). */
  allowed: boolean;
  /** Requests per window, or the token bucket capacity. */
  limit: number;
  /** Units left after this request (or, if nothing was consumed, left now). */
  remaining: number;
  /** Milliseconds until the limit is back to its full allowance. */
  resetMs: number;
  /** Milliseconds until a request would be allowed; 0 when allowed. */
  retryAfterMs: number;
  /** Set when the store could not be reached and the answer comes from its failure mode. */
  storeError?: boolean;
}

export interface StoreHealth {
  name: string;
  healthy: boolean;
  message: string;
}

/**
 * Where limiter state lives. One `consume` call checks every limit that applies to one request
 * atomically: the request is admitted when every blocking limit has room, and only then is one
 * unit taken from each limit that has room; otherwise nothing is consumed. This keeps a request
 * rejected by its tool limit from also spending the client's global allowance, and lets a
 * shared store answer in a single round trip.
 */
export interface RateLimitStore {
  readonly name: string;
  consume(key: string, limits: readonly LimitRequest[]): RateLimitResult[] | Promise<RateLimitResult[]>;
  health?(): StoreHealth | Promise<StoreHealth>;
  close?(): Promise<void>;
}

/** One-character algorithm tags, shared by both stores' state keys and the Lua script. */
export const ALGORITHM_CODE: Readonly<Record<RateLimitAlgorithm, 't' | 's' | 'f'>> = {
  'token-bucket': 't',
  'sliding-window': 's',
  'fixed-window': 'f',
};
