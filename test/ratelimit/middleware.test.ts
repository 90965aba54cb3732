import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  InvalidOptionError,
  RateLimitedError,
  httpStatusForError,
  toWireError,
} from '../../src/protocol/errors.js';
import {
  DEFAULT_EXEMPT_METHODS,
  MemoryRateLimitStore,
  RATE_LIMIT_STATE_KEY,
  RateLimitConfig,
  type RateLimitDecision,
  type RateLimitDetails,
  type RateLimitMiddleware,
  defaultRateLimitKey,
  rateLimit,
} from '../../src/ratelimit/index.js';
import { compose } from '../../src/server/middleware.js';
import type { CallContext } from '../../src/server/middleware.js';
import { callContext, handlerResult, okNext, recordingLogger } from './fixtures.js';

const perMinute = (n: number) => new RateLimitConfig(n, 60_000);
const call = (tool: string, over: Partial<CallContext> = {}) =>
  callContext({ method: 'tools/call', target: tool, ...over });

/** Runs `n` requests and returns how many went through (rethrowing anything but RateLimitedError). */
async function admitted(mw: RateLimitMiddleware, make: () => CallContext, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    try {
      await mw(make(), okNext);
      ok++;
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
    }
  }
  return ok;
}

async function rejection(p: Promise<unknown>): Promise<RateLimitedError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RateLimitedError);
  return err as RateLimitedError;
}

describe('rateLimit: scopes', () => {
  it('applies a global limit and answers the JSON-RPC rate limit error', async () => {
    const mw = rateLimit({ global: perMinute(3) });
    expect(await admitted(mw, () => call('a'), 3)).toBe(3);
    const err = await rejection(mw(callContext({ method: 'resources/list' }), okNext));
    expect(err.code).toBe(ErrorCode.RateLimited);
    expect(httpStatusForError(err.code)).toBe(429);
    expect(err.data).toMatchObject({ scope: 'global', limit: 3, remaining: 0, windowMs: 60_000 });
    expect(err.data.retryAfterMs).toBeGreaterThan(19_000);
    expect(err.data.retryAfterMs).toBeLessThanOrEqual(20_000);
    expect(toWireError(err).toJSON()).toEqual({ code: -32029, message: err.message, data: err.data });
    expect(err.message).toMatch(/^Rate limit exceeded \(global\); retry after 20 s$/);
  });

  it('limits tools separately (guide example: query_database 10/min, get_status 100/min)', async () => {
    const mw = rateLimit({ tools: { query_database: perMinute(10), get_status: perMinute(100) } });
    expect(await admitted(mw, () => call('query_database'), 15)).toBe(10);
    expect(await admitted(mw, () => call('get_status'), 120)).toBe(100);
    expect(await admitted(mw, () => call('unlimited_tool'), 200)).toBe(200);
    const err = await rejection(mw(call('query_database'), okNext));
    expect(err.data.scope).toBe('tool:query_database');
    expect(err.data.limit).toBe(10);
  });

  it('requires both the tool limit and the global limit to pass', async () => {
    const mw = rateLimit({ global: perMinute(5), tools: { search: perMinute(2) } });
    expect(await admitted(mw, () => call('search'), 4)).toBe(2);
    // The two refused searches did not spend global allowance: 3 left for other calls.
    expect(await admitted(mw, () => call('other'), 5)).toBe(3);
    expect((await rejection(mw(call('other'), okNext))).data.scope).toBe('global');
  });

  it('reports the limit with the longest wait when several are exceeded', async () => {
    const mw = rateLimit({ global: new RateLimitConfig(1, 1000), tools: { t: perMinute(1) } });
    await mw(call('t'), okNext);
    const err = await rejection(mw(call('t'), okNext));
    expect(err.data.scope).toBe('tool:t');
  });

  it('limits resources by URI and prompts by name, and supports a * default per name', async () => {
    const mw = rateLimit({
      resources: { 'file:///etc/config.json': perMinute(1) },
      prompts: { '*': perMinute(2) },
      tools: { '*': perMinute(1), special: perMinute(3) },
    });
    const read = (uri: string) => callContext({ method: 'resources/read', target: uri });
    expect(await admitted(mw, () => read('file:///etc/config.json'), 3)).toBe(1);
    expect(await admitted(mw, () => read('file:///other'), 3)).toBe(3);
    expect(await admitted(mw, () => callContext({ method: 'prompts/get', target: 'a' }), 3)).toBe(2);
    expect(await admitted(mw, () => callContext({ method: 'prompts/get', target: 'b' }), 3)).toBe(2);
    expect(await admitted(mw, () => call('x'), 3)).toBe(1);
    expect(await admitted(mw, () => call('y'), 3)).toBe(1);
    expect(await admitted(mw, () => call('special'), 5)).toBe(3);
    // A tools/list has a target of undefined and no per-name limit applies.
    expect(await admitted(mw, () => callContext({ method: 'tools/list' }), 3)).toBe(3);
    const stats = mw.stats();
    expect(Object.keys(stats.scopes).sort()).toEqual(
      ['prompt:*', 'resource:file:///etc/config.json', 'tool:*', 'tool:special'].sort(),
    );
    expect(stats.scopes['tool:*']).toMatchObject({ requests: 6, allowed: 2, rejected: 4 });
    expect((await rejection(mw(call('x'), okNext))).data.scope).toBe('tool:x');
  });

  it('never limits exempt methods (ping, initialize, server/discover, notifications/*) by default', async () => {
    expect(DEFAULT_EXEMPT_METHODS).toEqual(['ping', 'initialize', 'server/discover', 'notifications/*']);
    const mw = rateLimit({ global: perMinute(1) });
    for (const method of ['ping', 'initialize', 'server/discover', 'notifications/initialized']) {
      expect(await admitted(mw, () => callContext({ method }), 5)).toBe(5);
    }
    expect(await admitted(mw, () => callContext({ method: 'tools/list' }), 3)).toBe(1);
    expect(mw.stats().totalRequests).toBe(3);
  });

  it('replaces the exempt list when given one', async () => {
    const mw = rateLimit({ global: perMinute(1), exempt: [...DEFAULT_EXEMPT_METHODS, 'tools/list'] });
    expect(await admitted(mw, () => callContext({ method: 'tools/list' }), 3)).toBe(3);
    const strict = rateLimit({ global: perMinute(1), exempt: [] });
    expect(await admitted(strict, () => callContext({ method: 'ping' }), 3)).toBe(1);
  });

  it('is a pass-through when no limit is configured (off by default, e.g. env unset)', async () => {
    const mw = rateLimit({ global: RateLimitConfig.fromEnv({}) });
    expect(await admitted(mw, () => call('a'), 1000)).toBe(1000);
    expect(mw.stats().totalRequests).toBe(0);
  });

  it('runs in a composed chain and leaves the handler result untouched', async () => {
    const mw = rateLimit({ global: perMinute(1) });
    let handled = 0;
    const run = compose([mw], async () => {
      handled++;
      return handlerResult;
    });
    expect(await run(call('a'))).toBe(handlerResult);
    await expect(run(call('a'))).rejects.toBeInstanceOf(RateLimitedError);
    expect(handled).toBe(1);
  });
});

