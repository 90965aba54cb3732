import { describe, expect, it } from 'vitest';
import { MemoryRateLimitStore, RateLimitConfig, type RateLimitResult } from '../../src/ratelimit/index.js';

/** A store on a hand-driven clock; times are ms since an aligned origin so window maths is readable. */
function setup(start = 1_000_000) {
  const clock = { t: start };
  const store = new MemoryRateLimitStore({ now: () => clock.t });
  return { clock, store };
}

function burst(
  store: MemoryRateLimitStore,
  key: string,
  config: RateLimitConfig,
  n: number,
): RateLimitResult[] {
  return Array.from({ length: n }, () => store.check(key, config));
}

const allowedCount = (rs: RateLimitResult[]) => rs.filter((r) => r.allowed).length;

describe('token bucket', () => {
  const config = new RateLimitConfig(10, 1000).withBurst(5); // capacity 5, one token per 100 ms

  it('admits the burst capacity back to back, then refills at requests/window', () => {
    const { clock, store } = setup();
    const first = burst(store, 'k', config, 6);
    expect(first.map((r) => r.allowed)).toEqual([true, true, true, true, true, false]);
    expect(first[0]).toEqual({ allowed: true, limit: 5, remaining: 4, resetMs: 100, retryAfterMs: 0 });
    expect(first[4]).toMatchObject({ remaining: 0, resetMs: 500 });
    expect(first[5]).toEqual({ allowed: false, limit: 5, remaining: 0, resetMs: 500, retryAfterMs: 100 });

    clock.t += 99;
    expect(store.check('k', config)).toMatchObject({ allowed: false, retryAfterMs: 1 });
    clock.t += 1;
    expect(store.check('k', config)).toMatchObject({ allowed: true, remaining: 0 });
    expect(store.check('k', config).allowed).toBe(false);
  });

  it('never holds more than the capacity however long it idles', () => {
    const { clock, store } = setup();
    burst(store, 'k', config, 5);
    clock.t += 3_600_000;
    expect(allowedCount(burst(store, 'k', config, 20))).toBe(5);
  });

  it('admits capacity + T*R/W over an interval T under constant pressure', () => {
    const { clock, store } = setup();
    let admitted = 0;
    for (let i = 0; i <= 2000; i++) {
      if (store.check('k', config).allowed) admitted++;
      clock.t += 1;
    }
    // 5 from the full bucket + 20 refilled over 2000 ms.
    expect(admitted).toBe(25);
  });

  it('uses requests as capacity without a burst', () => {
    const { store } = setup();
    const rs = burst(store, 'k', new RateLimitConfig(3, 60_000), 4);
    expect(rs.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(rs[3]).toMatchObject({ limit: 3, retryAfterMs: 20_000, resetMs: 60_000 });
  });

  it('does not refill when the clock steps backwards', () => {
    const { clock, store } = setup();
    burst(store, 'k', config, 5);
    clock.t -= 10_000;
    expect(store.check('k', config).allowed).toBe(false);
    clock.t += 10_100; // 100 ms after the last real reading
    expect(store.check('k', config).allowed).toBe(true);
  });
});

describe('fixed window', () => {
  const config = new RateLimitConfig(3, 1000).withAlgorithm('fixed-window');

  it('admits requests per aligned window and reopens at the boundary', () => {
    const { clock, store } = setup(1_000_250); // 250 ms into a window
    const rs = burst(store, 'k', config, 4);
    expect(rs.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
    expect(rs[0]).toMatchObject({ limit: 3, resetMs: 750 });
    expect(rs[3]).toEqual({ allowed: false, limit: 3, remaining: 0, resetMs: 750, retryAfterMs: 750 });
    clock.t = 1_000_999;
    expect(store.check('k', config)).toMatchObject({ allowed: false, retryAfterMs: 1 });
    clock.t = 1_001_000;
    expect(store.check('k', config)).toMatchObject({ allowed: true, remaining: 2, resetMs: 1000 });
  });

  it('lets up to 2x through around a boundary (documented)', () => {
    const { clock, store } = setup(1_000_999);
    const before = allowedCount(burst(store, 'k', config, 5));
    clock.t += 1;
    const after = allowedCount(burst(store, 'k', config, 5));
    expect([before, after]).toEqual([3, 3]);
  });

  it('does not count rejected requests', () => {
    const { clock, store } = setup();
    burst(store, 'k', config, 50);
    clock.t += 1000;
    expect(allowedCount(burst(store, 'k', config, 5))).toBe(3);
  });
});

describe('sliding window (weighted two-window counter)', () => {
  const config = new RateLimitConfig(10, 1000).withAlgorithm('sliding-window');

  it('weights the previous window by the unexpired fraction', () => {
    const { clock, store } = setup();
    const rs = burst(store, 'k', config, 11);
    expect(allowedCount(rs)).toBe(10);
    expect(rs[9]).toMatchObject({ remaining: 0, resetMs: 2000 });
    // Next window: est = 10 * (1000 - e) / 1000, so one more fits once e >= 100 ms.
    expect(rs[10]).toEqual({ allowed: false, limit: 10, remaining: 0, resetMs: 2000, retryAfterMs: 1100 });

    clock.t += 1099;
    expect(store.check('k', config)).toMatchObject({ allowed: false, retryAfterMs: 1 });
    clock.t += 1;
    expect(store.check('k', config)).toMatchObject({ allowed: true, remaining: 0 });
    // est = 10 * 0.9 + 1 = 10: the next unit frees when the weight drops another 10%.
    expect(store.check('k', config)).toMatchObject({ allowed: false, retryAfterMs: 100 });
    clock.t += 500; // 600 ms in: est = 4 + 1 = 5, so 5 more
    expect(store.check('k', config)).toMatchObject({ allowed: true, remaining: 4 });
    expect(allowedCount(burst(store, 'k', config, 10))).toBe(4);
  });

  it('under constant pressure admits `requests` in the first window, then requests - 1 per window', () => {
    const { clock, store } = setup();
    const perWindow = new Map<number, number>();
    for (let t = 0; t < 5000; t += 5) {
      clock.t = 1_000_000 + t;
      if (store.check('k', config).allowed) {
        const w = Math.floor(clock.t / 1000);
        perWindow.set(w, (perWindow.get(w) ?? 0) + 1);
      }
    }
    // From the second window on, the k-th request fits once the previous window's weight has
    // dropped by k/requests, so the 10th would need the weight at 0: the window's end.
    expect([...perWindow.values()]).toEqual([10, 9, 9, 9, 9]);
  });

  it('forgets a window two windows later', () => {
    const { clock, store } = setup();
    burst(store, 'k', config, 10);
    clock.t += 2000;
    const r = store.check('k', config);
    expect(r).toMatchObject({ allowed: true, remaining: 9, resetMs: 2000 });
  });

  it('smooths the boundary burst that a fixed window allows', () => {
    const { clock, store } = setup(1_000_999);
    const before = allowedCount(burst(store, 'k', config, 10));
    clock.t += 1;
    expect(before).toBe(10);
    expect(allowedCount(burst(store, 'k', config, 10))).toBe(0);
  });
});

describe('keys and scopes', () => {
  it('keeps independent state per key and per scope', () => {
    const { store } = setup();
    const config = new RateLimitConfig(1, 60_000);
    expect(store.check('a', config).allowed).toBe(true);
    expect(store.check('a', config).allowed).toBe(false);
    expect(store.check('b', config).allowed).toBe(true);
    expect(store.check('a', config, 'tool:x').allowed).toBe(true);
    // Scope and key are length-delimited: ('ab', 'c') and ('a', 'bc') are different entries.
    expect(store.check('c', config, 'ab').allowed).toBe(true);
    expect(store.check('bc', config, 'a').allowed).toBe(true);
  });
});
