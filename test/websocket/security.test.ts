import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { McpServer } from '../../src/server/server.js';
import {
  HttpError,
  type UpgradeRequest,
  type WebSocketConstructor,
} from '../../src/transport/websocket/index.js';
import { type Harness, connectClient, rawSocket, refusedUpgrade, startServer } from './helpers.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

function makeServer() {
  const server = new McpServer({ name: 'secure', version: '1.0.0' });
  server.tool('whoami', { description: 'the caller as the transport authenticated it' }, (_args, ctx) =>
    JSON.stringify({
      subject: ctx.auth?.subject ?? null,
      scopes: ctx.auth?.scopes ?? [],
      transport: ctx.transport,
    }),
  );
  return server;
}

const TOKENS: Record<string, { subject: string; scopes: string[]; expiresAt?: number }> = {
  'good-token': { subject: 'alice', scopes: ['tools:call'] },
};

/** A bearer-token authenticator written against the HttpIO subset, so it serves Streamable HTTP as well. */
function bearer(request: Pick<UpgradeRequest, 'header'>) {
  const header = request.header('authorization');
  const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
  const challenge = {
    'www-authenticate':
      'Bearer realm="mcp", resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource"',
  };
  if (token === undefined) throw new HttpError(401, 'Unauthorized: bearer token required', challenge, -32040);
  const principal = TOKENS[token];
  if (!principal) {
    throw new HttpError(
      401,
      'Unauthorized: invalid token',
      { 'www-authenticate': 'Bearer error="invalid_token"' },
      -32040,
    );
  }
  return { ...principal, token };
}

