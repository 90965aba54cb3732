import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEverythingServer } from '../../examples/everything/server.js';
import { createNodeListener } from '../../src/transport/http/node.js';
import type { Logger } from '../../src/util/logger.js';
import {
  type HostileServer,
  type RawConnection,
  fatalLines,
  heapMiB,
  legacyHeaders,
  modernCall,
  openSession,
  rawConnect,
  rawRequest,
  send,
  sleep,
  startServer,
  statusOf,
  stillServes,
  unexpectedErrors,
  waitUntil,
} from './helpers.js';

/**
 * Clients that are slow on purpose: slowloris headers and bodies (1 byte/s), and SSE readers
 * that never read while the server pushes. The server must shed them on its own timers and
 * buffers, keep memory bounded, and keep serving everyone else meanwhile.
 */

const MiB = 1024 * 1024;

/** Sends `bytes` one per interval until the server closes the connection; resolves with how long that took. */
async function dribble(port: number, head: string, body: string | undefined, intervalMs = 1000) {
  const c = await rawConnect(port);
  const started = Date.now();
  const text = body === undefined ? head : `${head}${body}`;
  // With a body: the headers arrive at once, then the body one byte at a time.
  let i = body === undefined ? 0 : head.length;
  if (body !== undefined) c.socket.write(head);
  const timer = setInterval(() => {
    if (!c.socket.destroyed && i < text.length) c.socket.write(text[i++] as string);
  }, intervalMs);
  return {
    connection: c,
    /** ms from connect until the server closed (-1 if still open `capMs` after connect), and what it said. */
    async outcome(capMs: number) {
      const ms = await Promise.race([
        c.closed,
        sleep(Math.max(0, capMs - (Date.now() - started))).then(() => -1),
      ]);
      clearInterval(timer);
      c.socket.destroy();
      return { ms, status: statusOf(c.received()), received: c.received() };
    },
  };
}

const slowHead = (port: number) =>
  `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\nx-padding: ${'p'.repeat(200)}\r\n\r\n`;
const slowBodyHead = (port: number) =>
  `POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\naccept: application/json\r\nmcp-protocol-version: 2026-07-28\r\nmcp-method: tools/list\r\ncontent-length: 600\r\n\r\n`;
const SLOW_BODY = `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}${' '.repeat(600 - 58)}`;

