import { LocalError } from '../protocol/errors.js';
import { type DestroyReason, channels } from './pool/channels.js';
import { runHealthCheck } from './pool/health.js';
import { Lease, type LeaseOwner, type PooledConnection } from './pool/lease.js';
import {
  type ConnectionPoolOptions,
  type PoolConnection,
  type ResolvedPoolOptions,
  resolveAcquireTimeout,
  resolvePoolOptions,
} from './pool/options.js';
import {
  type AcquireOptions,
  type Attempt,
  type Entry,
  type PoolStats,
  cancelledError,
  connectError,
  isConnectionFailure,
  newEntry,
  reportsClosed,
  unref,
  watchClose,
} from './pool/types.js';
import { type Waiter, WaiterQueue } from './pool/waiters.js';

export { poolChannels } from './pool/channels.js';
export type {
  DestroyReason,
  PoolAcquireMessage,
  PoolCreateMessage,
  PoolDestroyMessage,
  PoolErrorMessage,
  PoolReleaseMessage,
  PoolTimeoutMessage,
} from './pool/channels.js';
export type { PooledConnection } from './pool/lease.js';
export type { ConnectionPoolOptions, PoolClock, PoolConnection, PoolFactory } from './pool/options.js';
export type { AcquireOptions, PoolStats } from './pool/types.js';

/**
 * A bounded pool of long-lived connections (MCP clients over HTTP, WebSocket or stdio),
 * shaped like undici's Pool: connections are created on demand up to `max`, callers queue
 * FIFO once all are busy, and `close()` drains before it closes.
 *
 * Invariants: `stats.size` (idle + busy + connecting + closing) never exceeds `max`; a factory
 * call keeps its slot until it settles, and a connection keeps its slot until its `close()`
 * settles, so even a slow teardown cannot let an extra connection open.
 */
