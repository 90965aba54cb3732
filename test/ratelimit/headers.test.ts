import { describe, expect, it } from 'vitest';
import { RateLimitConfig, RateLimitedError, rateLimit, rateLimitHeaders } from '../../src/ratelimit/index.js';
import { callContext, okNext } from './fixtures.js';

describe('rateLimitHeaders', () => {
  it('produces Retry-After and both draft generations of RateLimit fields', () => {
    expect(
      rateLimitHeaders({
        scope: 'tool:query_database',
        limit: 10,
        remaining: 0,
        resetMs: 54_001,
        retryAfterMs: 5_999,
        windowMs: 60_000,
      }),
    ).toEqual({
      'Retry-After': '6',
      'RateLimit-Limit': '10',
      'RateLimit-Remaining': '0',
      'RateLimit-Reset': '55',
      'RateLimit-Policy': '"tool:query_database";q=10;w=60',
      RateLimit: '"tool:query_database";r=0;t=55',
    });
  });

  it('rounds a sub-second retry up to 1 s and omits Retry-After when nothing is owed', () => {
    expect(
      rateLimitHeaders({ scope: 'global', limit: 5, remaining: 0, resetMs: 10, retryAfterMs: 1 })[
        'Retry-After'
      ],
    ).toBe('1');
    const ok = rateLimitHeaders({ scope: 'global', limit: 5, remaining: 4, resetMs: 0, retryAfterMs: 0 });
    expect(ok['Retry-After']).toBeUndefined();
    expect(ok['RateLimit-Policy']).toBe('"global";q=5');
    expect(ok.RateLimit).toBe('"global";r=4;t=0');
  });

  it('keeps header values valid for any scope text', () => {
    const h = rateLimitHeaders({
      scope: 'resource:file:///d\u00e9j\u00e0 "vu"\\\n',
      limit: 1,
      remaining: 0,
      resetMs: 1000,
      retryAfterMs: 1000,
    });
    expect(h.RateLimit).toBe('"resource:file:///d%C3%A9j%C3%A0 \\"vu\\"\\\\%0A";r=0;t=1');
    for (const v of Object.values(h)) expect(v).toMatch(/^[\x20-\x7e]*$/);
  });

  it('turns a middleware rejection into 429 headers', async () => {
    const mw = rateLimit({ tools: { q: new RateLimitConfig(2, 60_000) } });
    const ctx = () => callContext({ method: 'tools/call', target: 'q' });
    await mw(ctx(), okNext);
    await mw(ctx(), okNext);
    const err = await mw(ctx(), okNext).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RateLimitedError);
    const h = rateLimitHeaders((err as RateLimitedError).data);
    expect(h['Retry-After']).toBe('30');
    expect(h['RateLimit-Policy']).toBe('"tool:q";q=2;w=60');
    expect(h['RateLimit-Remaining']).toBe('0');
  });
});
