/**
 * `mcpkit/ratelimit`: inbound rate limiting for MCP servers.
 *
 * - {@link RateLimitConfig}: one limit (requests per window, burst, algorithm, action), from
 *   code or from `MCP_RATE_LIMIT_*` environment variables.
 * - {@link rateLimit}: the server middleware (global, per-tool, per-resource and per-prompt
 *   limits keyed per client, with stats and a health check).
 * - {@link MemoryRateLimitStore} (bounded, per process) and {@link RedisRateLimitStore}
 *   (shared; needs the optional `ioredis` peer only when used).
 * - {@link rateLimitHeaders}: the 429 headers for HTTP transports.
 */
export {
  RateLimitConfig,
  RATE_LIMIT_ACTIONS,
  RATE_LIMIT_ALGORITHMS,
  type RateLimitAction,
  type RateLimitAlgorithm,
  type RateLimitConfigOptions,
} from './config.js';
export type { LimitRequest, RateLimitPolicy, RateLimitResult, RateLimitStore, StoreHealth } from './store.js';
export { MemoryRateLimitStore, type MemoryRateLimitStoreOptions } from './memory-store.js';
export {
  RedisRateLimitStore,
  type RedisRateLimitStoreOptions,
  type RedisStoreStats,
  type StoreFailureMode,
} from './redis-store.js';
export {
  rateLimit,
  DEFAULT_EXEMPT_METHODS,
  RATE_LIMIT_STATE_KEY,
  type RateLimitConfigInput,
  type RateLimitDecision,
  type RateLimitDetails,
  type RateLimitMiddleware,
  type RateLimitOptions,
} from './middleware.js';
export type { RateLimitCounters, RateLimitStats } from './stats.js';
export { defaultRateLimitKey } from './keys.js';
export { rateLimitHeaders } from './headers.js';
export { RateLimitedError, type RateLimitInfo } from '../protocol/errors.js';
