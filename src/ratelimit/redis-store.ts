import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../protocol/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { capacityOf } from './algorithms.js';
import { RATE_LIMIT_LUA } from './redis-script.js';
import {
  ALGORITHM_CODE,
  type LimitRequest,
  type RateLimitPolicy,
  type RateLimitResult,
  type RateLimitStore,
  type StoreHealth,
} from './store.js';

export type StoreFailureMode = 'fail-open' | 'fail-closed';

export interface RedisRateLimitStoreOptions {
  /** An ioredis client (or Cluster) you own; the store never closes it. Give this or `url`. */
  client?: Redis | Cluster;
  /** A Redis URL; the store creates the client and closes it in `close()`. */
  url?: string;
  /** Extra ioredis options for the client created from `url`. */
  redisOptions?: RedisOptions;
  /** Prefix of every key the store writes (default `mcpkit:rl:`). */
  keyPrefix?: string;
  /**
   * When Redis cannot answer (down, timeout, script error): `fail-open` (default) admits the
   * request, logs and counts the failure; `fail-closed` rejects it as rate limited.
   */
  onStoreError?: StoreFailureMode;
  /** Longest a check may take before it counts as a failure (default 500 ms). */
  timeoutMs?: number;
  /** Retry-After given to requests rejected because Redis is unreachable under fail-closed (default 1000 ms). */
  failClosedRetryAfterMs?: number;
  logger?: Logger;
}

export interface RedisStoreStats {
  checks: number;
  failures: number;
  /** Message of the most recent failure, if any. */
  lastError: string | undefined;
  /** Whether the most recent check or health probe reached Redis. */
  reachable: boolean;
}

const COMMAND = 'mcpkitRateLimitV1';
/** Failures during an outage are logged at most this often, with a count of those not logged. */
const LOG_INTERVAL_MS = 10_000;

interface ScriptingClient {
  [COMMAND](numKeys: number, ...args: (string | number)[]): Promise<number[]>;
}

