// Three in-process replicas (own server, own Redis connection set, own port) sharing one real
// redis-server: stateless 2026 traffic, subscriptions/listen fan-out and legacy sessions that
// move freely between replicas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpClient } from '../../src/client/client.js';
import { StreamableHttpClientTransport } from '../../src/transport/http/client.js';
import { meta, modernHeaders } from '../http/harness.js';
import { RedisServer, hasRedisServer } from '../ratelimit/redis-server.js';
import {
  type Replica,
  eventually,
  initialize,
  openSse,
  rpc,
  sessionHeaders,
  sleep,
  startReplica,
} from './cluster.js';

if (!hasRedisServer)
  console.warn('test/scaling: redis-server is not installed; skipping the multi-replica tests');

const methods = (messages: Array<Record<string, unknown>>) =>
  messages.map((m) => m.method ?? (m.result ? 'result' : 'error'));
const count = (messages: Array<Record<string, unknown>>, method: string) =>
  messages.filter((m) => m.method === method).length;
const textOf = (m: Record<string, unknown> | undefined) =>
  (m?.result as { content?: Array<{ text?: string }> } | undefined)?.content?.[0]?.text ?? '';

const call = (id: number | string, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});
const modernCall = (id: number, name: string, extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: {}, _meta: meta({ elicitation: {} }), ...extra },
});

/** A fetch that sends each request to the replica `pick` chooses (the client sees one URL). */
function routedFetch(pick: (init: RequestInit | undefined) => Replica): typeof fetch {
  return (_input, init) => fetch(pick(init).url, init);
}