export class ConnectionPool<C extends PoolConnection> implements AsyncDisposable {
  readonly name: string;
  readonly #o: ResolvedPoolOptions<C>;
  #state: 'open' | 'closing' | 'destroyed' = 'open';
  readonly #entries = new Set<Entry<C>>();
  /** A stack: the most recently returned connection is reused first, so the bottom ones idle out. */
  readonly #idle: Array<Entry<C>> = [];
  readonly #waiters = new WaiterQueue<PooledConnection<C>>();
  readonly #attempts = new Set<Attempt>();
  #connecting = 0;
  #checking = 0;
  #closing = 0;
  #created = 0;
  #destroyed = 0;
  #acquired = 0;
  #timeouts = 0;
  #connectFailures = 0;
  /** Refill rounds that failed in a row; the backoff doubles per round and resets on a success. */
  #retryRound = 0;
  #refillTimer: unknown;
  #reapTimer: unknown;
  #drained: Promise<void> | undefined;
  #resolveDrained: (() => void) | undefined;
  readonly #owner: LeaseOwner<Entry<C>> = {
    release: (entry) => this.#release(entry),
    destroy: (entry, reason) => this.#destroyLeased(entry, reason),
    isDead: (entry) => this.#isDead(entry),
  };

  constructor(options: ConnectionPoolOptions<C>) {
    this.#o = resolvePoolOptions(options);
    this.name = this.#o.name;
    // Deferred so a factory that refers to the pool variable does not hit it before assignment.
    queueMicrotask(() => this.#ensureMin());
  }

  get stats(): PoolStats {
    let busy = 0;
    for (const entry of this.#entries) if (entry.state === 'busy' || entry.state === 'checking') busy++;
    return {
      size: this.#size(),
      idle: this.#idle.length,
      busy,
      pending: this.#waiters.size,
      connecting: this.#attempts.size,
      closing: this.#closing,
      created: this.#created,
      destroyed: this.#destroyed,
      timeouts: this.#timeouts,
      acquired: this.#acquired,
      connectFailures: this.#connectFailures,
    };
  }

  /** True once `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.#state !== 'open';
  }

  /**
   * Borrows a connection: an idle one (most recent first), a new one if under `max`, or the
   * next one returned, in arrival order. Rejects with LocalError POOL_CLOSED, POOL_FULL,
   * POOL_TIMEOUT, CANCELLED, or the factory's failure (TIMEOUT / TRANSPORT) when the connection
   * opened for this caller could not be.
   */
  acquire(options: AcquireOptions = {}): Promise<PooledConnection<C>> {
    if (this.#state !== 'open') return Promise.reject(this.#closedError());
    let timeoutMs: number;
    try {
      timeoutMs = resolveAcquireTimeout(options.timeoutMs, this.#o.acquireTimeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(signal.reason));
    if (this.#idle.length === 0 && this.#size() >= this.#o.max && this.#uncovered() >= this.#o.maxWaiting) {
      return Promise.reject(
        new LocalError(
          'POOL_FULL',
          `${this.name}: ${this.#waiters.size} callers are already waiting (maxWaiting ${this.#o.maxWaiting}) ` +
            `and all ${this.#o.max} connections are taken; ${this.#describe()}`,
        ),
      );
    }
    return new Promise<PooledConnection<C>>((resolve, reject) => {
      const clock = this.#o.clock;
      let timer: unknown;
      const onAbort = (): void => {
        if (this.#waiters.remove(waiter)) reject(cancelledError(signal?.reason));
      };
      const waiter: Waiter<PooledConnection<C>> = {
        enqueuedAt: clock.now(),
        done: false,
        resolve,
        reject,
        cleanup: () => {
          if (timer !== undefined) clock.clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        },
      };
      if (timeoutMs !== Number.POSITIVE_INFINITY) {
        timer = clock.setTimeout(() => this.#onAcquireTimeout(waiter, timeoutMs), timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#dispense();
    });
  }

  /**
   * Runs `fn` with a borrowed connection and hands it back afterwards. A LocalError
   * CONNECTION_CLOSED / TRANSPORT from `fn`, or a connection that reports itself closed,
   * destroys the connection instead of returning it. `fn`'s result or error passes through.
   */
  async use<T>(
    fn: (connection: C, lease: PooledConnection<C>) => Promise<T> | T,
    options?: AcquireOptions,
  ): Promise<T> {
    const lease = await this.acquire(options);
    let result: T;
    try {
      result = await fn(lease.connection, lease);
    } catch (err) {
      if (isConnectionFailure(err)) void lease.destroy(err);
      else void lease[Symbol.asyncDispose]();
      throw err;
    }
    void lease[Symbol.asyncDispose]();
    return result;
  }

  /**
   * Graceful: new acquires fail with POOL_CLOSED, waiters are rejected, idle connections close,
   * borrowed ones close as they come back. Resolves when every connection is closed.
   * Idempotent; `close()` and `destroy()` return the same promise.
   */
  close(): Promise<void> {
    if (this.#drained) return this.#drained;
    this.#state = 'closing';
    return this.#shutdown('pool-close');
  }

  /** Like `close()` but closes borrowed connections too, now. Escalates a pending `close()`. */
  destroy(): Promise<void> {
    if (this.#state === 'destroyed' && this.#drained) return this.#drained;
    this.#state = 'destroyed';
    return this.#shutdown('pool-destroy');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---- dispatch ----

  #size(): number {
    return this.#entries.size + this.#attempts.size;
  }

  /** What is already on its way to waiters: factory calls and health checks. */
  #supply(): number {
    return this.#connecting + this.#checking;
  }

  #uncovered(): number {
    return Math.max(0, this.#waiters.size - this.#supply());
  }

  /** Matches waiters with idle connections, health checks and new connections, in that order. */
  #dispense(): void {
    while (this.#state === 'open' && this.#waiters.size > 0) {
      const entry = this.#idle.pop();
      if (entry) {
        if (this.#isDead(entry)) {
          void this.#destroyEntry(entry, 'closed');
          continue;
        }
        if (this.#needsCheck(entry)) {
          if (this.#waiters.size > this.#supply()) {
            this.#startCheck(entry);
            continue;
          }
          this.#idle.push(entry);
          break;
        }
        const waiter = this.#waiters.shift();
        if (waiter) this.#give(entry, waiter);
        else this.#idle.push(entry);
        continue;
      }
      if (this.#waiters.size > this.#supply() && this.#size() < this.#o.max) {
        this.#startAttempt();
        continue;
      }
      break;
    }
  }

  #give(entry: Entry<C>, waiter: Waiter<PooledConnection<C>>): void {
    const now = this.#o.clock.now();
    entry.state = 'busy';
    entry.uses++;
    entry.leasedAt = now;
    this.#acquired++;
    const lease = new Lease<C, Entry<C>>(entry, this.#owner);
    if (channels.acquire.hasSubscribers) {
      channels.acquire.publish({
        pool: this,
        connection: entry.connection,
        waitedMs: now - waiter.enqueuedAt,
      });
    }
    waiter.resolve(lease);
  }

  /** A healthy connection back from a lease, a health check or the factory: next waiter, else idle. */
  #checkIn(entry: Entry<C>): void {
    entry.lastActiveAt = this.#o.clock.now();
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#give(entry, waiter);
      return;
    }
    entry.state = 'idle';
    this.#idle.push(entry);
    this.#scheduleReap();
  }

  #onAcquireTimeout(waiter: Waiter<PooledConnection<C>>, timeoutMs: number): void {
    if (!this.#waiters.remove(waiter)) return;
    this.#timeouts++;
    if (channels.timeout.hasSubscribers) channels.timeout.publish({ pool: this, kind: 'acquire', timeoutMs });
    const waited = Math.round(this.#o.clock.now() - waiter.enqueuedAt);
    waiter.reject(
      new LocalError(
        'POOL_TIMEOUT',
        `${this.name}: timed out after ${waited} ms waiting for a connection (acquireTimeoutMs ${timeoutMs}); ${this.#describe()}`,
      ),
    );
  }

  #describe(): string {
    const s = this.stats;
    return (
      `pool size ${s.size}/${this.#o.max}, idle ${s.idle}, busy ${s.busy}, connecting ${s.connecting}, ` +
      `closing ${s.closing}, waiting ${s.pending}, timeouts so far ${s.timeouts}`
    );
  }

  #closedError(): LocalError {
    return new LocalError(
      'POOL_CLOSED',
      `${this.name} is ${this.#state === 'destroyed' ? 'destroyed' : 'closed'}`,
    );
  }

  // ---- creating ----

  #startAttempt(): void {
    const clock = this.#o.clock;
    const attempt: Attempt = {
      controller: new AbortController(),
      startedAt: clock.now(),
      timer: undefined,
      failed: false,
    };
    this.#attempts.add(attempt);
    this.#connecting++;
    const timeoutMs = this.#o.connectTimeoutMs;
    if (timeoutMs !== Number.POSITIVE_INFINITY) {
      attempt.timer = clock.setTimeout(() => {
        attempt.timer = undefined;
        if (attempt.failed) return;
        const err = new LocalError(
          'TIMEOUT',
          `${this.name}: opening a connection took longer than connectTimeoutMs (${timeoutMs} ms)`,
        );
        if (channels.timeout.hasSubscribers)
          channels.timeout.publish({ pool: this, kind: 'connect', timeoutMs });
        attempt.controller.abort(err);
        this.#attemptFailed(attempt, err);
      }, timeoutMs);
    }
    let pending: Promise<C>;
    try {
      pending = Promise.resolve(this.#o.factory(attempt.controller.signal));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (connection) => this.#attemptSettled(attempt, connection, undefined),
      (err: unknown) => this.#attemptSettled(attempt, undefined, err ?? new Error('factory rejected')),
    );
  }

  #attemptSettled(attempt: Attempt, connection: C | undefined, error: unknown): void {
    if (attempt.timer !== undefined) this.#o.clock.clearTimeout(attempt.timer);
    attempt.timer = undefined;
    if (
      error === undefined &&
      (typeof connection !== 'object' || connection === null || typeof connection.close !== 'function')
    ) {
      error = new TypeError('factory resolved to something without a close() method');
      // Nothing to close: a value without close() is not a connection we can manage.
      connection = undefined;
    }
    if (error !== undefined || connection === undefined) {
      this.#attempts.delete(attempt);
      if (!attempt.failed) this.#attemptFailed(attempt, error);
      this.#afterSlotFreed();
      return;
    }
    const now = this.#o.clock.now();
    const entry = newEntry(connection, now);
    // Slot moves from the attempt to the entry in one step, so size never dips or doubles.
    this.#attempts.delete(attempt);
    this.#entries.add(entry);
    this.#created++;
    if (channels.create.hasSubscribers) {
      channels.create.publish({ pool: this, connection, connectMs: now - attempt.startedAt });
    }
    this.#watch(entry);
    const late = attempt.failed;
    if (!late) {
      attempt.failed = true;
      this.#connecting--;
      this.#retryRound = 0;
    }
    if (this.#state !== 'open') {
      void this.#destroyEntry(entry, this.#shutdownReason());
    } else if (late) {
      // It timed out and whoever waited for it was already told so; keep it if it is useful now.
      if (this.#isDead(entry)) void this.#destroyEntry(entry, 'late-connect');
      else this.#checkIn(entry);
    } else if (this.#isDead(entry)) {
      void this.#destroyEntry(entry, 'closed');
    } else {
      this.#checkIn(entry);
    }
    this.#dispense();
  }

  #attemptFailed(attempt: Attempt, error: unknown): void {
    attempt.failed = true;
    this.#connecting--;
    if (this.#state !== 'open') return; // Aborted by close()/destroy(): not a failure of the target.
    this.#connectFailures++;
    if (channels.error.hasSubscribers) channels.error.publish({ pool: this, phase: 'connect', error });
    // The caller this attempt was opened for is now uncovered. Fail it with the cause instead of
    // retrying for it, so a dead server costs each caller one attempt, never a tight loop.
    if (this.#waiters.size > this.#supply()) this.#waiters.shift()?.reject(connectError(this.name, error));
    this.#scheduleRefill();
  }

  /** Keeps `min` connections open; after factory failures only the backoff timer may try again. */
  #ensureMin(): void {
    if (this.#state !== 'open' || this.#refillTimer !== undefined) return;
    let deficit = this.#o.min - (this.#entries.size - this.#closing + this.#connecting);
    while (deficit-- > 0 && this.#size() < this.#o.max) this.#startAttempt();
  }

  #scheduleRefill(): void {
    if (this.#state !== 'open' || this.#refillTimer !== undefined) return;
    if (this.#entries.size - this.#closing + this.#connecting >= this.#o.min) return;
    const delay = Math.min(
      this.#o.maxRetryDelayMs,
      this.#o.retryDelayMs * 2 ** Math.min(this.#retryRound, 30),
    );
    this.#retryRound++;
    this.#refillTimer = this.#o.clock.setTimeout(() => {
      this.#refillTimer = undefined;
      this.#ensureMin();
    }, delay);
    unref(this.#refillTimer);
  }

  #afterSlotFreed(): void {
    if (this.#state !== 'open') {
      this.#checkDrained();
      return;
    }
    this.#dispense();
    this.#ensureMin();
  }

  // ---- liveness ----

  #isDead(entry: Entry<C>): boolean {
    return entry.dead || reportsClosed(entry.connection);
  }

  #watch(entry: Entry<C>): void {
    entry.unwatch = watchClose(entry.connection, () => {
      entry.dead = true;
      // Busy ones are destroyed when handed back; idle ones now, so `min` refills promptly.
      if (entry.state === 'idle') void this.#destroyEntry(entry, 'closed');
    });
  }

  #needsCheck(entry: Entry<C>): boolean {
    return (
      this.#o.healthCheck !== undefined &&
      this.#o.clock.now() - entry.lastActiveAt >= this.#o.healthCheckIntervalMs
    );
  }

  #startCheck(entry: Entry<C>): void {
    entry.state = 'checking';
    this.#checking++;
    const o = this.#o;
    const run = runHealthCheck(o.healthCheck!, entry.connection, o.healthCheckTimeoutMs, o.clock, this);
    entry.check = run.controller;
    void run.verdict.then((ok) => {
      entry.check = undefined;
      if (entry.state !== 'checking') return; // Destroyed meanwhile (pool destroy, close event).
      this.#checking--;
      entry.state = 'busy';
      if (this.#state !== 'open') void this.#destroyEntry(entry, this.#shutdownReason());
      else if (!ok || this.#isDead(entry)) void this.#destroyEntry(entry, 'health-check');
      else this.#checkIn(entry);
      this.#dispense();
    });
  }

  #shutdownReason(): 'pool-close' | 'pool-destroy' {
    return this.#state === 'destroyed' ? 'pool-destroy' : 'pool-close';
  }

  // ---- returning and closing ----

  #release(entry: Entry<C>): void {
    if (entry.state !== 'busy') return; // The pool destroyed it under the lease (pool.destroy()).
    this.#publishRelease(entry);
    if (this.#state !== 'open') void this.#destroyEntry(entry, 'released-after-close');
    else if (this.#isDead(entry)) void this.#destroyEntry(entry, 'closed');
    else if (entry.uses >= this.#o.maxUses) void this.#destroyEntry(entry, 'max-uses');
    else this.#checkIn(entry);
  }

  #destroyLeased(entry: Entry<C>, reason: unknown): Promise<void> {
    if (entry.state !== 'busy') return entry.closed ?? Promise.resolve();
    this.#publishRelease(entry);
    return this.#destroyEntry(entry, 'failed', reason);
  }

  #publishRelease(entry: Entry<C>): void {
    if (!channels.release.hasSubscribers) return;
    const heldMs = this.#o.clock.now() - entry.leasedAt;
    channels.release.publish({ pool: this, connection: entry.connection, heldMs });
  }

  /** Closes a connection; its slot stays taken until `close()` settles. Never rejects. */
  #destroyEntry(entry: Entry<C>, reason: DestroyReason, error?: unknown): Promise<void> {
    if (entry.closed) return entry.closed;
    if (entry.state === 'idle') {
      const i = this.#idle.indexOf(entry);
      if (i !== -1) this.#idle.splice(i, 1);
    } else if (entry.state === 'checking') {
      this.#checking--;
      entry.check?.abort(
        new LocalError('CONNECTION_CLOSED', `${this.name}: connection destroyed during its health check`),
      );
    }
    entry.state = 'closing';
    entry.unwatch();
    this.#closing++;
    this.#destroyed++;
    if (channels.destroy.hasSubscribers) {
      channels.destroy.publish(
        error === undefined
          ? { pool: this, connection: entry.connection, reason }
          : { pool: this, connection: entry.connection, reason, error },
      );
    }
    const closing = (async () => {
      try {
        await entry.connection.close();
      } catch (err) {
        if (channels.error.hasSubscribers) channels.error.publish({ pool: this, phase: 'close', error: err });
      }
    })();
    entry.closed = closing.then(() => {
      this.#closing--;
      this.#entries.delete(entry);
      this.#afterSlotFreed();
    });
    return entry.closed;
  }

  #scheduleReap(): void {
    if (this.#state !== 'open' || this.#reapTimer !== undefined) return;
    if (this.#o.idleTimeoutMs === Number.POSITIVE_INFINITY) return;
    const oldest = this.#idle[0];
    if (!oldest || this.#entries.size - this.#closing <= this.#o.min) return;
    const delay = Math.max(0, Math.ceil(oldest.lastActiveAt + this.#o.idleTimeoutMs - this.#o.clock.now()));
    this.#reapTimer = this.#o.clock.setTimeout(() => {
      this.#reapTimer = undefined;
      this.#reap();
    }, delay);
    unref(this.#reapTimer);
  }

  /** The bottom of the idle stack is the longest idle (LIFO reuse keeps it that way). */
  #reap(): void {
    const now = this.#o.clock.now();
    while (this.#entries.size - this.#closing > this.#o.min) {
      const oldest = this.#idle[0];
      if (!oldest || now - oldest.lastActiveAt < this.#o.idleTimeoutMs) break;
      void this.#destroyEntry(oldest, 'idle');
    }
    this.#scheduleReap();
  }

  #shutdown(reason: 'pool-close' | 'pool-destroy'): Promise<void> {
    this.#drained ??= new Promise<void>((resolve) => {
      this.#resolveDrained = resolve;
    });
    const clock = this.#o.clock;
    if (this.#refillTimer !== undefined) clock.clearTimeout(this.#refillTimer);
    if (this.#reapTimer !== undefined) clock.clearTimeout(this.#reapTimer);
    this.#refillTimer = this.#reapTimer = undefined;
    const err = this.#closedError();
    for (const waiter of this.#waiters.drain()) waiter.reject(err);
    for (const attempt of this.#attempts) {
      if (attempt.timer !== undefined) clock.clearTimeout(attempt.timer);
      attempt.timer = undefined;
      if (!attempt.failed) this.#attemptFailed(attempt, err);
      attempt.controller.abort(err);
    }
    for (const entry of [...this.#entries]) {
      if (entry.state === 'idle' || entry.state === 'checking' || reason === 'pool-destroy') {
        void this.#destroyEntry(entry, reason);
      }
    }
    this.#checkDrained();
    return this.#drained;
  }

  #checkDrained(): void {
    if (this.#state === 'open' || this.#entries.size > 0 || this.#attempts.size > 0) return;
    const resolve = this.#resolveDrained;
    this.#resolveDrained = undefined;
    resolve?.();
  }
}
