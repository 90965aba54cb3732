// A tiny replica stand-in for load-balancer tests: it records what reached it (path, headers) and
// speaks the shapes the balancer must carry: JSON POSTs, a slow SSE stream, a WebSocket, /ready.
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export interface TestUpstream {
  readonly name: string;
  readonly port: number;
  /** Requests other than health checks, in arrival order. */
  readonly seen: SeenRequest[];
  /** Date.now() when the last SSE stream was ended by this upstream (0 before any). */
  lastStreamEndedAt(): number;
  /** Draining: /ready and every other request answer 503, as a replica shutting down does. */
  setDraining(draining: boolean): void;
  close(): Promise<void>;
}

export interface TestUpstreamOptions {
  /** Gap between the first and the second SSE event. */
  readonly sseGapMs?: number;
}

export async function startTestUpstream(
  name: string,
  options: TestUpstreamOptions = {},
): Promise<TestUpstream> {
  const seen: SeenRequest[] = [];
  let draining = false;
  let streamEndedAt = 0;
  const gap = options.sseGapMs ?? 300;

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/ready' || path === '/health') {
      const ok = !(draining && path === '/ready');
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(path === '/ready' ? JSON.stringify({ ready: ok, checks: [] }) : '{"status":"healthy"}');
      return;
    }
    seen.push({ method: req.method ?? '', path, headers: req.headers });
    if (draining) {
      res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ error: 'draining', replica: name }));
      return;
    }
    if (req.method === 'GET' && path === '/mcp' && String(req.headers.accept).includes('text/event-stream')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`id: ${name}-1\nevent: message\ndata: {"replica":"${name}","n":1}\n\n`);
      const timer = setTimeout(() => {
        res.write(`id: ${name}-2\nevent: message\ndata: {"replica":"${name}","n":2}\n\n`);
        streamEndedAt = Date.now();
        res.end();
      }, gap);
      res.once('close', () => clearTimeout(timer));
      return;
    }
    if (req.method === 'GET' && path === '/ping') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ replica: name }));
      return;
    }
    // Consume the body, then answer with who served it and the session header echoed back.
    req.resume();
    req.once('end', () => {
      const session = req.headers['mcp-session-id'];
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      headers['mcp-session-id'] = typeof session === 'string' ? session : `${name}-session`;
      res.writeHead(200, headers);
      res.end(JSON.stringify({ replica: name }));
    });
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    if ((req.url ?? '').split('?')[0] !== '/mcp') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data) => ws.send(`${name}:${data.toString()}`));
    });
  });

  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    port,
    seen,
    lastStreamEndedAt: () => streamEndedAt,
    setDraining: (value) => {
      draining = value;
    },
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolvePromise) => server.close(() => resolvePromise()));
    },
  };
}