describe('slowloris against a node:http server with short timeouts (createNodeListener)', () => {
  // serve() has no knob for these (see the serve() block below); a server built on
  // createNodeListener sets them on node:http directly.
  let http: Server;
  let port: number;
  let slowBody: ReturnType<typeof dribble> extends Promise<infer T> ? T : never;
  const errors: unknown[] = [];
  const logger: Logger = {
    trace() {},
    debug() {},
    info() {},
    warn() {},
    error: (obj: unknown, msg?: string) => void errors.push({ obj, msg }),
    fatal: (obj: unknown, msg?: string) => void errors.push({ obj, msg }),
    child: () => logger,
  } as unknown as Logger;

  beforeAll(async () => {
    http = createServer(
      { headersTimeout: 1000, requestTimeout: 2000, connectionsCheckingInterval: 100 },
      createNodeListener(createEverythingServer({ logger })),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    port = (http.address() as AddressInfo).port;
    // Dribbles alongside the slowloris headers below.
    slowBody = await dribble(port, slowBodyHead(port), SLOW_BODY);
  });
  afterAll(async () => {
    http?.closeAllConnections();
    await new Promise((resolve) => http?.close(resolve));
  });

  it('closes 200 concurrent slowloris connections (headers at 1 byte/s) with 408 and serves others meanwhile', async () => {
    const attackers = await Promise.all(
      Array.from({ length: 200 }, () => dribble(port, slowHead(port), undefined)),
    );
    // While they dribble, a normal client is served promptly.
    const started = Date.now();
    const { body, headers } = modernCall(1, 'greet', { name: 'meanwhile' });
    const served = await send(port, body, headers, { agent: false });
    expect(served.json.result.content[0].text).toBe('Hello, meanwhile!');
    expect(Date.now() - started).toBeLessThan(2000);
    const outcomes = await Promise.all(attackers.map((a) => a.outcome(8000)));
    for (const o of outcomes) {
      expect(o.ms).toBeGreaterThan(0);
      expect(o.ms).toBeLessThan(4000);
      expect(o.status).toBe(408);
    }
  });

  it('closes a slow body (1 byte/s) with 408 at the request timeout', async () => {
    const o = await slowBody.outcome(8000);
    expect(o.ms).toBeGreaterThan(0);
    expect(o.ms).toBeLessThan(4000);
    expect(o.status).toBe(408);
    const { body, headers } = modernCall(2, 'greet', { name: 'after' });
    expect((await send(port, body, headers, { agent: false })).json.result.content[0].text).toBe(
      'Hello, after!',
    );
  });

  // Finding: when a client goes away mid-body (request timeout, disconnect), NodeIO.readBody
  // rejects with "request aborted" and StreamableHttpHandler.handle() logs it at error level as
  // "HTTP handler failed", then tries a 500 on the dead socket. Any client can write error lines
  // at will, and alerting on error logs pages someone for a client's behaviour. Fix: treat a
  // rejected readBody as the client leaving (return without answering; log at debug), e.g. let
  // readBody resolve a distinct "aborted" outcome that post() ignores.
  it('does not log a client that left mid-body as a server failure', async () => {
    expect(errors).toEqual([]);
  });
});

describe('slowloris against serve()', () => {
  let s: HostileServer;
  let headers: ReturnType<typeof dribble> extends Promise<infer T> ? T : never;
  let body: typeof headers;
  beforeAll(async () => {
    // MCP_KEEPALIVE_TIMEOUT_SECS=1 makes serve() set headersTimeout to 2 s; MCP_REQUEST_TIMEOUT_SECS
    // is the knob proposed below (today requestTimeout is fixed at 120 s).
    s = await startServer({ MCP_KEEPALIVE_TIMEOUT_SECS: '1', MCP_REQUEST_TIMEOUT_SECS: '3' });
    [headers, body] = await Promise.all([
      dribble(s.port, slowHead(s.port), undefined),
      dribble(s.port, slowBodyHead(s.port), SLOW_BODY),
    ]);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('keeps serving normal clients while both dribble', async () => {
    await stillServes(s.port);
  });

  // Finding: serve() sets headersTimeout (keep-alive + 1 s) but creates its node:http server
  // without `connectionsCheckingInterval`, so Node checks it only every 30 s: a slowloris
  // connection lives up to ~32 s instead of 2 s. Fix: createServer({ connectionsCheckingInterval:
  // Math.min(1000, headersTimeout / 2), ... }) in createHttp (src/runtime/serve.ts).
  it('closes slowloris headers within its 2 s headers timeout (+ slack)', async () => {
    const o = await headers.outcome(5000);
    expect(o.ms).toBeGreaterThan(0);
    expect(o.status).toBe(408);
  });

  // Finding: serve() hard-codes requestTimeout = 120 s and reads no variable for it, so a body
  // sent at 1 byte/s holds a connection and an in-flight handler for two minutes. Fix: read
  // MCP_REQUEST_TIMEOUT_SECS (and MCP_HEADERS_TIMEOUT_SECS) in loadConfig, apply them in serve(),
  // together with the checking interval above.
  it('closes a slow body within a configurable request timeout (MCP_REQUEST_TIMEOUT_SECS=3)', async () => {
    const o = await body.outcome(6000);
    expect(o.ms).toBeGreaterThan(0);
    expect(o.status).toBe(408);
  });

  it('logged no handler failure and nothing reached the process level', () => {
    expect(s.alive()).toBe(true);
    expect(fatalLines(s)).toEqual([]);
    expect(unexpectedErrors(s)).toEqual([]);
  });
});

describe('SSE readers that never read', () => {
  const BUFFER = 256 * 1024;
  let s: HostileServer;
  beforeAll(async () => {
    s = await startServer({}, { maxStreamBufferBytes: BUFFER });
    await stillServes(s.port);
  });
  afterAll(async () => {
    await s?.close();
  });

  const dropped: RawConnection[] = [];

  it('2026: 128 MB of progress pushed at a stalled POST stream: the stream is dropped, memory stays bounded', async () => {
    const before = await s.stats();
    const c = await rawConnect(s.port);
    const { body, headers } = modernCall(
      'flood',
      'flood_progress',
      { count: 2000, bytes: 64 * 1024 },
      { progressToken: 'p' },
    );
    c.socket.write(rawRequest(s.port, 'POST', headers, JSON.stringify(body)));
    await c.waitFor((t) => t.includes('notifications/progress'));
    c.socket.pause();
    dropped.push(c);
    // The handler keeps producing (its writes go nowhere once the stream is dropped) and finishes.
    const done = await waitUntil(
      () => s.stats(),
      (st) => st.counters.floodSent - before.counters.floodSent === 2000,
      30_000,
      250,
    );
    expect(done.counters.floodSent - before.counters.floodSent).toBe(2000);
    expect(done.streams).toBe(before.streams);
    // 128 MB went through the handler; the server held at most its buffer plus socket slack.
    expect((done.maxRss - before.maxRss) / MiB).toBeLessThan(64);
    expect(heapMiB(done) - heapMiB(before)).toBeLessThan(8);
    await stillServes(s.port);
  }, 60_000);

  it('legacy: change notifications pushed at a stalled GET stream: the stream is dropped, memory stays bounded', async () => {
    const sid = await openSession(s.port);
    const before = await s.stats();
    const c = await rawConnect(s.port);
    c.socket.write(rawRequest(s.port, 'GET', { ...legacyHeaders(sid), accept: 'text/event-stream' }));
    await c.waitFor((t) => t.includes('\r\n\r\n'));
    c.socket.pause();
    dropped.push(c);
    expect((await s.stats()).streams).toBe(before.streams + 1);
    let announced = 0;
    let now = before;
    // Kernel socket buffers take a few MB first; push until the stream overflows its 256 KiB.
    while (announced < 200_000) {
      const { body, headers } = modernCall(`flood-${announced}`, 'flood_list_changed', { count: 10_000 });
      const reply = await send(s.port, body, headers, { agent: false, timeoutMs: 30_000 });
      expect(reply.json?.result?.content?.[0]?.text).toBe('announced 10000');
      announced += 10_000;
      now = await s.stats();
      if (now.streams === before.streams) break;
    }
    expect(now.streams).toBe(before.streams);
    expect(now.sessions).toBe(before.sessions);
    expect((now.maxRss - before.maxRss) / MiB).toBeLessThan(64);
    expect(heapMiB(now) - heapMiB(before)).toBeLessThan(8);
    await stillServes(s.port);
  }, 90_000);

  // Finding: SseStream drops a slow reader with sink.end() (res.end()), a graceful close that can
  // only complete once the client reads what is queued. A client that never reads keeps the TCP
  // connection, the kernel's socket buffers (several MB on loopback) and Node's pending writes
  // for as long as it likes: repeat it and the server runs out of sockets and kernel memory,
  // though the handler forgot the stream. Fix: when dropping for overflow, destroy the response
  // (add `destroy()` to StreamSink; NodeIO: res.destroy(); fetch: controller.error()).
  // Partly addressed: overflow now ends the stream and destroys the connection after a 1 s grace,
  // but the connections of these two streams still outlive the 2 s window (open finding).
  it.fails('closes the connections of the dropped streams even though their clients never read', async () => {
    const st = await waitUntil(
      () => s.stats(),
      (x) => x.connections === 0,
      2000,
      200,
    );
    expect(st.connections).toBe(0);
  });

  it('logged no handler failure and nothing reached the process level', () => {
    for (const c of dropped) c.socket.destroy();
    expect(s.alive()).toBe(true);
    expect(fatalLines(s)).toEqual([]);
    expect(unexpectedErrors(s)).toEqual([]);
  });
});