/**
 * Limiter state in Redis, shared by every process that points at it. Each `consume` is one
 * EVALSHA of an atomic Lua script (ioredis sends the script body once per connection and the
 * hash afterwards), with time read from Redis `TIME` and a TTL on every key.
 *
 * Keys are `<prefix>{<client key>}<alg>:<scope>`: the hash tag puts all of one client's limits in
 * one slot, so the multi-key script also works on Redis Cluster.
 *
 * For a client you pass in, prefer `enableOfflineQueue: false`: with the offline queue on,
 * checks issued during an outage are queued and replayed on reconnect, after the request they
 * belonged to has already been decided by the failure mode.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly name = 'ratelimit-redis';
  readonly client: Redis | Cluster;
  readonly failureMode: StoreFailureMode;
  private readonly ownsClient: boolean;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly failClosedRetryAfterMs: number;
  private readonly logger: Logger;
  private counters: RedisStoreStats = { checks: 0, failures: 0, lastError: undefined, reachable: true };
  private lastLogAt = Number.NEGATIVE_INFINITY;
  private unlogged = 0;
  private connectedOnce = false;
  private firstReady: Promise<void> | undefined;

  constructor(options: RedisRateLimitStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'must be an object with `client` or `url`');
    }
    const { client, url } = options;
    if ((client === undefined) === (url === undefined)) {
      throw new InvalidOptionError('client', 'give exactly one of `client` (an ioredis client) or `url`');
    }
    if (client !== undefined && typeof (client as { defineCommand?: unknown }).defineCommand !== 'function') {
      throw new InvalidOptionError('client', 'must be an ioredis Redis or Cluster instance');
    }
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url))) {
      throw new InvalidOptionError('url', `must be a redis:// or rediss:// URL, got ${String(url)}`);
    }
    const prefix = options.keyPrefix ?? 'mcpkit:rl:';
    if (typeof prefix !== 'string' || /[{}]/.test(prefix)) {
      throw new InvalidOptionError(
        'keyPrefix',
        'must be a string without { or } (they would break the hash tag)',
      );
    }
    const mode = options.onStoreError ?? 'fail-open';
    if (mode !== 'fail-open' && mode !== 'fail-closed') {
      throw new InvalidOptionError(
        'onStoreError',
        `must be 'fail-open' or 'fail-closed', got ${String(mode)}`,
      );
    }
    this.timeoutMs = positiveMs('timeoutMs', options.timeoutMs ?? 500);
    this.failClosedRetryAfterMs = positiveMs(
      'failClosedRetryAfterMs',
      options.failClosedRetryAfterMs ?? 1000,
    );
    this.prefix = prefix;
    this.failureMode = mode;
    this.logger = options.logger ?? silentLogger;
    this.ownsClient = client === undefined;
    this.client = client ?? createClient(url as string, options.redisOptions);
    if (this.ownsClient) {
      // Without a listener ioredis prints every connection error; failures are reported by consume().
      this.client.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'redis client error'));
    }
    const scripting = this.client as unknown as Partial<ScriptingClient> & Pick<Redis, 'defineCommand'>;
    if (typeof scripting[COMMAND] !== 'function') scripting.defineCommand(COMMAND, { lua: RATE_LIMIT_LUA });
  }

  async consume(key: string, limits: readonly LimitRequest[]): Promise<RateLimitResult[]> {
    this.counters.checks++;
    const keys: string[] = [];
    const args: (string | number)[] = [];
    const tag = hashTag(key);
    for (const { scope, policy, blocking } of limits) {
      const code = ALGORITHM_CODE[policy.algorithm];
      keys.push(`${this.prefix}{${tag}}${code}:${scope}`);
      args.push(code, policy.requests, policy.windowMs, capacityOf(policy), blocking === false ? 0 : 1);
    }
    let reply: number[];
    try {
      await this.awaitFirstConnect();
      const call = (this.client as unknown as ScriptingClient)[COMMAND](keys.length, ...keys, ...args);
      reply = await withTimeout(call, this.timeoutMs, 'rate limit check');
      if (!Array.isArray(reply) || reply.length !== limits.length * 5) {
        throw new Error(`unexpected script reply: ${JSON.stringify(reply)}`);
      }
    } catch (err) {
      this.recordFailure(err);
      return limits.map((l) => this.failureResult(l.policy));
    }
    this.recordSuccess();
    const out: RateLimitResult[] = new Array(limits.length);
    for (let i = 0; i < limits.length; i++) {
      const o = i * 5;
      out[i] = {
        allowed: reply[o] === 1,
        limit: Number(reply[o + 1]),
        remaining: Number(reply[o + 2]),
        resetMs: Number(reply[o + 3]),
        retryAfterMs: Number(reply[o + 4]),
      };
    }
    return out;
  }

  /** Checks and consumes a single limit. */
  async check(key: string, policy: RateLimitPolicy, scope = 'default'): Promise<RateLimitResult> {
    return (await this.consume(key, [{ scope, policy }]))[0] as RateLimitResult;
  }

  /**
   * For `/ready`. Under fail-closed an unreachable Redis makes the instance unhealthy (it would
   * reject limited traffic). Under fail-open it stays healthy with a degraded message: marking
   * every instance unready when Redis dies would take the service down, the very outcome
   * fail-open was chosen to avoid.
   */
  async health(): Promise<StoreHealth> {
    try {
      const pong = await withTimeout(this.client.ping(), this.timeoutMs, 'ping');
      if (pong !== 'PONG') throw new Error(`unexpected PING reply ${String(pong)}`);
      this.recordSuccess();
      return { name: this.name, healthy: true, message: 'redis reachable' };
    } catch (err) {
      this.counters.reachable = false;
      const why = `redis unreachable: ${errorMessage(err)}`;
      return this.failureMode === 'fail-closed'
        ? { name: this.name, healthy: false, message: `${why}; limited requests are rejected (fail-closed)` }
        : { name: this.name, healthy: true, message: `degraded, ${why}; limits not enforced (fail-open)` };
    }
  }

  stats(): RedisStoreStats {
    return { ...this.counters };
  }

  /** Closes the client (waiting until it has ended) only if this store created it from a URL. */
  async close(): Promise<void> {
    if (!this.ownsClient || this.client.status === 'end') return;
    const ended = new Promise<void>((resolve) => this.client.once('end', () => resolve()));
    try {
      await withTimeout(this.client.quit(), this.timeoutMs, 'quit');
    } catch {
      this.client.disconnect();
    }
    await withTimeout(ended, this.timeoutMs, 'close').catch(() => this.client.disconnect());
  }

  /**
   * Right after start-up the connection is still being made, and with the offline queue off a
   * command would fail at once; wait for it (within the timeout) the first time only, so an
   * outage later fails fast instead of adding the timeout to every request.
   */
  private async awaitFirstConnect(): Promise<void> {
    if (this.connectedOnce) return;
    const c = this.client;
    if (c.status === 'ready') {
      this.connectedOnce = true;
      return;
    }
    if (c.status !== 'connecting' && c.status !== 'connect') return;
    this.firstReady ??= new Promise<void>((resolve) => c.once('ready', () => resolve()));
    await withTimeout(this.firstReady, this.timeoutMs, 'redis connect');
    this.connectedOnce = true;
  }

  private failureResult(policy: RateLimitPolicy): RateLimitResult {
    const limit = capacityOf(policy);
    return this.failureMode === 'fail-open'
      ? { allowed: true, limit, remaining: limit, resetMs: 0, retryAfterMs: 0, storeError: true }
      : {
          allowed: false,
          limit,
          remaining: 0,
          resetMs: this.failClosedRetryAfterMs,
          retryAfterMs: this.failClosedRetryAfterMs,
          storeError: true,
        };
  }

  private recordFailure(err: unknown): void {
    this.counters.failures++;
    this.counters.lastError = errorMessage(err);
    this.counters.reachable = false;
    const now = Date.now();
    if (now - this.lastLogAt < LOG_INTERVAL_MS) {
      this.unlogged++;
      return;
    }
    this.logger.error(
      {
        err: this.counters.lastError,
        failureMode: this.failureMode,
        failures: this.counters.failures,
        suppressed: this.unlogged,
      },
      `rate limit store unavailable; requests ${this.failureMode === 'fail-open' ? 'admitted without limits' : 'rejected'}`,
    );
    this.lastLogAt = now;
    this.unlogged = 0;
  }

  private recordSuccess(): void {
    if (!this.counters.reachable) {
      this.logger.info({ failures: this.counters.failures }, 'rate limit store reachable again');
      this.lastLogAt = Number.NEGATIVE_INFINITY;
      this.unlogged = 0;
    }
    this.counters.reachable = true;
  }
}

/** ioredis is an optional peer: load it only when a URL asks this store to build its own client. */
function createClient(url: string, extra: RedisOptions | undefined): Redis {
  const mod = createRequire(import.meta.url)('ioredis') as { Redis?: typeof Redis; default?: typeof Redis };
  const RedisCtor = (mod.Redis ?? mod.default) as typeof Redis;
  // No offline queue: during an outage a check fails at once (and the failure mode answers)
  // instead of being replayed against the limit after reconnecting.
  return new RedisCtor(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(times * 100, 2000),
    ...extra,
  });
}

/** The client key must not contain braces, or it would end the Redis Cluster hash tag early. */
function hashTag(key: string): string {
  return /[{}%]/.test(key) ? key.replace(/[{}%]/g, (c) => `%${c.charCodeAt(0).toString(16)}`) : key;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  // A late answer or error after the timeout must not surface as an unhandled rejection.
  p.catch(() => {});
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function positiveMs(option: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new InvalidOptionError(option, `must be a positive number of milliseconds, got ${String(v)}`);
  }
  return v;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
