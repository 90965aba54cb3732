import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InvalidOptionError, RateLimitedError } from '../../src/protocol/errors.js';
import {
  type RateLimitAlgorithm,
  RateLimitConfig,
  RedisRateLimitStore,
  type RedisRateLimitStoreOptions,
  rateLimit,
} from '../../src/ratelimit/index.js';
import { callContext, okNext, recordingLogger } from './fixtures.js';
import { RedisServer, hasRedisServer } from './redis-server.js';

if (!hasRedisServer) {
  console.warn('[test/ratelimit] redis-server is not on PATH: skipping the RedisRateLimitStore tests');
}
const describeRedis = hasRedisServer ? describe : describe.skip;

const DAY = 86_400_000;
let prefixes = 0;
const freshPrefix = () => `rltest${++prefixes}:`;

/** Tracks clients and stores so every test cleans up after itself. */
function harness(server: () => RedisServer) {
  const clients: Redis[] = [];
  const client = (opts: RedisOptions = {}): Redis => {
    const c = new Redis(server().url, { retryStrategy: () => 50, ...opts });
    c.on('error', () => {}); // outages are expected here; the store reports them
    clients.push(c);
    return c;
  };
  const closeAll = () => {
    for (const c of clients) c.disconnect();
  };
  return { client, closeAll };
}

function commandStats(info: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1] as string, Number(m[2]));
  return out;
}

