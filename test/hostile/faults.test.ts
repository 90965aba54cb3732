import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HostileServer,
  type ServerStats,
  fatalLines,
  isJsonRpcError,
  legacyHeaders,
  meta,
  modernCall,
  modernHeaders,
  openSession,
  rawConnect,
  rawRequest,
  send,
  sleep,
  sseMessages,
  startServer,
  statusOf,
  stillServes,
  unexpectedErrors,
  waitUntil,
} from './helpers.js';

/**
 * Faults inside the server: handlers that throw, reject, hang or fail after the client gave up;
 * clients that vanish mid-stream; an event loop blocked by a CPU-bound handler. The server
 * answers what it should, drops what it should, and nothing reaches the process level.
 * The server logs at debug level here so that what handlers' errors put in the log is visible.
 */

let s: HostileServer;
beforeAll(async () => {
  s = await startServer({ MCP_LOG_LEVEL: 'debug' });
  await stillServes(s.port);
});
afterAll(async () => {
  await s?.close();
});

const counter = (name: keyof ServerStats['counters'], atLeast: number) =>
  waitUntil(
    () => s.stats(),
    (st) => st.counters[name] >= atLeast,
    10_000,
    50,
  ).then((st) => st.counters[name]);

async function legacyCall(sid: string, id: number, name: string, args: Record<string, unknown> = {}) {
  return send(
    s.port,
    { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } },
    legacyHeaders(sid),
  );
}

describe('handlers that fail', () => {
  it.each(['fault_throw_sync', 'fault_reject'])(
    '%s: a tool error result (isError) in both eras, and the server carries on',
    async (tool) => {
      const { body, headers } = modernCall(1, tool);
      const modern = await send(s.port, body, headers);
      expect(modern.status).toBe(200);
      expect(modern.json).toMatchObject({
        jsonrpc: '2.0',
        id: 1,
        result: { isError: true, content: [{ type: 'text', text: expect.any(String) }] },
      });
      const sid = await openSession(s.port);
      const legacy = await legacyCall(sid, 2, tool);
      expect(legacy.json).toMatchObject({ jsonrpc: '2.0', id: 2, result: { isError: true } });
      await stillServes(s.port);
    },
  );

  it('200 concurrent failing calls all come back as tool errors', async () => {
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const { body, headers } = modernCall(i, i % 2 ? 'fault_throw_sync' : 'fault_reject');
        return send(s.port, body, headers);
      }),
    );
    replies.forEach((r, i) => expect(r.json).toMatchObject({ id: i, result: { isError: true } }));
  });

  it('a resource handler that throws: -32603 "Internal error", its message withheld (exposeInternalErrors off)', async () => {
    const reply = await send(
      s.port,
      {
        jsonrpc: '2.0',
        id: 3,
        method: 'resources/read',
        params: { uri: 'test://fault-resource', _meta: meta() },
      },
      modernHeaders('resources/read', 'test://fault-resource'),
    );
    expect(isJsonRpcError(reply.json)).toBe(true);
    expect(reply.json).toEqual({ jsonrpc: '2.0', id: 3, error: { code: -32603, message: 'Internal error' } });
    expect(reply.text).not.toContain(s.secret);
  });

  // Finding: a tool handler's exception becomes an isError result carrying err.message verbatim
  // (tools/call in src/server/features.ts, toolError), whatever exposeInternalErrors says, so the
  // connection string or bearer token a driver put in its message goes to the client (and to the
  // model). Fix: run the message through redact() from src/security/redact.ts before building
  // the result (it replaces URL credentials, bearer tokens, key=value secrets), or use a generic
  // message unless exposeInternalErrors is on.
  it('tool error messages reach the client with credentials redacted', async () => {
    for (const tool of ['fault_throw_sync', 'fault_reject']) {
      const { body, headers } = modernCall(4, tool);
      const reply = await send(s.port, body, headers);
      expect(reply.json.result.isError).toBe(true);
      expect(reply.text).not.toContain(s.secret);
    }
  });

  // Finding: the runtime logger redacts by key (pinoRedactPaths) but not inside strings, and
  // handler errors are logged as `err` objects: "request failed" (error level) and "tool handler
  // threw" (debug) write the credentials in err.message and err.stack. Fix: give
  // createRuntimeLogger (src/runtime/logging.ts) an `err` serializer that passes
  // pino.stdSerializers.err(e) through redact(), which also rewrites secrets inside strings.
  it('logs never contain the credentials carried by handler error messages', async () => {
    await sleep(200);
    const leaking = s.logs().filter((line) => JSON.stringify(line).includes(s.secret));
    expect(leaking).toEqual([]);
  });
});