describe('rateLimit: keys', () => {
  it('defaults to the auth subject, then client id, then remote address, then client info', () => {
    const base = { auth: undefined, remoteAddress: undefined, clientInfo: undefined };
    const key = (over: Partial<CallContext>) => defaultRateLimitKey(callContext({ ...base, ...over }));
    expect(key({ auth: { subject: 'alice', clientId: 'app', scopes: [] }, remoteAddress: '10.0.0.1' })).toBe(
      'sub:alice',
    );
    expect(key({ auth: { clientId: 'app', scopes: [] }, remoteAddress: '10.0.0.1' })).toBe('client-id:app');
    expect(key({ remoteAddress: '10.0.0.1', clientInfo: { name: 'c', version: '1' } })).toBe('ip:10.0.0.1');
    expect(key({ clientInfo: { name: 'c', version: '1' } })).toBe('client:c@1');
    expect(key({})).toBe('anonymous');
    // IPv6 clients are grouped per /64; IPv4-mapped addresses count as IPv4.
    expect(key({ remoteAddress: '2001:db8:1:2:aaaa::1' })).toBe('ip:2001:db8:1:2::/64');
    expect(key({ remoteAddress: '2001:db8:1:2::ffff' })).toBe('ip:2001:db8:1:2::/64');
    expect(key({ remoteAddress: '2001:db8::1' })).toBe('ip:2001:db8:0:0::/64');
    expect(key({ remoteAddress: 'fe80::1%eth0' })).toBe('ip:fe80:0:0:0::/64');
    expect(key({ remoteAddress: '::ffff:192.0.2.7' })).toBe('ip:192.0.2.7');
  });

  it('gives each client its own budget', async () => {
    const mw = rateLimit({ tools: { query_database: perMinute(2) } });
    const as = (subject: string) => () => call('query_database', { auth: { subject, scopes: [] } });
    expect(await admitted(mw, as('alice'), 5)).toBe(2);
    expect(await admitted(mw, as('bob'), 5)).toBe(2);
    // Same remote address, same app, different users: still separate.
    const shared = { remoteAddress: '203.0.113.9', clientInfo: { name: 'app', version: '1' } };
    expect(
      await admitted(
        mw,
        () => call('query_database', { ...shared, auth: { subject: 'carol', scopes: [] } }),
        3,
      ),
    ).toBe(2);
    // Unauthenticated callers from one /64 share one budget.
    const fromIp = (a: string) => () => call('query_database', { remoteAddress: a });
    expect(await admitted(mw, fromIp('2001:db8:5:5::1'), 1)).toBe(1);
    expect(await admitted(mw, fromIp('2001:db8:5:5::2'), 2)).toBe(1);
  });

  it('uses a custom key function and falls back to the default when it returns undefined', async () => {
    const mw = rateLimit({
      global: perMinute(1),
      key: (ctx) => (ctx.headers?.['x-tenant'] as string | undefined) ?? undefined,
    });
    const tenant = (t: string) => () => call('a', { headers: { 'x-tenant': t } });
    expect(await admitted(mw, tenant('t1'), 3)).toBe(1);
    expect(await admitted(mw, tenant('t2'), 3)).toBe(1);
    expect(await admitted(mw, () => call('a', { auth: { subject: 'z', scopes: [] } }), 3)).toBe(1);
  });

  it('bounds long client-chosen keys and names', async () => {
    const store = new MemoryRateLimitStore();
    const seen: string[] = [];
    const mw = rateLimit({
      tools: { '*': perMinute(1) },
      store,
      onDecision: (d) => seen.push(d.key, d.scope),
    });
    await mw(call('t'.repeat(10_000), { clientInfo: { name: 'n'.repeat(10_000), version: '1' } }), okNext);
    expect(seen.every((s) => s.length < 300)).toBe(true);
    expect(seen[0]).toMatch(/^sha256:/);
  });
});

