import { InvalidOptionError } from '../protocol/errors.js';

export type RateLimitAlgorithm = 'token-bucket' | 'sliding-window' | 'fixed-window';
/** What happens to a request over the limit: answer an error, delay it (bounded), or let it through and log. */
export type RateLimitAction = 'reject' | 'wait' | 'warn';

export const RATE_LIMIT_ALGORITHMS: readonly RateLimitAlgorithm[] = [
  'token-bucket',
  'sliding-window',
  'fixed-window',
];
export const RATE_LIMIT_ACTIONS: readonly RateLimitAction[] = ['reject', 'wait', 'warn'];

/** The plain-object form of a {@link RateLimitConfig}; `new RateLimitConfig(options)` accepts it. */
export interface RateLimitConfigOptions {
  /** Requests admitted per window (for the token bucket: the refill rate, `requests` tokens per window). */
  requests: number;
  /** Window length in milliseconds. */
  windowMs: number;
  /** Token bucket only: bucket capacity, i.e. the largest back-to-back burst. Defaults to `requests`. */
  burst?: number | undefined;
  /** Defaults to `'token-bucket'`. */
  algorithm?: RateLimitAlgorithm | undefined;
  /** Defaults to `'reject'`. */
  action?: RateLimitAction | undefined;
}

const OPTION_KEYS = new Set(['requests', 'windowMs', 'burst', 'algorithm', 'action']);

/**
 * One limit, immutable and validated when built:
 *
 * ```ts
 * new RateLimitConfig(100, 60_000).withBurst(10).withAlgorithm('token-bucket').withAction('wait')
 * // same thing as a plain object:
 * new RateLimitConfig({ requests: 100, windowMs: 60_000, burst: 10, algorithm: 'token-bucket', action: 'wait' })
 * ```
 *
 * Each `with*` call returns a new config. `burst` shapes only the token bucket; the window
 * algorithms count `requests` per window, so setting a burst on them is rejected rather than ignored.
 */
export class RateLimitConfig {
  readonly requests: number;
  readonly windowMs: number;
  readonly burst: number | undefined;
  readonly algorithm: RateLimitAlgorithm;
  readonly action: RateLimitAction;

  constructor(requests: number, windowMs: number);
  constructor(options: RateLimitConfigOptions);
  constructor(requestsOrOptions: number | RateLimitConfigOptions, windowMs?: number) {
    const o: RateLimitConfigOptions =
      typeof requestsOrOptions === 'object' && requestsOrOptions !== null
        ? requestsOrOptions
        : { requests: requestsOrOptions, windowMs: windowMs as number };
    if (typeof requestsOrOptions === 'object' && requestsOrOptions !== null) {
      for (const k of Object.keys(requestsOrOptions)) {
        if (!OPTION_KEYS.has(k)) {
          throw new InvalidOptionError(
            k,
            `unknown rate limit option (expected one of ${[...OPTION_KEYS].join(', ')})`,
          );
        }
      }
    }
    this.requests = positiveInteger('requests', o.requests);
    this.windowMs = positiveInteger('windowMs', o.windowMs);
    this.algorithm = oneOf('algorithm', o.algorithm ?? 'token-bucket', RATE_LIMIT_ALGORITHMS);
    this.action = oneOf('action', o.action ?? 'reject', RATE_LIMIT_ACTIONS);
    this.burst = o.burst === undefined ? undefined : positiveInteger('burst', o.burst);
    if (this.burst !== undefined && this.algorithm !== 'token-bucket') {
      throw new InvalidOptionError(
        'burst',
        `applies only to the token-bucket algorithm, not ${this.algorithm} (window algorithms admit \`requests\` per window)`,
      );
    }
    Object.freeze(this);
  }

  /** Token bucket capacity, or requests per window for the window algorithms. */
  get capacity(): number {
    return this.burst ?? this.requests;
  }

  withBurst(burst: number): RateLimitConfig {
    return new RateLimitConfig({ ...this.toJSON(), burst });
  }