describe.skipIf(!hasRedisServer)('replicas sharing one Redis', () => {
  let redis: RedisServer;
  let a: Replica;
  let b: Replica;
  let c: Replica;
  beforeAll(async () => {
    redis = await RedisServer.start();
    [a, b, c] = await Promise.all([
      startReplica('a', redis.url),
      startReplica('b', redis.url),
      startReplica('c', redis.url),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((r) => r?.close()));
    await redis?.stop();
  });

  describe('2026-07-28 (stateless)', () => {
    it('any replica answers, and an input_required retry may land on another replica', async () => {
      for (const r of [a, b, c]) {
        const listed = await rpc(
          r.url,
          { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: meta() } },
          modernHeaders('tools/list'),
        );
        expect(listed.status).toBe(200);
        expect((listed.messages[0]?.result as { tools: unknown[] }).tools.length).toBeGreaterThan(10);
      }
      const first = await rpc(
        a.url,
        modernCall(2, 'test_input_required_result_elicitation'),
        modernHeaders('tools/call', 'test_input_required_result_elicitation'),
      );
      const round = first.messages[0]?.result as {
        resultType: string;
        requestState: string;
        inputRequests: Record<string, unknown>;
      };
      expect(round.resultType).toBe('input_required');
      expect(Object.keys(round.inputRequests)).toEqual(['user_name']);
      const retry = (state: string) =>
        modernCall(3, 'test_input_required_result_elicitation', {
          requestState: state,
          inputResponses: { user_name: { action: 'accept', content: { name: 'Ada' } } },
        });
      const onB = await rpc(
        b.url,
        retry(round.requestState),
        modernHeaders('tools/call', 'test_input_required_result_elicitation'),
      );
      expect(textOf(onB.messages[0])).toBe('Hello, Ada!');
      // The signature is what carries the state: a tampered one is refused on any replica.
      const tampered = `${round.requestState.slice(0, -4)}AAAA`;
      const onC = await rpc(
        c.url,
        retry(tampered),
        modernHeaders('tools/call', 'test_input_required_result_elicitation'),
      );
      expect(onC.messages[0]?.error).toBeDefined();
    });

    it('a client rotating over the replicas completes multi-round input_required tools', async () => {
      let n = 0;
      const replicas = [a, b, c];
      const client = new McpClient(
        { name: 'rotating', version: '1' },
        {
          protocol: 'modern',
          handlers: {
            elicitation: async (params) => ({
              action: 'accept',
              content: String(params.message).includes('color') ? { color: 'teal' } : { name: 'Grace' },
            }),
          },
        },
      );
      await client.connect(
        new StreamableHttpClientTransport(a.url, { fetch: routedFetch(() => replicas[n++ % 3] as Replica) }),
      );
      const result = await client.callTool('test_input_required_result_multi_round');
      expect(JSON.stringify(result.content)).toMatch(/Grace[\s\S]*teal/);
      expect(n).toBeGreaterThanOrEqual(3);
      await client.close();
    });

    it('subscriptions/listen on one replica hears changes raised on the others, once each', async () => {
      const listen = await openSse(a.url, modernHeaders('subscriptions/listen'), {
        method: 'POST',
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 'listen-1',
          method: 'subscriptions/listen',
          params: {
            notifications: { toolsListChanged: true, resourceSubscriptions: ['test://watched-resource'] },
            _meta: meta(),
          },
        }),
      });
      await listen.waitFor((m) => count(m, 'notifications/subscriptions/acknowledged') === 1);
      await rpc(
        b.url,
        modernCall(10, 'test_trigger_tool_change'),
        modernHeaders('tools/call', 'test_trigger_tool_change'),
      );
      await rpc(
        c.url,
        modernCall(11, 'touch_resource', { arguments: { uri: 'test://watched-resource' } }),
        modernHeaders('tools/call', 'touch_resource'),
      );
      await rpc(
        c.url,
        modernCall(12, 'touch_resource', { arguments: { uri: 'test://other' } }),
        modernHeaders('tools/call', 'touch_resource'),
      );
      await listen.waitFor((m) => count(m, 'notifications/resources/updated') === 1);
      await sleep(200);
      const heard = listen.messages();
      expect(count(heard, 'notifications/tools/list_changed')).toBe(1);
      expect(
        heard
          .filter((m) => m.method === 'notifications/resources/updated')
          .map((m) => (m.params as { uri: string }).uri),
      ).toEqual(['test://watched-resource']);
      listen.close();
    });
  });

  describe('legacy sessions', () => {
    it('a session initialized on A is used through B and C; state and notifications follow it', async () => {
      const sid = await initialize(a.url);
      const h = sessionHeaders(sid);
      expect(textOf((await rpc(b.url, call(1, 'test_simple_text'), h)).messages[0])).toBe(
        'This is a simple text response for testing.',
      );
      const get = await openSse(a.url, h);
      expect(get.status).toBe(200);
      await sleep(50);

      // logging/setLevel through B governs a tool running on C, and the reverse.
      expect(
        (
          await rpc(
            b.url,
            { jsonrpc: '2.0', id: 2, method: 'logging/setLevel', params: { level: 'warning' } },
            h,
          )
        ).status,
      ).toBe(200);
      const quiet = await rpc(c.url, call(3, 'test_tool_with_logging'), h);
      expect(methods(quiet.messages)).toEqual(['result']);
      await rpc(c.url, { jsonrpc: '2.0', id: 4, method: 'logging/setLevel', params: { level: 'info' } }, h);
      const loud = await rpc(b.url, call(5, 'test_tool_with_logging'), h);
      expect(count(loud.messages, 'notifications/message')).toBe(3);

      // resources/subscribe through B; the update raised on C reaches the GET stream held by A once.
      await rpc(
        b.url,
        { jsonrpc: '2.0', id: 6, method: 'resources/subscribe', params: { uri: 'test://watched-resource' } },
        h,
      );
      await rpc(c.url, call(7, 'touch_resource', { uri: 'test://watched-resource' }), h);
      await rpc(b.url, call(8, 'test_trigger_tool_change'), h);
      await get.waitFor(
        (m) =>
          count(m, 'notifications/resources/updated') === 1 &&
          count(m, 'notifications/tools/list_changed') === 1,
      );
      await sleep(200);
      expect(count(get.messages(), 'notifications/resources/updated')).toBe(1);
      expect(count(get.messages(), 'notifications/tools/list_changed')).toBe(1);
      expect(get.events.filter((e) => e.data).every((e) => e.id?.startsWith(`${sid}.get_`))).toBe(true);

      // Unsubscribing on A stops updates raised on B.
      await rpc(
        a.url,
        {
          jsonrpc: '2.0',
          id: 9,
          method: 'resources/unsubscribe',
          params: { uri: 'test://watched-resource' },
        },
        h,
      );
      await rpc(b.url, call(10, 'touch_resource', { uri: 'test://watched-resource' }), h);
      await rpc(c.url, call(11, 'test_trigger_tool_change'), h);
      await get.waitFor((m) => count(m, 'notifications/tools/list_changed') === 2);
      expect(count(get.messages(), 'notifications/resources/updated')).toBe(1);
      get.close();
    });

    it('an elicitation sent by A is answered by a POST that lands on B', async () => {
      const postedTo: string[] = [];
      const client = new McpClient(
        { name: 'split', version: '1' },
        {
          protocol: 'legacy',
          handlers: {
            elicitation: async () => ({
              action: 'accept',
              content: { username: 'ada', email: 'ada@example.com' },
            }),
          },
        },
      );
      // Requests go to A; the client's responses (bodies without a method) go to B.
      const fetchImpl = routedFetch((init) => {
        const body =
          typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
        const target = body && !('method' in body) ? b : a;
        if (init?.method === 'POST')
          postedTo.push(`${target.name}:${body && 'method' in body ? String(body.method) : 'response'}`);
        return target;
      });
      await client.connect(
        new StreamableHttpClientTransport(a.url, { fetch: fetchImpl, standaloneStream: false }),
      );
      const result = await client.callTool('test_elicitation', { message: 'Who are you?' });
      expect(result.content).toEqual([
        {
          type: 'text',
          text: 'User response: action=accept, content={"username":"ada","email":"ada@example.com"}',
        },
      ]);
      expect(postedTo).toContain('b:response');
      expect(postedTo).toContain('a:tools/call');
      await client.close();
    });

    it('a GET stream resumes on another replica with Last-Event-ID, missing nothing', async () => {
      const sid = await initialize(a.url);
      const h = sessionHeaders(sid);
      const first = await openSse(a.url, h);
      await sleep(50);
      await rpc(b.url, call(1, 'test_trigger_tool_change'), h);
      await first.waitFor((m) => count(m, 'notifications/tools/list_changed') === 1);
      const last = first.lastEventId() as string;
      first.close();
      // Raised while the client is away: kept in Redis for the resume.
      await rpc(c.url, call(2, 'test_trigger_tool_change'), h);
      await rpc(a.url, call(3, 'test_trigger_prompt_change'), h);
      const resumed = await openSse(b.url, { ...h, 'last-event-id': last });
      await resumed.waitFor((m) => m.length === 2);
      expect(methods(resumed.messages())).toEqual([
        'notifications/tools/list_changed',
        'notifications/prompts/list_changed',
      ]);
      // Live again, whichever replica raises the next change.
      await rpc(a.url, call(4, 'test_trigger_tool_change'), h);
      await resumed.waitFor((m) => m.length === 3);
      await sleep(150);
      expect(resumed.messages()).toHaveLength(3);
      resumed.close();
    });

    it("a POST stream closed early by A is finished on B's resumed stream", async () => {
      const client = new McpClient({ name: 'resume', version: '1' }, { protocol: 'legacy' });
      const gets: string[] = [];
      const fetchImpl = routedFetch((init) => {
        if (init?.method === 'GET') gets.push('b');
        return init?.method === 'GET' ? b : a;
      });
      await client.connect(
        new StreamableHttpClientTransport(a.url, {
          fetch: fetchImpl,
          standaloneStream: false,
          reconnectDelayMs: 20,
        }),
      );
      const result = await client.callTool('test_reconnection');
      expect(result.content).toEqual([{ type: 'text', text: 'Reconnection test completed successfully' }]);
      expect(gets.length).toBeGreaterThanOrEqual(1);
      await client.close();
    });

    it('DELETE on B ends the session on A (its GET stream closes) and everywhere else', async () => {
      const sid = await initialize(a.url);
      const h = sessionHeaders(sid);
      await rpc(c.url, call(1, 'test_simple_text'), h);
      const get = await openSse(a.url, h);
      await sleep(50);
      const del = await fetch(b.url, { method: 'DELETE', headers: h });
      expect(del.status).toBe(200);
      await Promise.race([
        get.ended,
        sleep(3000).then(() => Promise.reject(new Error('GET stream on A stayed open'))),
      ]);
      for (const r of [a, b, c]) expect((await rpc(r.url, call(2, 'test_simple_text'), h)).status).toBe(404);
      expect((await fetch(c.url, { method: 'DELETE', headers: h })).status).toBe(404);
      await eventually(
        () => ![a, b, c].some((r) => r.listener.handler.sessions?.get(sid)),
        2000,
        'local copies gone',
      );
    });
  });
});

