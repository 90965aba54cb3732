import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/protocol/errors.js';
import { MemoryRateLimitStore, RateLimitConfig } from '../../src/ratelimit/index.js';

const oneAMinute = new RateLimitConfig(1, 60_000);

describe('MemoryRateLimitStore bound', () => {
  it('keeps at most maxKeys entries (default 10,000) under 50,000 distinct keys', () => {
    const store = new MemoryRateLimitStore({ now: () => 0 });
    expect(store.maxKeys).toBe(10_000);
    for (let i = 0; i < 50_000; i++) store.check(`client-${i}`, oneAMinute);
    expect(store.size).toBe(10_000);
    // The most recent keys kept their state, the oldest were forgotten.
    expect(store.check('client-49999', oneAMinute).allowed).toBe(false);
    expect(store.check('client-0', oneAMinute).allowed).toBe(true);
  });

  it('evicts the least recently used key, not the least recently inserted', () => {
    const store = new MemoryRateLimitStore({ maxKeys: 3, now: () => 0 });
    store.check('a', oneAMinute);
    store.check('b', oneAMinute);
    store.check('c', oneAMinute);
    store.check('a', oneAMinute); // a is now the most recently used
    store.check('d', oneAMinute); // evicts b
    expect(store.size).toBe(3);
    expect(store.check('a', oneAMinute).allowed).toBe(false);
    expect(store.check('c', oneAMinute).allowed).toBe(false);
    expect(store.check('b', oneAMinute).allowed).toBe(true);
  });

  it('stays bounded under 1,000,000 distinct keys', () => {
    const store = new MemoryRateLimitStore({ maxKeys: 10_000, now: () => 0 });
    for (let i = 0; i < 1_000_000; i++) store.check(`k${i}`, oneAMinute);
    expect(store.size).toBe(10_000);
  });

  it('validates its options', () => {
    expect(() => new MemoryRateLimitStore({ maxKeys: 0 })).toThrow(InvalidOptionError);
    expect(() => new MemoryRateLimitStore({ maxKeys: 0 })).toThrow(/"maxKeys"/);
    expect(() => new MemoryRateLimitStore({ now: 5 as never })).toThrow(/"now"/);
  });
});

describe('MemoryRateLimitStore.consume (several limits at once)', () => {
  const global = new RateLimitConfig(5, 60_000);
  const tool = new RateLimitConfig(2, 60_000);

  it('consumes nothing when a blocking limit refuses', () => {
    const store = new MemoryRateLimitStore({ now: () => 0 });
    const both = [
      { scope: 'global', policy: global },
      { scope: 'tool:x', policy: tool },
    ];
    expect(store.consume('k', both).map((r) => r.allowed)).toEqual([true, true]);
    expect(store.consume('k', both).map((r) => r.remaining)).toEqual([3, 0]);
    const refused = store.consume('k', both);
    expect(refused.map((r) => r.allowed)).toEqual([true, false]);
    // The global limit had room, was reported as such, and was not charged.
    expect(refused[0]).toMatchObject({ remaining: 3, retryAfterMs: 0 });
    expect(store.consume('k', [{ scope: 'global', policy: global }])[0]).toMatchObject({
      allowed: true,
      remaining: 2,
    });
  });

  it('lets a non-blocking limit be exceeded without stopping the others', () => {
    const store = new MemoryRateLimitStore({ now: () => 0 });
    const limits = [
      { scope: 'global', policy: global },
      { scope: 'tool:x', policy: tool, blocking: false },
    ];
    for (let i = 0; i < 2; i++) store.consume('k', limits);
    const third = store.consume('k', limits);
    expect(third.map((r) => r.allowed)).toEqual([true, false]);
    expect(third[0]?.remaining).toBe(2);
  });
});