describe('rateLimit: actions', () => {
  it('warn lets the request through, logs it, and does not consume the exceeded limit', async () => {
    const logger = recordingLogger();
    const mw = rateLimit({ global: perMinute(100), tools: { t: perMinute(2).withAction('warn') } });
    expect(await admitted(mw, () => call('t', { logger }), 5)).toBe(5);
    const warns = logger.lines.filter((l) => l.level === 'warn');
    expect(warns).toHaveLength(3);
    expect(warns[0]?.obj).toMatchObject({ scope: 'tool:t', method: 'tools/call', target: 't', limit: 2 });
    expect(warns[0]?.msg).toContain('warn');
    // The global limit counted all five.
    const stats = mw.stats();
    expect(stats).toMatchObject({ requests: 5, allowed: 5, rejected: 0, warned: 3 });
    expect(stats.scopes['tool:t']).toMatchObject({ requests: 5, allowed: 5, warned: 3, rejected: 0 });
    const ctx = call('x');
    await mw(ctx, okNext);
    expect((ctx.state.get(RATE_LIMIT_STATE_KEY) as RateLimitDetails).remaining).toBe(94);
  });

  it('wait delays the request until the limit allows it', async () => {
    const mw = rateLimit({ global: new RateLimitConfig(1, 150).withAction('wait') });
    await mw(call('a'), okNext);
    const started = performance.now();
    await expect(mw(call('a'), okNext)).resolves.toBe(handlerResult);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(1000);
    expect(mw.stats()).toMatchObject({ requests: 2, allowed: 2, waited: 1, rejected: 0 });
  });

  it('wait rejects at once when the needed wait exceeds maxWaitMs', async () => {
    const mw = rateLimit({ global: new RateLimitConfig(1, 10_000).withAction('wait'), maxWaitMs: 200 });
    await mw(call('a'), okNext);
    const started = performance.now();
    const err = await rejection(mw(call('a'), okNext));
    expect(performance.now() - started).toBeLessThan(100);
    expect(err.data.retryAfterMs).toBeGreaterThan(9000);
    expect(mw.stats()).toMatchObject({ rejected: 1, waited: 0 });
  });

  it('wait gives up when the request is cancelled', async () => {
    const mw = rateLimit({ global: new RateLimitConfig(1, 2000).withAction('wait') });
    await mw(call('a'), okNext);
    const controller = new AbortController();
    const started = performance.now();
    const pending = mw(call('a', { signal: controller.signal }), okNext);
    setTimeout(() => controller.abort(), 50);
    const err = await rejection(pending);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(40);
    expect(took).toBeLessThan(1000);
    expect(err.data.scope).toBe('global');
    expect(mw.stats()).toMatchObject({ rejected: 1, waited: 1 });
  });

  it('reject wins over wait when both limits are exceeded', async () => {
    const mw = rateLimit({
      global: new RateLimitConfig(1, 100).withAction('wait'),
      tools: { t: perMinute(1) },
    });
    await mw(call('t'), okNext);
    const started = performance.now();
    await rejection(mw(call('t'), okNext));
    expect(performance.now() - started).toBeLessThan(80);
  });

  it('queued waiters are admitted one per refill', async () => {
    const mw = rateLimit({ global: new RateLimitConfig(1, 60).withAction('wait'), maxWaitMs: 2000 });
    const started = performance.now();
    await Promise.all(Array.from({ length: 4 }, () => mw(call('a'), okNext)));
    // One immediately, then one per 60 ms refill.
    expect(performance.now() - started).toBeGreaterThanOrEqual(170);
    expect(mw.stats()).toMatchObject({ allowed: 4, waited: 3 });
  });
});

