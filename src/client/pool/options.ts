import { InvalidOptionError } from '../../protocol/errors.js';

/**
 * What the pool needs from a connection: an async `close()`, and ideally a way to learn it
 * died. mcpkit's `McpClient` fits as is (`close()`, `closed`, `onClose()`); so does anything
 * with `close()` plus `closedSignal`, or an EventEmitter that emits `'close'`.
 */
export interface PoolConnection {
  close(): Promise<void>;
  /** True once the connection is dead (transport closed). Polled on acquire and release. */
  readonly closed?: boolean | undefined;
  /**
   * Aborted when the connection dies. Lets the pool drop a dead idle connection (and refill
   * `min`) at once instead of discovering it on the next acquire.
   */
  readonly closedSignal?: AbortSignal | undefined;
  /** EventEmitter-style alternative to `closedSignal`; the pool subscribes to `'close'`. */
  on?(event: 'close', listener: () => void): unknown;
  off?(event: 'close', listener: () => void): unknown;
  /**
   * Callback-style alternative (mcpkit's `McpClient.onClose`). If it returns a function, the
   * pool calls it to unsubscribe; otherwise the listener stays and ignores calls after removal.
   */
  onClose?(listener: () => void): unknown;
}

/** Opens one connection; must settle soon after `signal` aborts (connect timeout, pool close). */
export type PoolFactory<C> = (signal: AbortSignal) => Promise<C>;

/** Time source; defaults to `performance.now()` and the global timers, read at call time. */
export interface PoolClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ConnectionPoolOptions<C extends PoolConnection> {
  factory: PoolFactory<C>;
  /** Connections kept open even when idle (refilled in the background). Default 2. */
  min?: number;
  /** Hard ceiling on connections, counting ones being opened and ones being closed. Default 10. */
  max?: number;
  /** Idle connections above `min` are closed after this long. `Infinity` keeps them. Default 300 000. */
  idleTimeoutMs?: number;
  /** The factory's signal aborts after this long. `Infinity` disables it. Default 30 000. */
  connectTimeoutMs?: number;
  /** How long `acquire()` waits before failing with POOL_TIMEOUT. `Infinity` waits forever. Default 30 000. */
  acquireTimeoutMs?: number;
  /** Callers allowed to queue once every slot is taken; past it, POOL_FULL. Default 1000. */
  maxWaiting?: number;
  /** A connection is closed instead of returned after this many leases. Default unlimited. */
  maxUses?: number;
  /** Run on acquire of a connection idle for `healthCheckIntervalMs` or longer; false or a throw destroys it. */
  healthCheck?: (connection: C, signal: AbortSignal) => Promise<boolean>;
  /** Default 30 000; 0 checks on every acquire from idle. */
  healthCheckIntervalMs?: number;
  /** A health check that has not answered by then counts as failed. Default 5 000. */
  healthCheckTimeoutMs?: number;
  /** First delay before refilling `min` after a factory failure; doubles per consecutive failure. Default 100. */
  retryDelayMs?: number;
  /** Ceiling for that delay. Default 30 000. */
  maxRetryDelayMs?: number;
  /** Shown in diagnostics messages and errors. Default 'pool'. */
  name?: string;
  clock?: PoolClock;
}

export interface ResolvedPoolOptions<C extends PoolConnection> {
  factory: PoolFactory<C>;
  min: number;
  max: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  acquireTimeoutMs: number;
  maxWaiting: number;
  maxUses: number;
  healthCheck: ((connection: C, signal: AbortSignal) => Promise<boolean>) | undefined;
  healthCheckIntervalMs: number;
  healthCheckTimeoutMs: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  name: string;
  clock: PoolClock;
}

/** Node clamps larger delays to 1 ms, which would turn a long timeout into a busy loop. */
export const MAX_TIMER_MS = 2_147_483_647;

const KNOWN = new Set([
  'factory',
  'min',
  'max',
  'idleTimeoutMs',
  'connectTimeoutMs',
  'acquireTimeoutMs',
  'maxWaiting',
  'maxUses',
  'healthCheck',
  'healthCheckIntervalMs',
  'healthCheckTimeoutMs',
  'retryDelayMs',
  'maxRetryDelayMs',
  'name',
  'clock',
]);