describe.skipIf(!hasRedisServer)('when Redis is down', () => {
  let redis: RedisServer;
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    redis = await RedisServer.start();
    [a, b] = await Promise.all([startReplica('down-a', redis.url), startReplica('down-b', redis.url)]);
  });
  afterAll(async () => {
    await Promise.all([a, b].map((r) => r?.close()));
    await redis?.stop();
  });

  it('stateless traffic and locally held sessions go on, new or remote sessions get 503, /ready fails; all recover', async () => {
    const held = await initialize(a.url);
    const h = sessionHeaders(held);
    expect((await a.scaling.health()).healthy).toBe(true);
    await redis.kill();
    await eventually(async () => !(await a.scaling.health()).healthy, 3000, 'redis reported down');
    expect((await a.scaling.health()).message).toMatch(/redis unreachable/);

    const stateless = await rpc(
      b.url,
      modernCall(1, 'test_simple_text'),
      modernHeaders('tools/call', 'test_simple_text'),
    );
    expect(textOf(stateless.messages[0])).toBe('This is a simple text response for testing.');
    const fresh = await rpc(b.url, {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
    });
    expect(fresh.status).toBe(503);
    expect(fresh.headers.get('retry-after')).toBe('1');
    expect(b.listener.handler.sessions?.size).toBe(0);
    // A holds a copy of the session: it keeps serving it. B has none and cannot read the store.
    expect(textOf((await rpc(a.url, call(2, 'test_simple_text'), h)).messages[0])).toBe(
      'This is a simple text response for testing.',
    );
    expect((await rpc(b.url, call(3, 'test_simple_text'), h)).status).toBe(503);
    expect((await fetch(b.url, { method: 'DELETE', headers: h })).status).toBe(503);

    await redis.launch();
    await eventually(
      async () => (await a.scaling.health()).healthy && (await b.scaling.health()).healthy,
      8000,
      'redis reachable again',
    );
    const again = await initialize(b.url);
    expect(textOf((await rpc(a.url, call(4, 'test_simple_text'), sessionHeaders(again))).messages[0])).toBe(
      'This is a simple text response for testing.',
    );
    // This redis-server keeps no data across restarts: the store is the truth, so the old session is gone.
    expect((await rpc(a.url, call(5, 'test_simple_text'), h)).status).toBe(404);
  });
});