  withAlgorithm(algorithm: RateLimitAlgorithm): RateLimitConfig {
    return new RateLimitConfig({ ...this.toJSON(), algorithm });
  }

  withAction(action: RateLimitAction): RateLimitConfig {
    return new RateLimitConfig({ ...this.toJSON(), action });
  }

  toJSON(): RateLimitConfigOptions {
    const o: RateLimitConfigOptions = {
      requests: this.requests,
      windowMs: this.windowMs,
      algorithm: this.algorithm,
      action: this.action,
    };
    if (this.burst !== undefined) o.burst = this.burst;
    return o;
  }

  /**
   * Accepts either form. `path` (e.g. `tools.query_database`) is prefixed to the option name in
   * errors, so a bad entry in a large middleware config is easy to find.
   */
  static from(value: RateLimitConfig | RateLimitConfigOptions, path?: string): RateLimitConfig {
    if (value instanceof RateLimitConfig) return value;
    if (typeof value !== 'object' || value === null) {
      throw new InvalidOptionError(path ?? 'config', 'must be a RateLimitConfig or an options object');
    }
    try {
      return new RateLimitConfig(value);
    } catch (err) {
      if (path !== undefined && err instanceof InvalidOptionError) {
        throw new InvalidOptionError(
          `${path}.${err.option}`,
          err.message.replace(/^Invalid option "[^"]*": /, ''),
        );
      }
      throw err;
    }
  }

  /**
   * Reads `MCP_RATE_LIMIT_REQUESTS` (required to turn limiting on), `MCP_RATE_LIMIT_WINDOW_SECS`
   * (default 60, fractions allowed) and `MCP_RATE_LIMIT_BURST` (token bucket capacity).
   * Returns undefined when `MCP_RATE_LIMIT_REQUESTS` is unset or empty, which keeps limiting
   * off by default; setting only the other two is a misconfiguration and throws.
   */
  static fromEnv(
    env: Readonly<Record<string, string | undefined>> = process.env,
  ): RateLimitConfig | undefined {
    const requestsRaw = nonEmpty(env.MCP_RATE_LIMIT_REQUESTS);
    const windowRaw = nonEmpty(env.MCP_RATE_LIMIT_WINDOW_SECS);
    const burstRaw = nonEmpty(env.MCP_RATE_LIMIT_BURST);
    if (requestsRaw === undefined) {
      const stray =
        windowRaw !== undefined
          ? 'MCP_RATE_LIMIT_WINDOW_SECS'
          : burstRaw !== undefined
            ? 'MCP_RATE_LIMIT_BURST'
            : undefined;
      if (stray !== undefined) {
        throw new InvalidOptionError('MCP_RATE_LIMIT_REQUESTS', `must be set when ${stray} is set`);
      }
      return undefined;
    }
    const requests = parseEnvInteger('MCP_RATE_LIMIT_REQUESTS', requestsRaw);
    let windowMs = 60_000;
    if (windowRaw !== undefined) {
      if (!/^\d+(\.\d+)?$/.test(windowRaw)) {
        throw new InvalidOptionError(
          'MCP_RATE_LIMIT_WINDOW_SECS',
          `must be a positive number of seconds, got "${windowRaw}"`,
        );
      }
      windowMs = Math.round(Number(windowRaw) * 1000);
      if (windowMs < 1 || !Number.isSafeInteger(windowMs)) {
        throw new InvalidOptionError(
          'MCP_RATE_LIMIT_WINDOW_SECS',
          `must be at least 0.001 s, got "${windowRaw}"`,
        );
      }
    }
    const burst = burstRaw === undefined ? undefined : parseEnvInteger('MCP_RATE_LIMIT_BURST', burstRaw);
    return new RateLimitConfig({ requests, windowMs, burst });
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t === undefined || t === '' ? undefined : t;
}

function parseEnvInteger(name: string, raw: string): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new InvalidOptionError(name, `must be a positive integer, got "${raw}"`);
  }
  return n;
}

function positiveInteger(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(option, `must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

function oneOf<T extends string>(option: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new InvalidOptionError(
      option,
      `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : String(value);
}