export const defaultClock: PoolClock = {
  now: () => performance.now(),
  // Looked up on every call so fake timers installed after construction still apply.
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

function integer(
  option: string,
  value: unknown,
  fallback: number,
  min: number,
  allowInfinity: boolean,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new InvalidOptionError(option, `must be a number, got ${describe(value)}`);
  }
  if (value === Number.POSITIVE_INFINITY && allowInfinity) return value;
  if (!Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(
      option,
      `must be an integer >= ${min}${allowInfinity ? ' or Infinity' : ''}, got ${String(value)}`,
    );
  }
  return value;
}

function duration(option: string, value: unknown, fallback: number, min: number): number {
  const ms = integer(option, value, fallback, min, true);
  if (ms !== Number.POSITIVE_INFINITY && ms > MAX_TIMER_MS) {
    throw new InvalidOptionError(option, `must be at most ${MAX_TIMER_MS} ms (or Infinity), got ${ms}`);
  }
  return ms;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return `"${value}"`;
  return typeof value === 'object' || typeof value === 'function' ? typeof value : String(value);
}

/**
 * Validates every option up front so a typo fails at construction, not at 3 a.m.
 * This is also where a `url` convenience would turn into a `factory`.
 */
export function resolvePoolOptions<C extends PoolConnection>(
  options: ConnectionPoolOptions<C>,
): ResolvedPoolOptions<C> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', `must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new InvalidOptionError(key, 'is not a ConnectionPool option');
  }
  if (typeof options.factory !== 'function') {
    throw new InvalidOptionError(
      'factory',
      `must be a function (signal) => Promise<connection>, got ${describe(options.factory)}`,
    );
  }
  const max = integer('max', options.max, 10, 1, false);
  const min = integer('min', options.min, Math.min(2, max), 0, false);
  if (min > max) throw new InvalidOptionError('min', `must not exceed max (${max}), got ${min}`);
  const healthCheck = options.healthCheck;
  if (healthCheck !== undefined && typeof healthCheck !== 'function') {
    throw new InvalidOptionError('healthCheck', `must be a function, got ${describe(healthCheck)}`);
  }
  const retryDelayMs = duration('retryDelayMs', options.retryDelayMs, 100, 1);
  const maxRetryDelayMs = duration('maxRetryDelayMs', options.maxRetryDelayMs, 30_000, 1);
  if (retryDelayMs === Number.POSITIVE_INFINITY || maxRetryDelayMs === Number.POSITIVE_INFINITY) {
    throw new InvalidOptionError(
      retryDelayMs === Number.POSITIVE_INFINITY ? 'retryDelayMs' : 'maxRetryDelayMs',
      'must be finite',
    );
  }
  if (maxRetryDelayMs < retryDelayMs) {
    throw new InvalidOptionError(
      'maxRetryDelayMs',
      `must be >= retryDelayMs (${retryDelayMs}), got ${maxRetryDelayMs}`,
    );
  }
  const name = options.name ?? 'pool';
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidOptionError('name', `must be a non-empty string, got ${describe(name)}`);
  }
  const clock = options.clock ?? defaultClock;
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof clock.now !== 'function' ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  ) {
    throw new InvalidOptionError(
      'clock',
      'must be an object with now(), setTimeout(fn, ms) and clearTimeout(handle)',
    );
  }
  return {
    factory: options.factory,
    min,
    max,
    idleTimeoutMs: duration('idleTimeoutMs', options.idleTimeoutMs, 300_000, 1),
    connectTimeoutMs: duration('connectTimeoutMs', options.connectTimeoutMs, 30_000, 1),
    acquireTimeoutMs: duration('acquireTimeoutMs', options.acquireTimeoutMs, 30_000, 1),
    maxWaiting: integer('maxWaiting', options.maxWaiting, 1000, 0, true),
    maxUses: integer('maxUses', options.maxUses, Number.POSITIVE_INFINITY, 1, true),
    healthCheck,
    healthCheckIntervalMs: duration('healthCheckIntervalMs', options.healthCheckIntervalMs, 30_000, 0),
    healthCheckTimeoutMs: duration('healthCheckTimeoutMs', options.healthCheckTimeoutMs, 5_000, 1),
    retryDelayMs,
    maxRetryDelayMs,
    name,
    clock,
  };
}

/** Per-call acquire timeout, validated the same way as the pool option. */
export function resolveAcquireTimeout(value: unknown, fallback: number): number {
  return duration('timeoutMs', value, fallback, 1);
}