describe('rateLimit: stats, hooks, state and health', () => {
  it('counts per scope and overall with the rejection rate', async () => {
    const mw = rateLimit({ global: perMinute(6), tools: { q: perMinute(2) } });
    await admitted(mw, () => call('q'), 4); // 2 allowed, 2 rejected by tool:q
    await admitted(mw, () => call('r'), 6); // 4 allowed, 2 rejected by global
    const s = mw.stats();
    expect(s).toMatchObject({ totalRequests: 10, totalRejected: 4, requests: 10, allowed: 6, rejected: 4 });
    expect(s.rejectionRate).toBeCloseTo(0.4);
    expect(s.scopes.global).toMatchObject({ requests: 10, allowed: 6, rejected: 2 });
    expect(s.scopes['tool:q']).toMatchObject({ requests: 4, allowed: 2, rejected: 2, rejectionRate: 0.5 });
  });

  it('calls onDecision per limit and survives a throwing hook', async () => {
    const decisions: RateLimitDecision[] = [];
    const logger = recordingLogger();
    const mw = rateLimit({
      global: perMinute(10),
      tools: { q: perMinute(1) },
      onDecision: (d) => {
        decisions.push(d);
        if (decisions.length === 1) throw new Error('metrics down');
      },
    });
    const auth = { subject: 'u1', scopes: [] };
    await mw(call('q', { auth, logger }), okNext);
    await rejection(mw(call('q', { auth, logger }), okNext));
    expect(decisions.map((d) => [d.scope, d.allowed, d.exceeded])).toEqual([
      ['global', true, false],
      ['tool:q', true, false],
      ['global', false, false],
      ['tool:q', false, true],
    ]);
    expect(decisions[3]).toMatchObject({
      key: 'sub:u1',
      action: 'reject',
      method: 'tools/call',
      target: 'q',
      rule: 'tool:q',
    });
    expect(logger.lines.some((l) => l.level === 'error' && l.msg?.includes('onDecision'))).toBe(true);
  });

  it('leaves the tightest limit in ctx.state for response headers', async () => {
    const mw = rateLimit({ global: perMinute(10), tools: { q: perMinute(3) } });
    const ctx = call('q');
    await mw(ctx, okNext);
    expect(ctx.state.get(RATE_LIMIT_STATE_KEY)).toMatchObject({
      scope: 'tool:q',
      limit: 3,
      remaining: 2,
      windowMs: 60_000,
    });
  });

  it('counts a throwing store as a store error and lets the error through', async () => {
    const boom = new Error('store exploded');
    const mw = rateLimit({
      global: perMinute(1),
      store: {
        name: 'broken',
        consume: () => {
          throw boom;
        },
      },
    });
    await expect(mw(call('a'), okNext)).rejects.toBe(boom);
    expect(mw.stats()).toMatchObject({ storeErrors: 1, rejected: 1 });
    expect(await mw.health()).toEqual({
      name: 'broken',
      healthy: true,
      message: 'store has no health check',
    });
  });

  it('reports the store health', async () => {
    const mw = rateLimit({ global: perMinute(1), store: new MemoryRateLimitStore({ maxKeys: 50 }) });
    await mw(call('a'), okNext);
    expect(await mw.health()).toEqual({
      name: 'ratelimit-memory',
      healthy: true,
      message: 'in-memory, 1/50 keys',
    });
  });
});

describe('rateLimit: option validation', () => {
  const bad = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidOptionError);
      return (err as InvalidOptionError).option;
    }
    throw new Error('expected InvalidOptionError');
  };

  it('names the field at fault', () => {
    expect(bad(() => rateLimit({ tools: { query_database: { requests: 0, windowMs: 1000 } } }))).toBe(
      'tools.query_database.requests',
    );
    expect(bad(() => rateLimit({ global: { requests: 1, windowMs: 1000, action: 'drop' as never } }))).toBe(
      'global.action',
    );
    expect(bad(() => rateLimit({ prompts: [] as never }))).toBe('prompts');
    expect(bad(() => rateLimit({ maxWaitMs: -1 }))).toBe('maxWaitMs');
    expect(bad(() => rateLimit({ exempt: [''] }))).toBe('exempt');
    expect(bad(() => rateLimit({ key: 'ip' as never }))).toBe('key');
    expect(bad(() => rateLimit({ onDecision: 1 as never }))).toBe('onDecision');
    expect(bad(() => rateLimit({ store: {} as never }))).toBe('store');
  });
});
