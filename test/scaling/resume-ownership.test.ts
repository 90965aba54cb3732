// Last-Event-ID resumes are confined to the caller's own session, with the default in-memory
// store and with the Redis store; and resuming a GET stream that has no event yet keeps it open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHttp } from '../http/harness.js';
import { RedisServer, hasRedisServer } from '../ratelimit/redis-server.js';
import { type Replica, initialize, openSse, rpc, sessionHeaders, sleep, startReplica } from './cluster.js';

const secretCall = {
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'test_tool_with_logging', arguments: {} },
};

async function checkOwnership(urlA: string, urlB: string): Promise<void> {
  const victim = await initialize(urlA);
  const v = sessionHeaders(victim);
  await rpc(urlA, { jsonrpc: '2.0', id: 0, method: 'logging/setLevel', params: { level: 'info' } }, v);
  // The victim's POST stream holds its log messages, with resumable ids.
  const streamed = await openSse(
    urlA,
    { ...v, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    { method: 'POST', body: JSON.stringify(secretCall) },
  );
  await streamed.ended;
  const victimEventId = streamed.events.find((e) => e.data)?.id as string;
  expect(victimEventId.startsWith(`${victim}.`)).toBe(true);

  const attacker = await initialize(urlB);
  const stolen = await openSse(urlB, { ...sessionHeaders(attacker), 'last-event-id': victimEventId });
  await Promise.race([stolen.ended, sleep(300)]);
  stolen.close();
  expect(stolen.messages()).toEqual([]);
  // The owner can resume the same id.
  const own = await openSse(urlB, { ...v, 'last-event-id': victimEventId });
  await own.waitFor((m) => m.some((x) => 'result' in x));
  own.close();
}

describe('resuming with Last-Event-ID (in-memory store)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHttp({ keepAliveMs: 0 });
  });
  afterAll(async () => {
    await h.close();
  });

  it("never replays another session's events", async () => {
    await checkOwnership(h.url, h.url);
  });

  it('keeps a resumed GET stream open even before its first event', async () => {
    const sid = await initialize(h.url);
    const hs = sessionHeaders(sid);
    const first = await openSse(h.url, hs);
    await sleep(50);
    const primed = first.lastEventId() as string;
    expect(primed).toBe(`${sid}.get_0`);
    first.close();
    await sleep(50);
    const resumed = await openSse(h.url, { ...hs, 'last-event-id': primed });
    await rpc(
      h.url,
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'test_trigger_tool_change', arguments: {} },
      },
      hs,
    );
    await resumed.waitFor((m) => m.some((x) => x.method === 'notifications/tools/list_changed'));
    resumed.close();
  });
});

describe.skipIf(!hasRedisServer)('resuming with Last-Event-ID (Redis store, two replicas)', () => {
  let redis: RedisServer;
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    redis = await RedisServer.start();
    [a, b] = await Promise.all([startReplica('own-a', redis.url), startReplica('own-b', redis.url)]);
  });
  afterAll(async () => {
    await Promise.all([a, b].map((r) => r?.close()));
    await redis?.stop();
  });

  it("never replays another session's events", async () => {
    await checkOwnership(a.url, b.url);
  });

  it('a GET stream opened on B takes over from the one still open on A', async () => {
    const sid = await initialize(a.url);
    const hs = sessionHeaders(sid);
    const onA = await openSse(a.url, hs);
    await sleep(50);
    const onB = await openSse(b.url, hs);
    await Promise.race([
      onA.ended,
      sleep(3000).then(() => Promise.reject(new Error('the stale GET stream on A stayed open'))),
    ]);
    await rpc(
      a.url,
      {
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'test_trigger_tool_change', arguments: {} },
      },
      hs,
    );
    await onB.waitFor((m) => m.some((x) => x.method === 'notifications/tools/list_changed'));
    expect(onA.messages()).toEqual([]);
    onB.close();
  });
});