describeRedis('RedisRateLimitStore (real redis-server)', () => {
  let server: RedisServer;
  const h = harness(() => server);
  let admin: Redis;

  beforeAll(async () => {
    server = await RedisServer.start();
    admin = h.client();
  });
  afterAll(async () => {
    h.closeAll();
    await server?.stop();
  });

  const store = (opts: Partial<RedisRateLimitStoreOptions> = {}) =>
    new RedisRateLimitStore({ client: h.client(), keyPrefix: freshPrefix(), ...opts });

  it.each<RateLimitAlgorithm>(['token-bucket', 'sliding-window', 'fixed-window'])(
    '%s: 100 concurrent checks through two stores on one Redis admit exactly 30',
    async (algorithm) => {
      const keyPrefix = freshPrefix();
      const a = new RedisRateLimitStore({ client: h.client(), keyPrefix });
      const b = new RedisRateLimitStore({ client: h.client(), keyPrefix });
      // A day-long window: no refill or window change can happen while the test runs.
      const config = new RateLimitConfig(30, DAY).withAlgorithm(algorithm);
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).check('shared-client', config)),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(30);
      expect(results.some((r) => r.storeError)).toBe(false);
      const remaining = results.filter((r) => r.allowed).map((r) => r.remaining);
      expect(remaining.sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      expect(results.find((r) => !r.allowed)).toMatchObject({ limit: 30, remaining: 0 });
      expect(results.find((r) => !r.allowed)?.retryAfterMs).toBeGreaterThan(0);
    },
  );

  it('matches the in-memory semantics (token bucket retry and reset)', async () => {
    const s = store();
    const config = new RateLimitConfig(3, 60_000);
    const rs = [];
    for (let i = 0; i < 4; i++) rs.push(await s.check('k', config));
    expect(rs.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(rs[0]).toMatchObject({ limit: 3, remaining: 2 });
    expect(rs[0]?.resetMs).toBeGreaterThan(19_900);
    expect(rs[0]?.resetMs).toBeLessThanOrEqual(20_000);
    expect(rs[3]?.retryAfterMs).toBeGreaterThan(19_500);
    expect(rs[3]?.retryAfterMs).toBeLessThanOrEqual(20_000);
  });

  it('checks several limits atomically and charges none when one refuses', async () => {
    const s = store();
    const limits = [
      { scope: 'global', policy: new RateLimitConfig(5, DAY).withAlgorithm('fixed-window') },
      { scope: 'tool:q', policy: new RateLimitConfig(2, DAY) },
    ];
    for (let i = 0; i < 4; i++) await s.consume('k', limits);
    const [global, tool] = await s.consume('k', limits);
    expect(tool).toMatchObject({ allowed: false });
    expect(global).toMatchObject({ allowed: true, remaining: 3 });
  });

  it('sets a TTL on every key it writes, no longer than the state matters', async () => {
    const keyPrefix = freshPrefix();
    const s = new RedisRateLimitStore({ client: h.client(), keyPrefix });
    await s.check('ttl-client', new RateLimitConfig(10, 10_000));
    await s.check('ttl-client', new RateLimitConfig(10, 10_000).withAlgorithm('fixed-window'));
    await s.check('ttl-client', new RateLimitConfig(10, 10_000).withAlgorithm('sliding-window'));
    const keys = (await admin.keys(`${keyPrefix}*`)).sort();
    expect(keys).toEqual([
      `${keyPrefix}{ttl-client}f:default`,
      `${keyPrefix}{ttl-client}s:default`,
      `${keyPrefix}{ttl-client}t:default`,
    ]);
    const ttl = async (k: string) => admin.pttl(k);
    // Token bucket: one token short refills in 1 s. Fixed: at most a window. Sliding: at most two.
    expect(await ttl(keys[2] as string)).toBeGreaterThan(900);
    expect(await ttl(keys[2] as string)).toBeLessThanOrEqual(1002);
    expect(await ttl(keys[0] as string)).toBeGreaterThan(0);
    expect(await ttl(keys[0] as string)).toBeLessThanOrEqual(10_002);
    expect(await ttl(keys[1] as string)).toBeGreaterThan(10_000);
    expect(await ttl(keys[1] as string)).toBeLessThanOrEqual(20_002);
  });

  it('costs exactly one round trip (one EVALSHA) per check, however many limits', async () => {
    const s = store();
    const config = new RateLimitConfig(1000, 60_000);
    await s.check('warm', config); // the first use on a connection sends the script body (EVAL)
    const storePort = (s.client as Redis).stream.localPort;
    const monitor = await h.client().monitor();
    const seen: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source.endsWith(`:${storePort}`)) seen.push(String(args[0]).toLowerCase());
    });
    const before = commandStats(await admin.info('commandstats'));
    for (let i = 0; i < 20; i++) await s.check(`k${i % 3}`, config);
    await s.consume('multi', [
      { scope: 'global', policy: config },
      { scope: 'tool:x', policy: config.withAlgorithm('sliding-window') },
    ]);
    const after = commandStats(await admin.info('commandstats'));
    await new Promise((r) => setTimeout(r, 50)); // let the last MONITOR lines arrive
    monitor.disconnect();
    // Everything the store's connection sent: 21 EVALSHA, nothing else (no EVAL, no TIME round trip).
    expect(seen).toEqual(Array.from({ length: 21 }, () => 'evalsha'));
    expect((after.get('evalsha') ?? 0) - (before.get('evalsha') ?? 0)).toBe(21);
    expect((after.get('eval') ?? 0) - (before.get('eval') ?? 0)).toBe(0);
  });

  it('takes time from Redis, not from the host clock', async () => {
    const s = store();
    const hour = 3_600_000;
    const [sec, micro] = await admin.time();
    const redisNow = Number(sec) * 1000 + Number(micro) / 1000;
    const expectedReset = (Math.floor(redisNow / hour) + 1) * hour - redisNow;
    const spy = vi.spyOn(Date, 'now').mockReturnValue(Date.UTC(2001, 0, 1, 0, 0, 0));
    try {
      const r = await s.check('clock', new RateLimitConfig(5, hour).withAlgorithm('fixed-window'));
      expect(Math.abs(r.resetMs - expectedReset)).toBeLessThan(1000);
    } finally {
      spy.mockRestore();
    }
  });

  it('builds and closes its own client from a URL', async () => {
    const s = new RedisRateLimitStore({ url: server.url, keyPrefix: freshPrefix() });
    const r = await s.check('k', new RateLimitConfig(1, 60_000));
    expect(r).toMatchObject({ allowed: true, remaining: 0 });
    expect(await s.health()).toEqual({ name: 'ratelimit-redis', healthy: true, message: 'redis reachable' });
    await s.close();
    expect(s.client.status).toBe('end');
  });

  it('works as the middleware store', async () => {
    const mw = rateLimit({ tools: { query_database: new RateLimitConfig(2, DAY) }, store: store() });
    const ctx = () =>
      callContext({ method: 'tools/call', target: 'query_database', auth: { subject: 'u', scopes: [] } });
    await mw(ctx(), okNext);
    await mw(ctx(), okNext);
    await expect(mw(ctx(), okNext)).rejects.toBeInstanceOf(RateLimitedError);
    expect(mw.stats()).toMatchObject({ allowed: 2, rejected: 1, storeErrors: 0 });
    expect(await mw.health()).toMatchObject({ name: 'ratelimit-redis', healthy: true });
  });

  it('validates its options', () => {
    const opt = (o: unknown) => {
      try {
        new RedisRateLimitStore(o as RedisRateLimitStoreOptions);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidOptionError);
        return (err as InvalidOptionError).option;
      }
      throw new Error('expected InvalidOptionError');
    };
    expect(opt({})).toBe('client');
    expect(opt({ client: admin, url: server.url })).toBe('client');
    expect(opt({ client: {} })).toBe('client');
    expect(opt({ url: 'http://x' })).toBe('url');
    expect(opt({ client: admin, onStoreError: 'ignore' })).toBe('onStoreError');
    expect(opt({ client: admin, keyPrefix: 'a{b}' })).toBe('keyPrefix');
    expect(opt({ client: admin, timeoutMs: 0 })).toBe('timeoutMs');
  });
});

