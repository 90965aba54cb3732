import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HostileServer,
  type ServerStats,
  fatalLines,
  isJsonRpcError,
  meta,
  modernCall,
  modernHeaders,
  rawConnect,
  rawRequest,
  send,
  sleep,
  startServer,
  statusOf,
  stillServes,
  unexpectedErrors,
} from './helpers.js';

/**
 * Oversized and over-nested bodies against the production runtime (serve(), default limits):
 * 4 MiB body cap answered with 413 before the body is buffered, and JSON nesting capped at 64
 * before JSON.parse sees it.
 */

const MiB = 1024 * 1024;
const HUNDRED_MB = 100 * MiB;
const MAX_BODY = 4 * MiB;

let s: HostileServer;
beforeAll(async () => {
  s = await startServer();
  await stillServes(s.port);
});
afterAll(async () => {
  await s?.close();
});

/**
 * Streams a 100 MB body as fast as the server takes it, until the server answers and closes.
 * Returns what came back and how much the server accepted before closing.
 */
async function hugePost(framing: 'chunked' | 'content-length') {
  const c = await rawConnect(s.port);
  const head = Object.entries(modernHeaders('tools/list'))
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  const length =
    framing === 'chunked' ? 'transfer-encoding: chunked\r\n' : `content-length: ${HUNDRED_MB}\r\n`;
  c.socket.write(`POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${s.port}\r\n${head}${length}\r\n`);
  // A body that would be valid JSON if it ever ended: spaces.
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const framed =
    framing === 'chunked'
      ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')])
      : chunk;
  let sent = 0;
  await new Promise<void>((resolve) => {
    c.socket.once('close', () => resolve());
    const pump = () => {
      while (sent < HUNDRED_MB) {
        if (c.socket.destroyed) return resolve();
        sent += chunk.length;
        if (!c.socket.write(framed)) return void c.socket.once('drain', pump);
      }
      resolve();
    };
    pump();
  });
  const closedAfterMs = await Promise.race([c.closed, sleep(10_000).then(() => -1)]);
  c.socket.destroy();
  const text = c.received();
  return {
    status: statusOf(text),
    headers: text.slice(0, text.indexOf('\r\n\r\n')),
    body: text.slice(text.indexOf('\r\n\r\n') + 4),
    sent,
    closedAfterMs,
  };
}

