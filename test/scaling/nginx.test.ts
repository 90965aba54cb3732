// Three real mcpkit processes (the built everything server, configured only by MCP_REDIS_URL and
// MCP_REQUEST_STATE_SECRET) behind the repo's nginx config with round-robin upstreams, one Redis.
// Needs `npm run build` first (npm test does it in pretest).
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpClient } from '../../src/client/client.js';
import { StreamableHttpClientTransport } from '../../src/transport/http/client.js';
import { type NginxHandle, startNginx } from '../deploy/nginx-harness.js';
import { hasCommand } from '../deploy/proc.js';
import { RedisServer, hasRedisServer } from '../ratelimit/redis-server.js';
import { EVERYTHING, type Proc, startProcess } from '../runtime/proc.js';
import { SECRET, eventually, openSse, rpc, sessionHeaders, sleep } from './cluster.js';

const hasNginx = await hasCommand('nginx', ['-v']);
const built = existsSync(EVERYTHING);
const reason = !hasRedisServer
  ? 'redis-server is not installed'
  : !hasNginx
    ? 'nginx is not installed'
    : !built
      ? `${EVERYTHING} is missing (run npm run build)`
      : '';
if (reason) console.warn(`test/scaling: skipping the nginx + processes test: ${reason}`);

const listChanges = (messages: Array<Record<string, unknown>>) =>
  messages.filter((m) => m.method === 'notifications/tools/list_changed').length;

describe.skipIf(reason !== '')('three mcpkit processes behind nginx, sharing Redis', () => {
  let redis: RedisServer;
  let nginx: NginxHandle;
  const procs: Proc[] = [];
  const direct = (p: Proc) => `http://127.0.0.1:${p.port}/mcp`;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const started = await Promise.all(
      [1, 2, 3].map(() =>
        startProcess({
          MCP_REDIS_URL: redis.url,
          MCP_REQUEST_STATE_SECRET: SECRET,
          MCP_SHUTDOWN_TIMEOUT_SECS: '1',
        }),
      ),
    );
    procs.push(...started);
    await Promise.all(procs.map((p) => p.waitForLog((line) => line.msg === 'listening')));
    // Round robin (nginx's default) instead of the template's least_conn, so spreading is certain.
    nginx = await startNginx({
      upstreams: procs.map((p) => p.port),
      values: { NGINX_UPSTREAM_BALANCING: '# round robin' },
    });
  });
  afterAll(async () => {
    await nginx?.stop();
    for (const p of procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await redis?.stop();
  });

  it('every replica is ready with Redis, and serves() wired it from MCP_REDIS_URL', async () => {
    for (const p of procs) {
      const ready = (await (await fetch(`http://127.0.0.1:${p.port}/ready`)).json()) as {
        ready: boolean;
        checks: Array<{ name: string; healthy: boolean }>;
      };
      expect(ready.ready).toBe(true);
      expect(ready.checks).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'redis', healthy: true })]),
      );
      const listening = await p.waitForLog((line) => line.msg === 'listening');
      expect(listening.features).toEqual(expect.arrayContaining(['redis', 'ratelimit(redis)']));
    }
  });

  it('2026-07-28: input_required rounds complete whichever replica nginx picks', async () => {
    const client = new McpClient(
      { name: 'nginx-modern', version: '1' },
      {
        protocol: 'modern',
        handlers: {
          elicitation: async (p) => ({
            action: 'accept',
            content: String(p.message).includes('color') ? { color: 'red' } : { name: 'Lin' },
          }),
        },
      },
    );
    await client.connect(new StreamableHttpClientTransport(`${nginx.url}/mcp`));
    for (let i = 0; i < 3; i++)
      expect(
        JSON.stringify((await client.callTool('test_input_required_result_multi_round')).content),
      ).toMatch(/Lin[\s\S]*red/);
    await client.close();
  });

  it('a legacy session spreads over all replicas, hears changes raised on any of them, and survives SIGKILL of its stream holder', async () => {
    const client = new McpClient({ name: 'nginx-legacy', version: '1' }, { protocol: 'legacy' });
    const transport = new StreamableHttpClientTransport(`${nginx.url}/mcp`, { standaloneStream: false });
    await client.connect(transport);
    const sid = transport.sessionId as string;
    const h = sessionHeaders(sid, client.protocolVersion);
    for (let i = 0; i < 9; i++) expect((await client.callTool('test_simple_text')).isError).not.toBe(true);
    const upstreams = new Set(
      readFileSync(nginx.accessLogPath, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { mcp_session_id: string; method: string; upstream_addr: string })
        .filter((l) => l.mcp_session_id === sid && l.method === 'POST')
        .map((l) => l.upstream_addr),
    );
    expect([...upstreams].sort()).toEqual(procs.map((p) => `127.0.0.1:${p.port}`).sort());

    // The GET stream lands on one replica; a change raised on each replica reaches it exactly once.
    const stream = await openSse(`${nginx.url}/mcp`, h);
    expect(stream.status).toBe(200);
    await sleep(100);
    for (const p of procs)
      expect(
        (
          await rpc(
            direct(p),
            {
              jsonrpc: '2.0',
              id: `t-${p.port}`,
              method: 'tools/call',
              params: { name: 'test_trigger_tool_change', arguments: {} },
            },
            h,
          )
        ).status,
      ).toBe(200);
    await stream.waitFor((m) => listChanges(m) === 3);
    await sleep(200);
    expect(listChanges(stream.messages())).toBe(3);

    // Kill the replica holding the stream, abruptly.
    const openStreams = await Promise.all(
      procs.map(async (p) =>
        Number(
          /^mcp_open_streams(?:\{[^}]*\})? (\d+)/m.exec(
            await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text(),
          )?.[1] ?? 0,
        ),
      ),
    );
    expect(openStreams.filter((n) => n === 1)).toHaveLength(1);
    const holder = procs[openStreams.indexOf(1)] as Proc;
    const survivors = procs.filter((p) => p !== holder);
    const lastSeen = stream.lastEventId() as string;
    holder.child.kill('SIGKILL');
    await holder.exited;
    await Promise.race([
      stream.ended,
      sleep(5000).then(() => Promise.reject(new Error('stream outlived its replica'))),
    ]);

    // Changes raised while the client has no stream are kept in Redis.
    for (const p of survivors)
      await rpc(
        direct(p),
        {
          jsonrpc: '2.0',
          id: `g-${p.port}`,
          method: 'tools/call',
          params: { name: 'test_trigger_tool_change', arguments: {} },
        },
        h,
      );
    // The client carries on through nginx: every call is answered by a surviving replica.
    for (let i = 0; i < 6; i++)
      expect((await client.callTool('test_simple_text')).content).toEqual([
        { type: 'text', text: 'This is a simple text response for testing.' },
      ]);

    const resumed = await openSse(`${nginx.url}/mcp`, { ...h, 'last-event-id': lastSeen });
    expect(resumed.status).toBe(200);
    await resumed.waitFor((m) => listChanges(m) === 2);
    await client.callTool('test_trigger_tool_change');
    await resumed.waitFor((m) => listChanges(m) === 3);
    await sleep(200);
    const ids = [...stream.events, ...resumed.events].filter((e) => e.data).map((e) => e.id);
    expect(ids).toHaveLength(6);
    expect(new Set(ids).size).toBe(6);
    resumed.close();
    await client.close();
    await eventually(
      async () =>
        (await rpc(direct(survivors[0] as Proc), { jsonrpc: '2.0', id: 'x', method: 'ping' }, h)).status ===
        404,
      3000,
      'session deleted by client.close()',
    );
  });
});
