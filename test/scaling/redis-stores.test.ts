// The Redis building blocks against a real redis-server: event store (ids, replay, trimming,
// TTL, dedupe, live tails with catch-up), change-event bus, session store and option checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/protocol/errors.js';
import type { JsonRpcMessage } from '../../src/protocol/jsonrpc.js';
import {
  RedisConnection,
  RedisEventStore,
  RedisNotificationBus,
  RedisScaling,
  RedisSessionStore,
  compareEntryIds,
} from '../../src/redis/index.js';
import type { ChangeEvent } from '../../src/server/notifications.js';
import { McpServer } from '../../src/server/server.js';
import { StreamableHttpHandler } from '../../src/transport/http/handler.js';
import { SessionManager, type SessionRecord } from '../../src/transport/http/sessions.js';
import { RedisServer, hasRedisServer } from '../ratelimit/redis-server.js';
import { eventually, sleep } from './cluster.js';

const note = (n: number): JsonRpcMessage => ({
  jsonrpc: '2.0',
  method: 'notifications/message',
  params: { level: 'info', data: n },
});
const dataOf = (m: JsonRpcMessage) =>
  ((m as { params?: { data?: unknown } }).params?.data as number | undefined) ?? -1;

if (!hasRedisServer)
  console.warn('test/scaling: redis-server is not installed; skipping the Redis store tests');