describe('cancellation, hangs and vanishing clients (2026-07-28: the connection is the request)', () => {
  it('a hung handler sees ctx.signal abort when its client disconnects', async () => {
    const before = (await s.stats()).counters;
    const c = await rawConnect(s.port);
    const { body, headers } = modernCall('hang', 'fault_hang');
    c.socket.write(rawRequest(s.port, 'POST', headers, JSON.stringify(body)));
    expect(await counter('hangStarted', before.hangStarted + 1)).toBe(before.hangStarted + 1);
    c.socket.destroy();
    expect(await counter('hangAborted', before.hangAborted + 1)).toBe(before.hangAborted + 1);
  });

  it('a handler that rejects after its client left is harmless', async () => {
    const before = (await s.stats()).counters;
    const c = await rawConnect(s.port);
    const { body, headers } = modernCall('late', 'fault_reject_after_cancel');
    c.socket.write(rawRequest(s.port, 'POST', headers, JSON.stringify(body)));
    await sleep(100);
    c.socket.destroy();
    expect(await counter('rejectedAfterCancel', before.rejectedAfterCancel + 1)).toBe(
      before.rejectedAfterCancel + 1,
    );
    await stillServes(s.port);
  });

  it('a client vanishing mid-SSE aborts ctx.signal; writes after that go nowhere, harmlessly', async () => {
    const before = await s.stats();
    const c = await rawConnect(s.port);
    const { body, headers } = modernCall('sse', 'fault_stream_then_wait', {}, { progressToken: 'tok' });
    c.socket.write(rawRequest(s.port, 'POST', headers, JSON.stringify(body)));
    await c.waitFor((t) => t.includes('notifications/progress'));
    expect(c.received()).toMatch(/content-type: text\/event-stream/i);
    c.socket.destroy();
    expect(await counter('streamAborted', before.counters.streamAborted + 1)).toBe(
      before.counters.streamAborted + 1,
    );
    expect(await counter('lateWrites', before.counters.lateWrites + 1)).toBe(before.counters.lateWrites + 1);
    const after = await waitUntil(
      () => s.stats(),
      (st) => st.streams === before.streams,
      5000,
    );
    expect(after.streams).toBe(before.streams);
  });
});

