import { afterEach, describe, expect, it } from 'vitest';
import { McpClient } from '../../src/client/client.js';
import { McpServer } from '../../src/server/server.js';
import { WebSocketClientTransport } from '../../src/transport/websocket/index.js';
import { type Harness, connectClient, rawSocket, startServer, waitFor } from './helpers.js';

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

function makeServer(label: string) {
  const server = new McpServer({ name: `server-${label}`, version: '1.0.0' });
  server.tool('where', { description: 'which server answered' }, () => label);
  server.tool(
    'hang',
    { description: 'never finishes' },
    (_args, ctx) =>
      new Promise((_resolve, reject) =>
        ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))),
      ),
  );
  return server;
}

/**
 * The reconnect loop the transport leaves to callers: a fresh transport and client per
 * attempt, exponential backoff, bounded attempts.
 */
async function connectWithRetry(
  url: string,
  protocol: 'modern' | 'legacy',
  attempts = 40,
  firstDelayMs = 25,
) {
  let delay = firstDelayMs;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const client = new McpClient({ name: 'reconnecting', version: '1.0.0' }, { protocol });
    try {
      await client.connect(new WebSocketClientTransport(url, { connectTimeoutMs: 1000 }));
      return { client, attempt };
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 200);
    }
  }
  throw lastError;
}

describe.each(['modern', 'legacy'] as const)('lifecycle (%s)', (protocol) => {
  it('a client reconnects with a new transport after the server closed its socket', async () => {
    const first = await startServer(makeServer('first'));
    harnesses.push(first);
    const { client, transport } = await connectClient(first.wsUrl, { protocol });
    expect((await client.callTool('where')).content[0]).toMatchObject({ text: 'first' });
    const pending = client.callTool('hang').then(
      () => 'resolved',
      (err: unknown) => err,
    );
    const closed = new Promise<void>((resolve) => client.onClose(resolve));
    await waitFor(() => first.attachment.size === 1);

    // Shutdown: every socket gets 1001, in-flight requests fail on the client instead of hanging.
    await first.close();
    harnesses.length = 0;
    await closed;
    expect(await pending).toMatchObject({ code: 'CONNECTION_CLOSED' });
    expect({ code: transport.closeCode, reason: transport.closeReason }).toEqual({
      code: 1001,
      reason: 'server shutting down',
    });
    await expect(client.callTool('where')).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });

    // The replacement comes up on the same port a little later; the client keeps trying until it does.
    const port = first.port;
    const restart = new Promise<Harness>((resolve, reject) => {
      setTimeout(() => startServer(makeServer('second'), {}, port).then(resolve, reject), 150);
    });
    const { client: next, attempt } = await connectWithRetry(first.wsUrl, protocol);
    harnesses.push(await restart);
    expect(attempt).toBeGreaterThan(1);
    expect(next.era).toBe(protocol);
    expect((await next.callTool('where')).content[0]).toMatchObject({ text: 'second' });
    await next.close();
  });
});

describe('closing from either side', () => {
  it('closing the server connection sends 1000 to the client; closing the client ends the server connection', async () => {
    const h = await startServer(makeServer('x'));
    harnesses.push(h);
    const { client, transport } = await connectClient(h.wsUrl, { protocol: 'modern' });
    await waitFor(() => h.attachment.size === 1);
    const serverSide = [...h.attachment.connections][0]!;
    const connection = h.attachment.connectionOf(serverSide);
    expect(connection).toBeDefined();
    await connection!.close();
    await new Promise<void>((resolve) => client.onClose(resolve));
    expect(transport.closeCode).toBe(1000);
    await waitFor(() => h.attachment.size === 0);

    const again = await connectClient(h.wsUrl, { protocol: 'legacy' });
    await waitFor(() => h.attachment.size === 1);
    const conn = h.attachment.connectionOf([...h.attachment.connections][0]!)!;
    await again.client.close();
    await conn.closed;
    await waitFor(() => h.attachment.size === 0);
    expect([...h.attachment.connections]).toEqual([]);
  });

  it('closing the McpServer closes its sockets with 1001 and refuses new upgrades', async () => {
    const server = makeServer('y');
    const h = await startServer(server);
    harnesses.push(h);
    const raw = await rawSocket(h.wsUrl);
    await server.close();
    expect(await raw.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    await h.attachment.close();
    expect(h.http.listenerCount('upgrade')).toBe(0);
    await expect(rawSocket(h.wsUrl)).rejects.toThrow();
  });
});
