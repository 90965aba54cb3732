import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PooledConnection } from '../../src/client/pool.js';
import { ConnectionClosedError, LocalError, McpError } from '../../src/protocol/errors.js';
import { type FakeConnection, PoolHarness, flush, sleep } from './fake.js';

let h: PoolHarness;

beforeEach(() => {
  vi.useFakeTimers();
  h = new PoolHarness();
});

afterEach(async () => {
  const t = h.tracker;
  const done = Promise.all(h.pools.map((p) => p.destroy()));
  // Only the fakes' own I/O delays may still be pending; the pool must have cleared its timers.
  await vi.advanceTimersByTimeAsync(t.closeDelayMs + t.connectDelayMs + 1);
  await done;
  expect(vi.getTimerCount()).toBe(0);
  expect(t.open).toBe(0);
  vi.useRealTimers();
});

async function rejection(promise: Promise<unknown>): Promise<LocalError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(LocalError);
    return err as LocalError;
  }
  throw new Error('expected a rejection');
}

describe('capacity', () => {
  it('serves 50 concurrent callers over max 10 without an 11th connection', async () => {
    const t = h.tracker;
    t.connectDelayMs = 20;
    const pool = h.pool({ min: 2, max: 10, acquireTimeoutMs: 60_000 });
    let maxSize = 0;
    const runs = Array.from({ length: 50 }, (_, i) =>
      pool.use(async (c) => {
        c.holders++;
        expect(c.holders).toBe(1); // Never shared between two callers.
        maxSize = Math.max(maxSize, pool.stats.size);
        await sleep(10 + (i % 7) * 5);
        c.holders--;
        return i;
      }),
    );
    await vi.advanceTimersByTimeAsync(5_000);
    expect(await Promise.all(runs)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(t.highWater).toBe(10);
    expect(t.factoryCalls).toBe(10);
    expect(maxSize).toBe(10);
    expect(pool.stats).toMatchObject({ size: 10, idle: 10, busy: 0, pending: 0, acquired: 50, created: 10 });
  });

  it('keeps a closing connection in its slot until close() settles', async () => {
    const t = h.tracker;
    t.closeDelayMs = 500;
    const pool = h.pool({ min: 0, max: 2 });
    const a = await pool.acquire();
    const b = await pool.acquire();
    a.connection.kill();
    a.release();
    const next = pool.acquire();
    await vi.advanceTimersByTimeAsync(499);
    expect(pool.stats).toMatchObject({ size: 2, closing: 1, pending: 1 });
    expect(t.factoryCalls).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    const c = await next;
    expect(c.connection.id).toBe(3);
    expect(t.highWater).toBe(2);
    b.release();
    c.release();
  });

  it('serves waiters in arrival order', async () => {
    const pool = h.pool({ min: 0, max: 1 });
    const first = await pool.acquire();
    const served: number[] = [];
    const leases: Array<Promise<PooledConnection<FakeConnection>>> = [];
    for (let i = 0; i < 5; i++) {
      leases.push(
        pool.acquire().then((lease) => {
          served.push(i);
          return lease;
        }),
      );
    }
    await flush();
    expect(pool.stats.pending).toBe(5);
    first.release();
    for (let i = 0; i < 5; i++) {
      const lease = await leases[i]!;
      expect(served).toEqual(Array.from({ length: i + 1 }, (_, k) => k));
      lease.release();
    }
    expect(h.tracker.factoryCalls).toBe(1);
  });

  it('reuses the most recently returned connection first', async () => {
    const pool = h.pool({ min: 0, max: 3 });
    const leases = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    const ids = leases.map((l) => l.connection.id);
    for (const lease of leases) lease.release();
    const again = await pool.acquire();
    expect(again.connection.id).toBe(ids[2]);
    again.release();
  });
});

describe('waiting limits', () => {
  it('fails an acquire after acquireTimeoutMs with the wait and the pool state in the message', async () => {
    const pool = h.pool({ min: 0, max: 1, acquireTimeoutMs: 500, name: 'search-pool' });
    const held = await pool.acquire();
    const waiting = rejection(pool.acquire());
    await vi.advanceTimersByTimeAsync(499);
    expect(pool.stats.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const err = await waiting;
    expect(err.code).toBe('POOL_TIMEOUT');
    expect(err.message).toMatch(/^search-pool: timed out after 500 ms waiting for a connection/);
    expect(err.message).toContain('acquireTimeoutMs 500');
    expect(err.message).toContain('pool size 1/1, idle 0, busy 1, connecting 0');
    expect(pool.stats).toMatchObject({ pending: 0, timeouts: 1 });
    held.release();
  });

  it('takes a per-call timeoutMs', async () => {
    const pool = h.pool({ min: 0, max: 1 });
    const held = await pool.acquire();
    const waiting = rejection(pool.acquire({ timeoutMs: 50 }));
    await vi.advanceTimersByTimeAsync(50);
    expect((await waiting).message).toContain('timed out after 50 ms');
    held.release();
  });

  it('rejects with POOL_FULL past maxWaiting, and counts only callers no connection is coming for', async () => {
    const pool = h.pool({ min: 0, max: 2, maxWaiting: 3 });
    const held = [await pool.acquire(), await pool.acquire()];
    const waiters = [pool.acquire(), pool.acquire(), pool.acquire()];
    const full = await rejection(pool.acquire());
    expect(full.code).toBe('POOL_FULL');
    expect(full.message).toContain('3 callers are already waiting (maxWaiting 3)');
    expect(full.message).toContain('all 2 connections are taken');
    for (const lease of held) lease.release();
    for (const w of waiters) (await w).release();
  });

  it('with maxWaiting 0 fails fast only when no slot is free', async () => {
    const pool = h.pool({ min: 0, max: 1, maxWaiting: 0 });
    const lease = await pool.acquire(); // A free slot: this caller may wait for the new connection.
    expect((await rejection(pool.acquire())).code).toBe('POOL_FULL');
    lease.release();
  });

  it('gives up a wait when the signal aborts', async () => {
    const pool = h.pool({ min: 0, max: 1 });
    const held = await pool.acquire();
    const controller = new AbortController();
    const waiting = rejection(pool.acquire({ signal: controller.signal }));
    await flush();
    controller.abort('user navigated away');
    const err = await waiting;
    expect(err.code).toBe('CANCELLED');
    expect(err.message).toContain('user navigated away');
    expect(pool.stats.pending).toBe(0);
    held.release();
    expect(pool.stats.idle).toBe(1);
  });
});

describe('connecting', () => {
  it('aborts the factory after connectTimeoutMs and fails the caller it was for', async () => {
    const t = h.tracker;
    t.connectDelayMs = 60_000;
    const pool = h.pool({ min: 0, max: 2, connectTimeoutMs: 1000 });
    const waiting = rejection(pool.acquire());
    await vi.advanceTimersByTimeAsync(999);
    expect(t.signals[0]!.aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const err = await waiting;
    expect(err.code).toBe('TIMEOUT');
    expect(err.message).toContain('connectTimeoutMs (1000 ms)');
    expect(t.signals[0]!.aborted).toBe(true);
    expect(t.signals[0]!.reason).toBe(err);
    await flush();
    expect(pool.stats).toMatchObject({ size: 0, connecting: 0, connectFailures: 1 });
  });

  it('keeps the slot of a factory that ignores its signal until it settles, then uses the late connection', async () => {
    const t = h.tracker;
    t.connectDelayMs = 2000;
    t.ignoreSignal = true;
    const pool = h.pool({ min: 0, max: 1, connectTimeoutMs: 1000 });
    const first = rejection(pool.acquire());
    await vi.advanceTimersByTimeAsync(1000);
    expect((await first).code).toBe('TIMEOUT');
    const second = pool.acquire();
    await flush();
    expect(t.factoryCalls).toBe(1); // max 1 still holds: the first call has not settled.
    expect(pool.stats).toMatchObject({ size: 1, connecting: 1, pending: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    const lease = await second;
    expect(lease.connection.id).toBe(1);
    expect(t.highWater).toBe(1);
    lease.release();
  });

  it('wraps a factory failure as TRANSPORT with the cause, one attempt per caller', async () => {
    const t = h.tracker;
    t.failAlways = true;
    const pool = h.pool({ min: 0, max: 5, name: 'api' });
    const errors = await Promise.all([rejection(pool.acquire()), rejection(pool.acquire())]);
    for (const err of errors) {
      expect(err.code).toBe('TRANSPORT');
      expect(err.message).toBe('api: could not open a connection: connect ECONNREFUSED 127.0.0.1:1');
      expect((err.cause as Error).message).toContain('ECONNREFUSED');
    }
    expect(t.factoryCalls).toBe(2);
    expect(pool.stats.connectFailures).toBe(2);
  });

  it('refills min in the background with a delay that doubles per failed round, not a tight loop', async () => {
    const t = h.tracker;
    t.failAlways = true;
    const pool = h.pool({ min: 2, max: 4, retryDelayMs: 100, maxRetryDelayMs: 10_000 });
    const start = performance.now();
    await vi.advanceTimersByTimeAsync(60_000);
    const rounds = [0, 100, 300, 700, 1500, 3100, 6300, 12_700, 22_700, 32_700, 42_700, 52_700];
    // Each round tries both missing connections.
    expect(t.callTimes.map((at) => at - start)).toEqual(rounds.flatMap((at) => [at, at]));
    expect(pool.stats).toMatchObject({ size: 0, connectFailures: rounds.length * 2 });
    t.failAlways = false;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(pool.stats).toMatchObject({ idle: 2, size: 2 });
    // Success reset the backoff: after the next failure the first retry comes after 100 ms again.
    t.failNext = 1;
    const killedAt = performance.now();
    t.connections[0]!.kill();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(t.callTimes.slice(-2).map((at) => at - killedAt)).toEqual([0, 100]);
    expect(pool.stats.idle).toBe(2);
  });
});

describe('failed connections', () => {
  it('drops an idle connection whose transport dies and refills min', async () => {
    const t = h.tracker;
    const pool = h.pool({ min: 2, max: 4 });
    await flush();
    expect(pool.stats.idle).toBe(2);
    t.connections[0]!.kill();
    await flush();
    expect(t.connections[0]!.fullyClosed).toBe(true);
    expect(pool.stats).toMatchObject({ idle: 2, created: 3, destroyed: 1 });
    const lease = await pool.acquire();
    expect(lease.connection.closed).toBe(false);
    lease.release();
  });

  it("learns of a death from a 'close' event and unsubscribes when done", async () => {
    const t = h.tracker;
    t.notify = 'event';
    const pool = h.pool({ min: 1, max: 1 });
    await flush();
    const conn = t.connections[0]!;
    expect(conn.listenerCount).toBe(1);
    conn.kill();
    await flush();
    expect(conn.fullyClosed).toBe(true);
    expect(conn.listenerCount).toBe(0);
    expect(pool.stats).toMatchObject({ idle: 1, created: 2 });
  });

  it('learns of a death from an onClose(fn) callback (the McpClient shape)', async () => {
    const closers: Array<() => void> = [];
    let closedCount = 0;
    const pool = h.pool({
      min: 1,
      max: 1,
      factory: async () => {
        let closed = false;
        const conn = {
          get closed() {
            return closed;
          },
          onClose(fn: () => void) {
            closers.push(() => {
              closed = true;
              fn();
            });
          },
          async close() {
            closed = true;
            closedCount++;
          },
        };
        return conn as unknown as FakeConnection;
      },
    });
    await flush();
    expect(closers).toHaveLength(1);
    closers[0]!();
    await flush();
    expect(closedCount).toBe(1);
    expect(pool.stats).toMatchObject({ idle: 1, created: 2, destroyed: 1 });
    await pool.destroy();
    expect(closedCount).toBe(2);
  });

  it('with no close notification at all, finds the dead connection on the next acquire', async () => {
    const t = h.tracker;
    t.notify = 'none';
    const pool = h.pool({ min: 0, max: 2 });
    await pool.use(() => {});
    t.connections[0]!.kill();
    expect(pool.stats.idle).toBe(1); // Nothing told the pool yet.
    expect(await pool.use((c) => c.id)).toBe(2);
    expect(pool.stats).toMatchObject({ idle: 1, destroyed: 1 });
  });

  it('destroys a borrowed connection that died instead of returning it', async () => {
    const t = h.tracker;
    const pool = h.pool({ min: 0, max: 1 });
    const lease = await pool.acquire();
    lease.connection.kill();
    lease.release();
    const next = await pool.acquire();
    expect(next.connection.id).toBe(2);
    expect(t.connections[0]!.fullyClosed).toBe(true);
    expect(pool.stats.destroyed).toBe(1);
    next.release();
  });

  it('use() destroys on CONNECTION_CLOSED / TRANSPORT errors and returns otherwise', async () => {
    const t = h.tracker;
    const pool = h.pool({ min: 0, max: 1 });
    await expect(
      pool.use(async () => {
        throw new ConnectionClosedError();
      }),
    ).rejects.toBeInstanceOf(ConnectionClosedError);
    await flush();
    expect(t.connections[0]!.fullyClosed).toBe(true);
    await expect(
      pool.use(async () => {
        throw new LocalError('TRANSPORT', 'HTTP 502');
      }),
    ).rejects.toThrow('HTTP 502');
    await flush();
    expect(t.connections[1]!.fullyClosed).toBe(true);
    await expect(
      pool.use(async () => {
        throw new McpError(-32602, 'bad params');
      }),
    ).rejects.toThrow('bad params');
    await flush();
    expect(t.connections[2]!.fullyClosed).toBe(false);
    expect(pool.stats).toMatchObject({ idle: 1, destroyed: 2 });
    expect(await pool.use(async (c) => c.id)).toBe(3);
  });

  it('retires a connection after maxUses', async () => {
    const pool = h.pool({ min: 0, max: 1, maxUses: 3 });
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) ids.push(await pool.use((c) => c.id));
    expect(ids).toEqual([1, 1, 1, 2, 2, 2, 3]);
  });

  it('health-checks a connection idle past the interval and replaces it if the check fails', async () => {
    const checked: number[] = [];
    let healthy = true;
    const pool = h.pool({
      min: 0,
      max: 2,
      healthCheckIntervalMs: 1000,
      healthCheck: async (c) => {
        checked.push(c.id);
        return healthy;
      },
    });
    await pool.use(() => {});
    await vi.advanceTimersByTimeAsync(500);
    await pool.use(() => {});
    expect(checked).toEqual([]); // Used recently: no check.
    await vi.advanceTimersByTimeAsync(1000);
    expect(await pool.use((c) => c.id)).toBe(1);
    expect(checked).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1000);
    healthy = false;
    expect(await pool.use((c) => c.id)).toBe(2);
    expect(checked).toEqual([1, 1]);
    expect(h.tracker.connections[0]!.fullyClosed).toBe(true);
  });

  it('treats a health check that hangs past healthCheckTimeoutMs as failed', async () => {
    const pool = h.pool({
      min: 0,
      max: 1,
      healthCheckIntervalMs: 0,
      healthCheckTimeoutMs: 200,
      healthCheck: (c, signal) =>
        c.id === 1
          ? new Promise<boolean>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
          : Promise.resolve(true),
    });
    await pool.use(() => {});
    const next = pool.use((c) => c.id);
    await vi.advanceTimersByTimeAsync(200);
    expect(await next).toBe(2);
  });
});

describe('idle reaping', () => {
  it('closes idle connections above min after idleTimeoutMs, oldest first', async () => {
    const t = h.tracker;
    const pool = h.pool({ min: 2, max: 10, idleTimeoutMs: 1000 });
    const leases = await Promise.all(Array.from({ length: 6 }, () => pool.acquire()));
    const order = leases.map((l) => l.connection.id);
    for (const lease of leases) {
      lease.release();
      await vi.advanceTimersByTimeAsync(100);
    }
    // Released at t = 0, 100, ..., 500; now t = 600.
    expect(pool.stats.idle).toBe(6);
    await vi.advanceTimersByTimeAsync(399); // t = 999
    expect(pool.stats.idle).toBe(6);
    await vi.advanceTimersByTimeAsync(1); // t = 1000: the first one released expires.
    expect(pool.stats.idle).toBe(5);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(pool.stats).toMatchObject({ idle: 2, size: 2, destroyed: 4 });
    const survivors = t.connections.filter((c) => !c.fullyClosed).map((c) => c.id);
    expect(survivors).toEqual(order.slice(4)); // The two most recently used stay.
    await vi.advanceTimersByTimeAsync(600_000);
    expect(pool.stats.idle).toBe(2); // min is kept forever.
  });

  it('stops at min when many expire at once, without churning new connections', async () => {
    const pool = h.pool({ min: 2, max: 10, idleTimeoutMs: 1000 });
    const leases = await Promise.all(Array.from({ length: 5 }, () => pool.acquire()));
    for (const lease of leases) lease.release();
    await vi.advanceTimersByTimeAsync(1000);
    expect(pool.stats).toMatchObject({ idle: 2, size: 2, created: 5, destroyed: 3 });
  });

  it('never reaps with idleTimeoutMs Infinity', async () => {
    const pool = h.pool({ min: 0, max: 3, idleTimeoutMs: Number.POSITIVE_INFINITY });
    const leases = await Promise.all(Array.from({ length: 3 }, () => pool.acquire()));
    for (const lease of leases) lease.release();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(10 * 86_400_000);
    expect(pool.stats.idle).toBe(3);
  });
});
