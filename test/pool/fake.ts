import { ConnectionPool, type ConnectionPoolOptions } from '../../src/client/pool.js';

/**
 * Counts what a real target would see: connections opened and not yet closed, plus factory
 * calls in flight. `highWater` is the most of those ever at once.
 */
export class Tracker {
  open = 0;
  inFlight = 0;
  highWater = 0;
  factoryCalls = 0;
  /** Factory calls that fail before connecting (connection refused). */
  failNext = 0;
  failAlways = false;
  connectDelayMs = 0;
  closeDelayMs = 0;
  /**
   * How connections announce their death: an AbortSignal, a 'close' event, or not at all
   * (the pool only sees the `closed` flag when it next looks).
   */
  notify: 'signal' | 'event' | 'none' = 'signal';
  /** When set, the factory ignores its signal (a misbehaving factory). */
  ignoreSignal = false;
  readonly connections: FakeConnection[] = [];
  readonly signals: AbortSignal[] = [];
  /** performance.now() of every factory call (faked along with the timers). */
  readonly callTimes: number[] = [];

  readonly factory = async (signal: AbortSignal): Promise<FakeConnection> => {
    this.factoryCalls++;
    this.callTimes.push(performance.now());
    this.signals.push(signal);
    this.inFlight++;
    this.highWater = Math.max(this.highWater, this.open + this.inFlight);
    try {
      if (this.connectDelayMs > 0) await sleep(this.connectDelayMs, this.ignoreSignal ? undefined : signal);
      if (this.failAlways || this.failNext > 0) {
        if (this.failNext > 0) this.failNext--;
        throw new Error('connect ECONNREFUSED 127.0.0.1:1');
      }
    } finally {
      this.inFlight--;
    }
    const connection = new FakeConnection(this, this.connections.length + 1);
    this.connections.push(connection);
    this.open++;
    this.highWater = Math.max(this.highWater, this.open + this.inFlight);
    return connection;
  };
}

export class FakeConnection {
  readonly #dead = new AbortController();
  readonly #listeners = new Set<() => void>();
  #closeCalled = false;
  closeCalls = 0;
  /** Bumped by tests to prove two holders never share a connection. */
  holders = 0;

  constructor(
    private readonly tracker: Tracker,
    readonly id: number,
  ) {}

  get closed(): boolean {
    return this.#dead.signal.aborted;
  }

  get closedSignal(): AbortSignal | undefined {
    return this.tracker.notify === 'signal' ? this.#dead.signal : undefined;
  }

  on(event: 'close', listener: () => void): void {
    if (event === 'close' && this.tracker.notify === 'event') this.#listeners.add(listener);
  }

  off(event: 'close', listener: () => void): void {
    if (event === 'close') this.#listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** The transport died under us (server killed the session, socket reset). */
  kill(): void {
    this.#die(new Error('transport closed'));
  }

  #die(reason: Error): void {
    if (this.#dead.signal.aborted) return;
    this.#dead.abort(reason);
    for (const fn of [...this.#listeners]) fn();
  }

  async close(): Promise<void> {
    this.closeCalls++;
    if (this.#closeCalled) return;
    this.#closeCalled = true;
    this.#die(new Error('closed'));
    if (this.tracker.closeDelayMs > 0) await sleep(this.tracker.closeDelayMs);
    this.tracker.open--;
  }

  get fullyClosed(): boolean {
    return this.#closeCalled;
  }
}

/** A timer-based sleep (so fake timers drive it) that honours an AbortSignal. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Lets promise chains run to completion without moving fake time. */
export async function flush(rounds = 50): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** Pools made through this are destroyed after each test, and checked for leftover timers there. */
export class PoolHarness {
  readonly pools: Array<ConnectionPool<FakeConnection>> = [];
  readonly tracker = new Tracker();

  pool(options: Partial<ConnectionPoolOptions<FakeConnection>> = {}): ConnectionPool<FakeConnection> {
    const pool = new ConnectionPool<FakeConnection>({ factory: this.tracker.factory, ...options });
    this.pools.push(pool);
    return pool;
  }
}