describe.skipIf(!hasRedisServer)('Redis building blocks', () => {
  let redis: RedisServer;
  const connections: RedisConnection[] = [];
  const connect = (options: Partial<ConstructorParameters<typeof RedisConnection>[0]> = {}) => {
    const c = new RedisConnection({ url: redis.url, timeoutMs: 1000, ...options });
    connections.push(c);
    return c;
  };
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.close()));
    await redis?.stop();
  });

  describe('RedisEventStore', () => {
    it('gives <streamId>_<entry id> ids and replays strictly after an id', async () => {
      const store = new RedisEventStore(connect());
      const ids: string[] = [];
      for (let i = 1; i <= 5; i++) ids.push((await store.append('s1.abc_def', note(i))) as string);
      for (const id of ids) expect(id).toMatch(/^s1\.abc_def_\d+-\d+$/);
      expect([...ids].sort((a, b) => compareEntryIds(a.split('_').at(-1)!, b.split('_').at(-1)!))).toEqual(
        ids,
      );
      const seen: Array<[string, number]> = [];
      expect(await store.replayAfter(ids[1]!, (id, m) => seen.push([id, dataOf(m)]))).toBe('s1.abc_def');
      expect(seen).toEqual([
        [ids[2], 3],
        [ids[3], 4],
        [ids[4], 5],
      ]);
      const all: number[] = [];
      expect(await store.replayAfter('s1.abc_def_0', (_id, m) => all.push(dataOf(m)))).toBe('s1.abc_def');
      expect(all).toEqual([1, 2, 3, 4, 5]);
      expect(await store.replayAfter('nope.get_0', () => {})).toBeUndefined();
      expect(await store.replayAfter('s1.abc_def_notanid', () => {})).toBeUndefined();
      expect(await store.replayAfter('noseparator', () => {})).toBeUndefined();
    });

    it('trims streams (MAXLEN ~) and expires them after the TTL', async () => {
      const connection = connect();
      const store = new RedisEventStore(connection, { maxEventsPerStream: 10, ttlMs: 60_000 });
      for (let i = 0; i < 400; i++) await store.append('trim.x', note(i));
      const key = connection.key('ev', 'trim.x');
      const length = await connection.command.xlen(key);
      expect(length).toBeGreaterThanOrEqual(10);
      expect(length).toBeLessThan(400);
      const ttl = await connection.command.pttl(key);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    });

    it('stores an event once per dedupe key, whichever process appends it', async () => {
      const a = new RedisEventStore(connect());
      const b = new RedisEventStore(connect());
      const [first, second] = await Promise.all([
        a.append('dd.get', note(1), 'bus:x:1'),
        b.append('dd.get', note(1), 'bus:x:1'),
      ]);
      expect([first, second].filter((id) => id !== undefined)).toHaveLength(1);
      expect(await b.append('dd.get', note(2), 'bus:x:2')).toMatch(/^dd\.get_/);
      const replayed: number[] = [];
      await a.replayAfter('dd.get_0', (_id, m) => replayed.push(dataOf(m)));
      expect(replayed).toEqual([1, 2]);
    });

    it('tails a stream another process writes, from now or after an id, without gaps or repeats', async () => {
      const writer = new RedisEventStore(connect());
      const reader = new RedisEventStore(connect());
      for (let i = 1; i <= 3; i++) await writer.append('tail.t', note(i));
      const fromNow: number[] = [];
      const live = await reader.subscribe('tail.t', undefined, (_id, m) => fromNow.push(dataOf(m)));
      expect(live.position).toMatch(/^tail\.t_\d+-\d+$/);
      // Appends racing a catch-up subscription: every event after the id arrives once, in order.
      const start = await writer.append('tail.t', note(4));
      const racing = (async () => {
        for (let i = 5; i <= 60; i++) await writer.append('tail.t', note(i));
      })();
      const caught: Array<[string, number]> = [];
      const resumed = await reader.subscribe('tail.t', start as string, (id, m) =>
        caught.push([id, dataOf(m)]),
      );
      await racing;
      await eventually(() => caught.length >= 56 && fromNow.length >= 57, 5000, 'tails caught up');
      await sleep(50);
      expect(caught.map(([, n]) => n)).toEqual(Array.from({ length: 56 }, (_, i) => i + 5));
      expect(new Set(caught.map(([id]) => id)).size).toBe(56);
      expect(fromNow).toEqual(Array.from({ length: 57 }, (_, i) => i + 4));
      live.close();
      resumed.close();
      await writer.append('tail.t', note(61));
      await sleep(50);
      expect(fromNow.at(-1)).toBe(60);
    });

    it('catches up on events appended while its subscriber was reconnecting', async () => {
      const readerConnection = connect();
      const writer = new RedisEventStore(connect());
      const reader = new RedisEventStore(readerConnection);
      const got: number[] = [];
      const tail = await reader.subscribe('gap.g', undefined, (_id, m) => got.push(dataOf(m)));
      await writer.append('gap.g', note(1));
      await eventually(() => got.length === 1, 2000, 'first live event');
      readerConnection.subscriber.disconnect(true);
      await writer.append('gap.g', note(2));
      await writer.append('gap.g', note(3));
      await eventually(() => got.length === 3, 5000, 'events from the gap');
      await writer.append('gap.g', note(4));
      await eventually(() => got.length === 4, 2000, 'live again');
      expect(got).toEqual([1, 2, 3, 4]);
      tail.close();
    });
  });

  describe('RedisNotificationBus', () => {
    it('delivers every event once to every replica, the publisher included, with unique ids', async () => {
      const a = new RedisNotificationBus(connect({ replicaId: 'bus-a' }));
      const b = new RedisNotificationBus(connect({ replicaId: 'bus-b' }));
      await Promise.all([a.ready, b.ready]);
      const heardA: ChangeEvent[] = [];
      const heardB: ChangeEvent[] = [];
      a.subscribe((e) => heardA.push(e));
      b.subscribe((e) => heardB.push(e));
      await a.publish({ type: 'tools/list_changed' });
      expect(heardA).toHaveLength(1); // synchronously, before Redis answered
      await b.publish({ type: 'resources/updated', uri: 'test://x' });
      await eventually(() => heardA.length === 2 && heardB.length === 2, 2000, 'fan-out');
      await sleep(100);
      expect(heardA.map((e) => e.type)).toEqual(['tools/list_changed', 'resources/updated']);
      expect(heardB.map((e) => e.type)).toEqual(['tools/list_changed', 'resources/updated']);
      expect(heardA[0]?.id).toBe('bus-a:1');
      expect(heardB[1]).toEqual({ type: 'resources/updated', uri: 'test://x', id: 'bus-b:1' });
      await a.close();
      await b.close();
    });

    it('joins a server built with the default bus to the cluster (relay)', async () => {
      const serverA = new McpServer({ name: 'a', version: '1' });
      const serverB = new McpServer({ name: 'b', version: '1' });
      const scalingA = new RedisScaling({ url: redis.url, replicaId: 'relay-a' });
      const scalingB = new RedisScaling({ url: redis.url, replicaId: 'relay-b' });
      scalingA.install(serverA);
      scalingB.install(serverB);
      await Promise.all([scalingA.bus.ready, scalingB.bus.ready]);
      const heard: ChangeEvent[] = [];
      serverB.bus.subscribe((e) => heard.push(e));
      serverA.tool('late', () => 'x');
      await eventually(() => heard.length === 1, 2000, 'relayed list change');
      expect(heard[0]).toMatchObject({ type: 'tools/list_changed', id: expect.stringMatching(/^relay-a:/) });
      await scalingA.close();
      serverA.notifyListChanged('tools');
      await sleep(100);
      expect(heard).toHaveLength(1);
      await scalingB.close();
    });
  });

  describe('RedisSessionStore', () => {
    it('stores records with the idle timeout as TTL, refreshed by reads and touches', async () => {
      const connection = connect();
      const store = new RedisSessionStore(connection);
      const record: SessionRecord = {
        protocolVersion: '2025-06-18',
        initialized: true,
        clientInfo: { name: 'c', version: '1' },
        clientCapabilities: { elicitation: {} },
        logLevel: 'warning',
        subscriptions: ['test://a'],
      };
      await store.save('sess-1', record, 5000);
      const key = connection.key('sess', 'sess-1');
      expect(await connection.command.pttl(key)).toBeLessThanOrEqual(5000);
      expect(await store.load('sess-1', 60_000)).toEqual(record);
      expect(await connection.command.pttl(key)).toBeGreaterThan(50_000);
      await store.touch(['sess-1', 'missing'], 90_000);
      expect(await connection.command.pttl(key)).toBeGreaterThan(80_000);
      expect(await store.load('missing', 1000)).toBeUndefined();
      await connection.command.set(connection.key('sess', 'bad'), '"x"');
      await expect(store.load('bad', 1000)).rejects.toThrow(/malformed/);
      expect(await store.delete('sess-1')).toBe(true);
      expect(await store.delete('sess-1')).toBe(false);
      expect(await store.load('sess-1', 1000)).toBeUndefined();
    });
  });

  describe('options', () => {
    it('names the option that is wrong', () => {
      const bad = (fn: () => unknown, option: string) => {
        try {
          fn();
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidOptionError);
          expect((err as InvalidOptionError).option).toBe(option);
          return;
        }
        throw new Error(`expected InvalidOptionError for ${option}`);
      };
      bad(() => new RedisConnection({ url: 'http://localhost:6379' }), 'url');
      bad(() => new RedisConnection({}), 'url');
      bad(() => new RedisConnection({ url: redis.url, keyPrefix: 'a{b}' }), 'keyPrefix');
      bad(() => new RedisConnection({ url: redis.url, timeoutMs: 0 }), 'timeoutMs');
      bad(() => new RedisConnection({ url: redis.url, replicaId: 'has space' }), 'replicaId');
      const connection = connect();
      bad(() => new RedisEventStore(connection, { maxEventsPerStream: 0 }), 'maxEventsPerStream');
      bad(() => new RedisEventStore(connection, { ttlMs: 1.5 }), 'ttlMs');
      bad(() => new RedisScaling({ url: redis.url, required: 'yes' as unknown as boolean }), 'required');
      const scaling = new RedisScaling({ client: connection.command });
      const server = new McpServer({ name: 's', version: '1' });
      bad(() => new StreamableHttpHandler(server, { sessionStore: scaling.sessionStore }), 'sessionStore');
      bad(
        () =>
          new SessionManager({
            shared: { ...scaling.sessions, eventStore: { append: () => 'x', replayAfter: () => undefined } },
          }),
        'eventStore',
      );
      const custom = new McpServer({
        name: 's',
        version: '1',
        bus: { publish: () => {}, subscribe: () => () => {} },
      });
      bad(() => scaling.install(custom), 'bus');
      void scaling.close();
    });
  });
});