describeRedis('RedisRateLimitStore when Redis goes away', () => {
  let server: RedisServer;
  const h = harness(() => server);

  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    h.closeAll();
    await server?.stop();
  });

  async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('fails open or closed as configured, reports it in health(), and recovers after a restart', async () => {
    const openLog = recordingLogger();
    const config = new RateLimitConfig(100, DAY);
    const fastFail: RedisOptions = { enableOfflineQueue: false, maxRetriesPerRequest: 0 };
    const open = new RedisRateLimitStore({
      client: h.client(fastFail),
      onStoreError: 'fail-open',
      timeoutMs: 300,
      logger: openLog,
      keyPrefix: 'open:',
    });
    const closed = new RedisRateLimitStore({
      client: h.client(fastFail),
      onStoreError: 'fail-closed',
      timeoutMs: 300,
      failClosedRetryAfterMs: 2000,
      keyPrefix: 'closed:',
    });
    // A client left with ioredis defaults (offline queue on) is bounded by the store timeout instead.
    const queued = new RedisRateLimitStore({ client: h.client(), timeoutMs: 200, keyPrefix: 'queued:' });
    const guarded = rateLimit({ global: config, store: closed });
    const req = () => callContext({ method: 'tools/list', auth: { subject: 'u', scopes: [] } });

    expect((await open.check('k', config)).storeError).toBeUndefined();
    expect((await closed.check('k', config)).allowed).toBe(true);
    expect((await queued.check('k', config)).allowed).toBe(true);
    await guarded(req(), okNext);

    await server.kill();
    await until(
      () => open.client.status !== 'ready' && closed.client.status !== 'ready',
      'clients to notice',
    );

    const o = await open.check('k', config);
    expect(o).toMatchObject({ allowed: true, storeError: true });
    const c = await closed.check('k', config);
    expect(c).toEqual({
      allowed: false,
      limit: 100,
      remaining: 0,
      resetMs: 2000,
      retryAfterMs: 2000,
      storeError: true,
    });
    const started = Date.now();
    expect(await queued.check('k', config)).toMatchObject({ allowed: true, storeError: true });
    expect(Date.now() - started).toBeLessThan(1000);

    const err = await guarded(req(), okNext).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RateLimitedError);
    expect((err as RateLimitedError).data).toMatchObject({ scope: 'global', retryAfterMs: 2000 });
    expect(guarded.stats()).toMatchObject({ storeErrors: 1, rejected: 1, allowed: 1 });

    // Failures are counted and logged, but an outage does not log every request.
    await open.check('k', config);
    expect(open.stats()).toMatchObject({ failures: 2, reachable: false });
    const errors = openLog.lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.obj).toMatchObject({ failureMode: 'fail-open' });

    const openHealth = await open.health();
    expect(openHealth).toMatchObject({ name: 'ratelimit-redis', healthy: true });
    expect(openHealth.message).toMatch(/^degraded, redis unreachable: .*fail-open/);
    const closedHealth = await closed.health();
    expect(closedHealth).toMatchObject({ name: 'ratelimit-redis', healthy: false });
    expect(closedHealth.message).toMatch(/fail-closed/);
    expect((await guarded.health()).healthy).toBe(false);

    // Redis comes back (empty: persistence is off); both stores resume enforcing.
    await server.launch();
    await until(() => open.client.status === 'ready' && closed.client.status === 'ready', 'reconnect');
    expect(await open.check('k', config)).toMatchObject({ allowed: true, remaining: 99 });
    expect((await open.check('k', config)).storeError).toBeUndefined();
    expect(await closed.check('k', config)).toMatchObject({ allowed: true, remaining: 99 });
    expect(await closed.health()).toEqual({
      name: 'ratelimit-redis',
      healthy: true,
      message: 'redis reachable',
    });
    expect(
      openLog.lines.some((l) => l.level === 'info' && l.msg === 'rate limit store reachable again'),
    ).toBe(true);
    await guarded(req(), okNext);
    expect(guarded.stats()).toMatchObject({ allowed: 2, storeErrors: 1 });
  });
});
