import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionPool, type PooledConnection } from '../../src/client/pool.js';
import { type FakeConnection, Tracker, flush } from './fake.js';

type Op =
  | { kind: 'acquire'; timeoutMs: number }
  | { kind: 'release'; pick: number }
  | { kind: 'destroyLease'; pick: number }
  | { kind: 'kill'; pick: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'failFactory'; count: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      timeoutMs: fc.integer({ min: 50, max: 3000 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('destroyLease' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const), pick: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 2500 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('failFactory' as const),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
);

afterEach(() => {
  vi.useRealTimers();
});

describe('pool model', () => {
  it('keeps its invariants under random acquire / release / kill / time sequences', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 300 }),
        fc.constantFrom('signal' as const, 'event' as const, 'none' as const),
        fc.array(op, { minLength: 1, maxLength: 60 }),
        async (minRaw, extra, connectDelayMs, closeDelayMs, notify, ops) => {
          vi.useFakeTimers();
          const t = new Tracker();
          t.notify = notify;
          t.connectDelayMs = connectDelayMs;
          t.closeDelayMs = closeDelayMs;
          const max = minRaw + extra;
          const pool = new ConnectionPool<FakeConnection>({
            factory: t.factory,
            min: minRaw,
            max,
            idleTimeoutMs: 1000,
            connectTimeoutMs: 500,
            maxWaiting: 5,
            retryDelayMs: 50,
          });
          const held: Array<PooledConnection<FakeConnection>> = [];
          const holders = new Set<FakeConnection>();
          let seq = 0;
          let settled = 0;
          let lastServed = -1;
          const check = (): void => {
            const s = pool.stats;
            expect(s.size).toBeLessThanOrEqual(max);
            expect(t.highWater).toBeLessThanOrEqual(max);
            expect(s.size).toBe(s.idle + s.busy + s.connecting + s.closing);
            expect(s.busy).toBe(held.length);
          };
          try {
            for (const o of ops) {
              if (o.kind === 'acquire') {
                const mine = seq++;
                pool.acquire({ timeoutMs: o.timeoutMs }).then(
                  (lease) => {
                    settled++;
                    expect(lease.connection.closed).toBe(false); // Never hands out a dead connection.
                    // FIFO: leases go out in request order; a connection has one holder at a time.
                    expect(mine).toBeGreaterThan(lastServed);
                    lastServed = mine;
                    expect(holders.has(lease.connection)).toBe(false);
                    holders.add(lease.connection);
                    held.push(lease);
                  },
                  () => {
                    settled++;
                  },
                );
              } else if (o.kind === 'release' || o.kind === 'destroyLease') {
                const lease = held.splice(o.pick % Math.max(1, held.length), 1)[0];
                if (lease) {
                  holders.delete(lease.connection);
                  if (o.kind === 'release') lease.release();
                  else void lease.destroy();
                }
              } else if (o.kind === 'kill') {
                const alive = t.connections.filter((c) => !c.closed);
                alive[o.pick % Math.max(1, alive.length)]?.kill();
              } else if (o.kind === 'advance') {
                await vi.advanceTimersByTimeAsync(o.ms);
              } else {
                t.failNext += o.count;
              }
              await flush();
              check();
            }
          } finally {
            const done = pool.destroy();
            await vi.advanceTimersByTimeAsync(connectDelayMs + closeDelayMs + 1);
            await done;
          }
          await flush();
          const timersLeft = vi.getTimerCount();
          expect(settled).toBe(seq); // Every acquire was answered one way or the other.
          vi.useRealTimers();
          expect(timersLeft).toBe(0);
          expect(t.open).toBe(0);
          expect(t.inFlight).toBe(0);
          expect(pool.stats.size).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