describe('cancellation, hangs and vanishing clients (legacy sessions)', () => {
  it('notifications/cancelled aborts a hung handler', async () => {
    const sid = await openSession(s.port);
    const before = (await s.stats()).counters;
    const c = await rawConnect(s.port);
    c.socket.write(
      rawRequest(
        s.port,
        'POST',
        legacyHeaders(sid),
        JSON.stringify({
          jsonrpc: '2.0',
          id: 5,
          method: 'tools/call',
          params: { name: 'fault_hang', arguments: {} },
        }),
      ),
    );
    await counter('hangStarted', before.hangStarted + 1);
    const cancel = await send(
      s.port,
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5, reason: 'user gave up' } },
      legacyHeaders(sid),
    );
    expect(cancel.status).toBe(202);
    expect(await counter('hangAborted', before.hangAborted + 1)).toBe(before.hangAborted + 1);
    c.socket.destroy();
  });

  // Finding: after notifications/cancelled the handler's signal aborts, but the POST that carried
  // the request stays open until the handler settles (StreamableHttpHandler.serve awaits
  // server.handle). A handler that ignores its signal holds the client's connection (and the
  // exchange) forever. Fix: in PostExchange, when the session controller aborts, finish the
  // exchange at once (finish(undefined, 0): 202, or close the SSE stream) and ignore what the
  // handler returns later.
  it('ends the HTTP exchange of a cancelled request even if its handler never settles', async () => {
    const sid = await openSession(s.port);
    const before = (await s.stats()).counters;
    const c = await rawConnect(s.port);
    c.socket.write(
      rawRequest(
        s.port,
        'POST',
        legacyHeaders(sid),
        JSON.stringify({
          jsonrpc: '2.0',
          id: 6,
          method: 'tools/call',
          params: { name: 'fault_hang', arguments: {} },
        }),
      ),
    );
    await counter('hangStarted', before.hangStarted + 1);
    await send(
      s.port,
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 6 } },
      legacyHeaders(sid),
    );
    try {
      await c.waitFor((t) => statusOf(t) !== undefined, 2000);
      expect(statusOf(c.received())).toBe(202);
    } finally {
      c.socket.destroy();
    }
  });

  // Finding: a tool that fails after its request was cancelled still gets a response: tools/call
  // turns the exception into an isError *result*, and serve() only suppresses the response of a
  // cancelled request when server.handle rejects. The spec says the receiver should not respond
  // to a cancelled request. Any tool that honours its signal hits this (the everything server's
  // slow_compute answers "cancelled" as an isError result; see the soak's cancellations scenario).
  // Fix: in serve(), check exchange.signal.aborted (legacy) after
  // server.handle resolves too, and finish(undefined, 0) instead of sending the result.
  it('sends no response for a cancelled request whose handler then fails', async () => {
    const sid = await openSession(s.port);
    const pending = send(
      s.port,
      {
        jsonrpc: '2.0',
        id: 7,
        method: 'tools/call',
        params: { name: 'fault_reject_after_cancel', arguments: {} },
      },
      legacyHeaders(sid),
      { agent: false },
    );
    await sleep(200);
    await send(
      s.port,
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7 } },
      legacyHeaders(sid),
    );
    const reply = await pending;
    expect(reply.text).toBe('');
    expect(reply.status).toBe(202);
  });

  it('a client vanishing mid-stream does not cancel; the result waits for it to resume (Last-Event-ID)', async () => {
    const sid = await openSession(s.port);
    const before = await s.stats();
    const c = await rawConnect(s.port);
    c.socket.write(
      rawRequest(
        s.port,
        'POST',
        legacyHeaders(sid),
        JSON.stringify({
          jsonrpc: '2.0',
          id: 8,
          method: 'tools/call',
          params: { name: 'test_tool_with_progress', arguments: {}, _meta: { progressToken: 'p8' } },
        }),
      ),
    );
    const text = await c.waitFor((t) => t.includes('notifications/progress'));
    c.socket.destroy();
    const lastEventId = /\nid: ([^\n]+)\n/.exec(text)?.[1];
    expect(lastEventId).toBeDefined();
    // The handler runs to completion (~100 ms) without its client.
    await waitUntil(
      () => s.stats(),
      (st) => st.streams === before.streams,
      5000,
    );
    await sleep(200);
    const resumed = await rawConnect(s.port);
    resumed.socket.write(
      rawRequest(s.port, 'GET', {
        ...legacyHeaders(sid),
        accept: 'text/event-stream',
        'last-event-id': lastEventId as string,
      }),
    );
    const replay = await resumed.waitFor((t) => t.includes('"id":8'));
    resumed.socket.destroy();
    const body = replay.slice(replay.indexOf('\r\n\r\n') + 4).replace(/\r\n[0-9a-f]+\r\n/g, '');
    const messages = sseMessages(body.replace(/^[0-9a-f]+\r\n/, ''));
    expect(messages.at(-1)).toMatchObject({
      jsonrpc: '2.0',
      id: 8,
      result: { content: [{ type: 'text', text: 'p8' }] },
    });
  });
});

describe('an event loop blocked by a handler', () => {
  it('health and queued requests are answered once a 500 ms block ends', async () => {
    const { body, headers } = modernCall('block', 'fault_block', { ms: 500 });
    const blocked = send(s.port, body, headers, { agent: false });
    await sleep(50);
    const started = Date.now();
    const health = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: s.port, path: '/health', agent: false }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end();
    });
    const greet = modernCall('queued', 'greet', { name: 'queued' });
    const queued = send(s.port, greet.body, greet.headers, { agent: false });
    const [b, h, q] = await Promise.all([blocked, health, queued]);
    expect(b.json.result.content[0].text).toBe('blocked 500 ms');
    expect(h.status).toBe(200);
    expect(JSON.parse(h.body)).toMatchObject({ status: 'healthy' });
    expect(q.json.result.content[0].text).toBe('Hello, queued!');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('the server process', () => {
  it('logged no unexpected failure and nothing reached the process level', async () => {
    await stillServes(s.port);
    expect(s.alive()).toBe(true);
    expect(fatalLines(s)).toEqual([]);
    // The throwing resource handler is logged as "request failed" on purpose; nothing else may be.
    expect(unexpectedErrors(s, /^request failed .*cannot open s3:/)).toEqual([]);
  });
});