describe('message size limit', () => {
  /** The server stopped taking bytes and closed long before 100 MB went through, holding little of it. */
  async function expectStoppedEarly(reply: Awaited<ReturnType<typeof hugePost>>, before: ServerStats) {
    expect(reply.closedAfterMs).toBeGreaterThanOrEqual(0);
    expect(reply.sent).toBeLessThan(HUNDRED_MB / 4);
    const after = await s.stats();
    // Peak RSS (the high-water mark, not a sample) grew by far less than the body.
    expect((after.maxRss - before.maxRss) / MiB).toBeLessThan(30);
    expect((after.memory.rss - before.memory.rss) / MiB).toBeLessThan(30);
    expect(after.connections).toBeLessThanOrEqual(before.connections);
    await stillServes(s.port);
  }

  it('answers a 100 MB chunked body with 413 after reading at most the limit', async () => {
    const before = await s.stats();
    const reply = await hugePost('chunked');
    expect(reply.status).toBe(413);
    expect(reply.headers).toMatch(/connection: close/i);
    const body = JSON.parse(reply.body);
    expect(isJsonRpcError(body)).toBe(true);
    expect(body).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: `Payload Too Large: body exceeds ${MAX_BODY} bytes` },
    });
    await expectStoppedEarly(reply, before);
  });

  it('refuses a declared 100 MB body (Content-Length) without reading it', async () => {
    const before = await s.stats();
    const reply = await hugePost('content-length');
    // Whether the 413 itself survives the close is the finding below.
    if (reply.status !== undefined) expect(reply.status).toBe(413);
    await expectStoppedEarly(reply, before);
  });

  it('accepts a body just under the limit', async () => {
    const overhead = JSON.stringify(modernCall('near', 'inspect_args', { pad: '' }).body).length;
    const under = modernCall('near', 'inspect_args', { pad: 'x'.repeat(MAX_BODY - overhead) });
    expect(JSON.stringify(under.body).length).toBe(MAX_BODY);
    const ok = await send(s.port, under.body, under.headers);
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ id: 'near', result: { structuredContent: { keys: ['pad'] } } });
  });

  // Finding: an over-limit body is answered 413 + `connection: close` while the client is still
  // sending. Node then closes the socket with request bytes unread in the kernel's receive buffer,
  // so the kernel sends RST, and the client's TCP stack discards the 413 it had already received:
  // here about half the clients sending 4 MiB + 1 byte in one write see ECONNRESET/EPIPE instead
  // of the status (more for bigger bodies; test/http/http.test.ts tolerates this with a catch).
  // Fix (lingering close): after answering 413, keep reading and discarding the body for a bounded
  // time and byte count (e.g. 2 s or 2 x maxBodyBytes) before destroying the socket, instead of
  // req.pause() in NodeIO.readBody and the immediate close on a declared Content-Length; and/or
  // answer `Expect: 100-continue` requests with 413 before the body is sent ('checkContinue').
  it('lets every client that sends too much read its 413', async () => {
    const over = modernCall('over', 'inspect_args', { pad: 'x'.repeat(MAX_BODY) });
    const statuses: Array<number | undefined> = [];
    for (let i = 0; i < 10; i++) {
      const c = await rawConnect(s.port);
      c.socket.write(rawRequest(s.port, 'POST', over.headers, JSON.stringify(over.body)));
      await c.closed;
      statuses.push(statusOf(c.received()));
    }
    expect(statuses).toEqual(Array(10).fill(413));
  });
});

describe('JSON nesting limit', () => {
  const DEEP = 10_000;
  const arrays = `${'['.repeat(DEEP)}${']'.repeat(DEEP)}`;
  const objects = `${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}`;
  const call = (args: string) =>
    `{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"inspect_args","arguments":${args},"_meta":${JSON.stringify(meta())}}}`;
  const cases: Array<[string, string]> = [
    ['top-level arrays', arrays],
    ['top-level objects', objects],
    ['arrays in params', call(`{"x":${arrays}}`)],
    ['objects in params', call(`{"x":${objects}}`)],
    [
      'mixed in _meta',
      `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"x":${`[{"a":`.repeat(DEEP / 2)}1${'}]'.repeat(DEEP / 2)}}}}`,
    ],
    // Unbalanced: never closes, so a recursive parser would not even know where it ends.
    ['unterminated', '['.repeat(DEEP * 10)],
  ];

  it.each(cases)('answers 10,000-deep %s with -32700 and 400', async (_name, text) => {
    const reply = await send(
      s.port,
      text,
      modernHeaders(text.includes('tools/call') ? 'tools/call' : 'tools/list', 'inspect_args'),
    );
    expect(reply.status).toBe(400);
    expect(isJsonRpcError(reply.json)).toBe(true);
    expect(reply.json).toMatchObject({
      id: null,
      error: { code: -32700, message: 'JSON nested deeper than 64' },
    });
  });

  it('still takes realistic nesting (depth 50 in arguments)', async () => {
    const nested = `${'{"a":'.repeat(50)}1${'}'.repeat(50)}`;
    const reply = await send(s.port, call(`{"x":${nested}}`), modernHeaders('tools/call', 'inspect_args'));
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ id: 'deep', result: { structuredContent: { keys: ['x'] } } });
    await stillServes(s.port);
  });
});

describe('the server process', () => {
  it('logged no handler failure and nothing reached the process level', () => {
    expect(s.alive()).toBe(true);
    expect(fatalLines(s)).toEqual([]);
    expect(unexpectedErrors(s)).toEqual([]);
  });
});
