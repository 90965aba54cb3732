import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionPool, poolChannels } from '../../src/client/pool.js';
import { LocalError } from '../../src/protocol/errors.js';
import { type FakeConnection, PoolHarness, Tracker, flush } from './fake.js';

describe('with fake timers', () => {
  let h: PoolHarness;

  beforeEach(() => {
    vi.useFakeTimers();
    h = new PoolHarness();
  });

  afterEach(async () => {
    const t = h.tracker;
    const done = Promise.all(h.pools.map((p) => p.destroy()));
    await vi.advanceTimersByTimeAsync(t.closeDelayMs + t.connectDelayMs + 1);
    await done;
    expect(vi.getTimerCount()).toBe(0);
    expect(t.open).toBe(0);
    vi.useRealTimers();
  });

  it('close() rejects waiters and new acquires, then waits for borrowed connections', async () => {
    const t = h.tracker;
    const pool = h.pool({ min: 0, max: 2 });
    const a = await pool.acquire();
    const b = await pool.acquire();
    const waiter = pool.acquire().catch((err: unknown) => err);
    let closed = false;
    const closing = pool.close().then(() => {
      closed = true;
    });
    const waiterErr = (await waiter) as LocalError;
    expect(waiterErr).toBeInstanceOf(LocalError);
    expect(waiterErr.code).toBe('POOL_CLOSED');
    await expect(pool.acquire()).rejects.toMatchObject({ code: 'POOL_CLOSED' });
    expect(pool.closed).toBe(true);
    await flush();
    expect(closed).toBe(false);
    expect(a.connection.closed).toBe(false); // Still in use: close() does not pull it away.
    a.release();
    await flush();
    expect(t.connections[0]!.fullyClosed).toBe(true);
    expect(closed).toBe(false);
    b.release();
    await closing;
    expect(closed).toBe(true);
    expect(t.connections.every((c) => c.fullyClosed)).toBe(true);
    expect(pool.stats).toMatchObject({ size: 0, idle: 0, busy: 0 });
  });

  it('close() closes idle connections at once', async () => {
    const t = h.tracker;
    const pool = h.pool({ min: 3, max: 3 });
    await flush();
    expect(pool.stats.idle).toBe(3);
    await pool.close();
    expect(t.open).toBe(0);
  });

  it('destroy() closes borrowed connections without waiting for them', async () => {
    const t = h.tracker;
    const pool = h.pool({ min: 1, max: 2 });
    const lease = await pool.acquire();
    await pool.destroy();
    expect(lease.connection.closed).toBe(true);
    expect(t.open).toBe(0);
    lease.release(); // Harmless after the pool took it.
    await lease.destroy();
    expect(pool.stats).toMatchObject({ size: 0, destroyed: t.connections.length });
  });

  it('destroy() escalates a pending close() and both settle together', async () => {
    const pool = h.pool({ min: 0, max: 1 });
    const lease = await pool.acquire();
    const closing = pool.close();
    const destroying = pool.destroy();
    expect(destroying).toBe(closing);
    await closing;
    expect(lease.connection.closed).toBe(true);
  });

  it('close() and destroy() are idempotent and return the same promise', async () => {
    const pool = h.pool({ min: 1, max: 1 });
    await flush();
    const first = pool.close();
    expect(pool.close()).toBe(first);
    expect(pool.destroy()).toBe(first);
    expect(pool.destroy()).toBe(first);
    expect(pool.close()).toBe(first);
    await first;
    const other = h.pool({ min: 0, max: 1 });
    const destroyed = other.destroy();
    expect(other.destroy()).toBe(destroyed);
    expect(other.close()).toBe(destroyed);
    await destroyed;
  });

  it('close() aborts factory calls in flight and waits for them', async () => {
    const t = h.tracker;
    t.connectDelayMs = 5_000;
    const pool = h.pool({ min: 2, max: 2 });
    await flush();
    expect(pool.stats.connecting).toBe(2);
    await pool.close();
    expect(t.signals.every((s) => s.aborted)).toBe(true);
    expect((t.signals[0]!.reason as LocalError).code).toBe('POOL_CLOSED');
    expect(pool.stats).toMatchObject({ size: 0, connectFailures: 0 });
  });

  it('closes a connection that a signal-ignoring factory delivers after close()', async () => {
    const t = h.tracker;
    t.connectDelayMs = 1_000;
    t.ignoreSignal = true;
    const pool = h.pool({ min: 1, max: 1 });
    await flush();
    let closed = false;
    void pool.close().then(() => {
      closed = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(closed).toBe(true);
    expect(t.connections[0]!.fullyClosed).toBe(true);
  });

  it('returns a lease at the end of an `await using` scope', async () => {
    const pool = h.pool({ min: 0, max: 1 });
    let id: number;
    {
      await using lease = await pool.acquire();
      id = lease.connection.id;
      expect(pool.stats.busy).toBe(1);
    }
    expect(pool.stats).toMatchObject({ busy: 0, idle: 1 });
    {
      await using lease = await pool.acquire();
      expect(lease.connection.id).toBe(id);
      lease.connection.kill();
    }
    // It reported itself closed, so the scope exit destroyed it.
    expect(pool.stats).toMatchObject({ idle: 0, destroyed: 1 });
    expect(h.tracker.connections[0]!.fullyClosed).toBe(true);
  });

  it('refuses reads of a released lease, since another caller may own the connection', async () => {
    const pool = h.pool({ min: 0, max: 1 });
    const lease = await pool.acquire();
    lease.release();
    lease.release();
    expect(lease.released).toBe(true);
    expect(() => lease.connection).toThrow(LocalError);
    expect(pool.stats.idle).toBe(1);
  });

  it('lease.destroy() closes the connection and frees the slot', async () => {
    const t = h.tracker;
    const pool = h.pool({ min: 0, max: 1 });
    const lease = await pool.acquire();
    const destroying = lease.destroy(new Error('protocol desync'));
    expect(lease.destroy()).toBe(destroying);
    await destroying;
    expect(t.connections[0]!.fullyClosed).toBe(true);
    const next = await pool.acquire();
    expect(next.connection.id).toBe(2);
    next.release();
  });

  it('publishes create, acquire, release, destroy and timeout on diagnostics channels', async () => {
    const pool = h.pool({ min: 0, max: 1, acquireTimeoutMs: 100, idleTimeoutMs: 1_000 });
    const seen: string[] = [];
    const handlers = Object.entries(poolChannels).map(([kind, name]) => {
      const fn = (message: unknown): void => {
        const m = message as { pool: unknown; reason?: string; kind?: string };
        if (m.pool !== pool) return; // Channels are process-wide.
        seen.push(m.reason ? `${kind}:${m.reason}` : m.kind ? `${kind}:${m.kind}` : kind);
      };
      subscribe(name, fn);
      return [name, fn] as const;
    });
    try {
      const lease = await pool.acquire();
      const late = pool.acquire().catch(() => {});
      await vi.advanceTimersByTimeAsync(100);
      await late;
      lease.release();
      await pool.destroy();
    } finally {
      for (const [name, fn] of handlers) unsubscribe(name, fn);
    }
    expect(seen).toEqual(['create', 'acquire', 'timeout:acquire', 'release', 'destroy:pool-destroy']);
  });

  it('the pool itself is AsyncDisposable (close on scope exit)', async () => {
    const t = new Tracker();
    {
      await using pool = new ConnectionPool<FakeConnection>({ factory: t.factory, min: 2, max: 2 });
      await flush();
      expect(pool.stats.idle).toBe(2);
    }
    expect(t.open).toBe(0);
  });
});

describe('with real timers', () => {
  const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('leaves no timers or connections behind after destroy()', async () => {
    const before = timeouts();
    const t = new Tracker();
    t.connectDelayMs = 5;
    const pool = new ConnectionPool<FakeConnection>({
      factory: t.factory,
      min: 2,
      max: 4,
      idleTimeoutMs: 60_000,
      acquireTimeoutMs: 10_000,
      healthCheck: async () => true,
      healthCheckIntervalMs: 0,
    });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => pool.use(async (c) => c.id + i * 0)),
    );
    expect(results.every((id) => id >= 1 && id <= 4)).toBe(true);
    const leases = await Promise.all(Array.from({ length: 4 }, () => pool.acquire()));
    const waiter = pool.acquire().catch((err: unknown) => err);
    expect(timeouts()).toBeGreaterThan(before); // The waiter's acquire timer is live now.
    await pool.destroy();
    for (const lease of leases) lease.release();
    expect(((await waiter) as LocalError).code).toBe('POOL_CLOSED');
    expect(timeouts()).toBe(before);
    expect(t.open).toBe(0);
  });
});
