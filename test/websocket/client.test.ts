import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { McpClient } from '../../src/client/client.js';
import { McpServer } from '../../src/server/server.js';
import { WebSocketClientTransport, type WebSocketConstructor } from '../../src/transport/websocket/index.js';
import { type Harness, startServer } from './helpers.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const Ws = WebSocket as unknown as WebSocketConstructor;
const globalWebSocket = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
/** Node 20 has no global WebSocket; there only the ws row runs. */
const IMPLS: Array<[string, WebSocketConstructor]> = globalWebSocket
  ? [
      ['ws package', Ws],
      ['global WebSocket', globalWebSocket],
    ]
  : [['ws package', Ws]];

function makeServer() {
  const server = new McpServer({ name: 'client-side', version: '1.0.0' });
  server.tool('sized', { description: 'n bytes of text' }, (args) => 'y'.repeat(Number(args.n ?? 0)));
  server.tool('echo', { description: 'echo' }, (args) => JSON.stringify(args));
  return server;
}

describe('WebSocketClientTransport', () => {
  it('validates options and names the wrong one', () => {
    expect(() => new WebSocketClientTransport('not a url')).toThrow(/"url"/);
    expect(() => new WebSocketClientTransport('ftp://127.0.0.1/mcp')).toThrow(/"url"/);
    expect(() => new WebSocketClientTransport('ws://127.0.0.1/mcp', { protocols: ['bad protocol'] })).toThrow(
      /"protocols"/,
    );
    expect(
      () => new WebSocketClientTransport('ws://127.0.0.1/mcp', { headers: { 'x-a': 'line\r\nbreak' } }),
    ).toThrow(/"headers"/);
    expect(() => new WebSocketClientTransport('ws://127.0.0.1/mcp', { connectTimeoutMs: 0 })).toThrow(
      /"connectTimeoutMs"/,
    );
    expect(() => new WebSocketClientTransport('ws://127.0.0.1/mcp', { maxPayload: -1 })).toThrow(
      /"maxPayload"/,
    );
    expect(() => new WebSocketClientTransport('ws://127.0.0.1/mcp', { WebSocket: 'ws' as never })).toThrow(
      /"WebSocket"/,
    );
    expect(new WebSocketClientTransport('https://example.com/mcp').url.protocol).toBe('wss:');
    expect(new WebSocketClientTransport('http://example.com/mcp').url.protocol).toBe('ws:');
  });

  it.each(IMPLS)(
    'closes with 1009 when the server sends a message above maxPayload (%s)',
    async (_name, impl) => {
      harness = await startServer(makeServer());
      const transport = new WebSocketClientTransport(harness.wsUrl, { WebSocket: impl, maxPayload: 4096 });
      const client = new McpClient({ name: 'c', version: '1' }, { protocol: 'modern' });
      await client.connect(transport);
      expect((await client.callTool('sized', { n: 1000 })).content[0]).toMatchObject({
        text: 'y'.repeat(1000),
      });
      const outcome = await client.callTool('sized', { n: 10_000 }).then(
        () => 'answered',
        (err: { code?: string }) => err.code,
      );
      expect(outcome).toBe('CONNECTION_CLOSED');
      expect(transport.closeCode).toBe(1009);
    },
  );

  it('is single-use, refuses sends once closed, and reports refused connections', async () => {
    harness = await startServer(makeServer());
    const transport = new WebSocketClientTransport(harness.wsUrl, { WebSocket: Ws });
    await transport.start();
    await expect(transport.start()).rejects.toThrow(/single-use/);
    await transport.close();
    expect(transport.closeCode).toBe(1000);
    await expect(transport.send({ jsonrpc: '2.0', method: 'x' })).rejects.toMatchObject({
      code: 'CONNECTION_CLOSED',
    });
    const port = harness.port;
    await harness.close();
    harness = undefined;
    await expect(
      new WebSocketClientTransport(`ws://127.0.0.1:${port}/mcp`, { WebSocket: Ws }).start(),
    ).rejects.toMatchObject({
      code: 'TRANSPORT',
    });
  });

  it('fails the handshake after connectTimeoutMs when the server never answers', async () => {
    const { createServer } = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    await expect(
      new WebSocketClientTransport(`ws://127.0.0.1:${port}/mcp`, {
        WebSocket: Ws,
        connectTimeoutMs: 200,
      }).start(),
    ).rejects.toThrow(/failed/);
    expect(Date.now() - started).toBeLessThan(2000);
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });
});