describe('Origin and Host', () => {
  it('rejects a foreign Origin with 403 before upgrading, and accepts loopback and same-host origins', async () => {
    harness = await startServer(makeServer());
    const refused = await refusedUpgrade(harness.wsUrl, { origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({
      error: { code: -32600, message: 'Forbidden: Origin "https://evil.example" is not allowed' },
    });
    for (const origin of [`http://localhost:${harness.port}`, `http://127.0.0.1:${harness.port}`]) {
      const ok = await rawSocket(harness.wsUrl, { origin });
      ok.ws.close();
    }
    expect(harness.attachment.size).toBeLessThanOrEqual(2);
  });

  it('honours an Origin allow-list', async () => {
    harness = await startServer(makeServer(), { allowedOrigins: ['https://app.example'] });
    const ok = await rawSocket(harness.wsUrl, { origin: 'https://app.example' });
    ok.ws.close();
    expect((await refusedUpgrade(harness.wsUrl, { origin: `http://localhost:${harness.port}` })).status).toBe(
      403,
    );
  });

  it('rejects a non-loopback Host on a loopback listener (DNS rebinding)', async () => {
    harness = await startServer(makeServer());
    const refused = await refusedUpgrade(harness.wsUrl, { headers: { host: 'attacker.example' } });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error.message).toBe('Forbidden: Host "attacker.example" is not allowed');
  });
});

describe('subprotocol', () => {
  it('selects mcp among offered protocols, refuses offers without it, and accepts clients that offer none', async () => {
    harness = await startServer(makeServer());
    const picked = await rawSocket(harness.wsUrl, { protocols: ['graphql-ws', 'mcp'] });
    expect(picked.ws.protocol).toBe('mcp');
    picked.ws.close();
    const refused = await refusedUpgrade(harness.wsUrl, { protocols: ['graphql-ws'] });
    expect(refused.status).toBe(400);
    expect(refused.headers['sec-websocket-protocol']).toBe('mcp');
    expect(JSON.parse(refused.body).error.message).toBe('Bad Request: subprotocol "mcp" is required');
    const none = await rawSocket(harness.wsUrl, { protocols: [] });
    expect(none.ws.protocol).toBe('');
    none.ws.close();
  });

  it('with requireSubprotocol, refuses clients that offer none', async () => {
    harness = await startServer(makeServer(), { requireSubprotocol: true });
    expect((await refusedUpgrade(harness.wsUrl, { protocols: [] })).status).toBe(400);
    (await rawSocket(harness.wsUrl)).ws.close();
  });
});

describe('authentication on the upgrade', () => {
  it('answers 401 with WWW-Authenticate for a missing or invalid token, without upgrading', async () => {
    harness = await startServer(makeServer(), { authenticate: bearer });
    const missing = await refusedUpgrade(harness.wsUrl);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer realm="mcp", resource_metadata=/);
    expect(JSON.parse(missing.body)).toMatchObject({
      error: { code: -32040, message: 'Unauthorized: bearer token required' },
    });
    const invalid = await refusedUpgrade(harness.wsUrl, { headers: { authorization: 'Bearer nope' } });
    expect(invalid.status).toBe(401);
    expect(invalid.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(harness.attachment.size).toBe(0);
    // The client transport reports the refusal as a connection error.
    await expect(
      connectClient(
        harness.wsUrl,
        { protocol: 'modern' },
        { WebSocket: WebSocket as unknown as WebSocketConstructor },
      ),
    ).rejects.toThrow(/HTTP 401/);
  });

  it.each(['modern', 'legacy'] as const)(
    'hands the upgrade principal to tools in every request (%s)',
    async (protocol) => {
      harness = await startServer(makeServer(), { authenticate: bearer });
      const { client } = await connectClient(
        harness.wsUrl,
        { protocol },
        { headers: { authorization: 'Bearer good-token' } },
      );
      const result = await client.callTool('whoami');
      expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual({
        subject: 'alice',
        scopes: ['tools:call'],
        transport: 'websocket',
      });
      const connection = [...harness.attachment.connections][0];
      expect(connection?.auth).toMatchObject({ subject: 'alice', token: 'good-token' });
      await client.close();
    },
  );

  it('refuses an already-expired token and closes with 1008 when the token expires mid-connection', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 1;
    TOKENS['short-token'] = { subject: 'bob', scopes: [], expiresAt };
    TOKENS['stale-token'] = { subject: 'carol', scopes: [], expiresAt: Math.floor(Date.now() / 1000) - 10 };
    harness = await startServer(makeServer(), { authenticate: bearer });
    const stale = await refusedUpgrade(harness.wsUrl, { headers: { authorization: 'Bearer stale-token' } });
    expect(stale.status).toBe(401);
    expect(stale.headers['www-authenticate']).toMatch(/invalid_token/);
    const raw = await rawSocket(harness.wsUrl, { headers: { authorization: 'Bearer short-token' } });
    const { code, reason } = await raw.closed;
    expect({ code, reason }).toEqual({ code: 1008, reason: 'token expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt * 1000);
  });

  it('answers 500 when the authenticator fails unexpectedly', async () => {
    harness = await startServer(makeServer(), {
      authenticate: () => {
        throw new Error('database down');
      },
    });
    const refused = await refusedUpgrade(harness.wsUrl);
    expect(refused.status).toBe(500);
    expect(refused.body).not.toMatch(/database/);
  });
});

describe('routing and limits', () => {
  it('answers 404 for other paths, unless another upgrade listener owns them', async () => {
    harness = await startServer(makeServer());
    const root = `ws://127.0.0.1:${harness.port}/other`;
    expect((await refusedUpgrade(root)).status).toBe(404);
    // A well-behaved neighbour (the ws multi-path pattern): it handles its own path and ignores the rest.
    const other = new WebSocketServer({ noServer: true });
    other.on('connection', (ws) => ws.send('{"from":"other"}'));
    harness.http.on('upgrade', (req, socket, head) => {
      if (req.url === '/other')
        other.handleUpgrade(req, socket, head, (ws) => other.emit('connection', ws, req));
    });
    const owned = await rawSocket(root);
    expect(await owned.next()).toEqual({ from: 'other' });
    owned.ws.close();
    // Our own path still upgrades to MCP with the second listener present.
    const mcp = await rawSocket(harness.wsUrl);
    mcp.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(await mcp.next((m) => m.id === 1)).toMatchObject({ result: {} });
    mcp.ws.close();
    await new Promise<void>((resolve) => other.close(() => resolve()));
  });

  it('answers 503 past maxConnections', async () => {
    harness = await startServer(makeServer(), { maxConnections: 2 });
    const a = await rawSocket(harness.wsUrl);
    const b = await rawSocket(harness.wsUrl);
    const refused = await refusedUpgrade(harness.wsUrl);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    a.ws.close();
    await a.closed;
    const deadline = Date.now() + 2000;
    while (harness.attachment.size > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const c = await rawSocket(harness.wsUrl);
    b.ws.close();
    c.ws.close();
  });

  it('validates options and names the wrong one', async () => {
    const { attachWebSocket } = await import('../../src/transport/websocket/index.js');
    const { createServer } = await import('node:http');
    const http = createServer();
    const server = makeServer();
    expect(() => attachWebSocket(http, server, { path: 'mcp' })).toThrow(/"path"/);
    expect(() => attachWebSocket(http, server, { maxPayload: 0 })).toThrow(/"maxPayload"/);
    expect(() => attachWebSocket(http, server, { keepAliveMs: -1 })).toThrow(/"keepAliveMs"/);
    expect(() => attachWebSocket(http, server, { maxBufferedBytes: Number.NaN })).toThrow(
      /"maxBufferedBytes"/,
    );
    expect(() => attachWebSocket(http, server, { allowedOrigins: 'nope' as never })).toThrow(
      /"allowedOrigins"/,
    );
    expect(() => attachWebSocket(http, server, { authenticate: 'x' as never })).toThrow(/"authenticate"/);
    expect(() => attachWebSocket({} as never, server)).toThrow(/"httpServer"/);
    expect(http.listenerCount('upgrade')).toBe(0);
  });
});
