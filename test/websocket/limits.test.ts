import { afterEach, describe, expect, it } from 'vitest';
import { McpServer } from '../../src/server/server.js';
import type { WebSocketServerTransport } from '../../src/transport/websocket/index.js';
import { type Harness, modernMeta, rawSocket, startServer, waitFor } from './helpers.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const BIG = 'x'.repeat(256 * 1024);

function makeServer() {
  const server = new McpServer({ name: 'limits', version: '1.0.0' });
  server.tool('echo', { description: 'echoes' }, (args) => JSON.stringify(args));
  server.tool('big', { description: '256 KiB of text' }, () => BIG);
  return server;
}

const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, _meta: modernMeta() },
});

/** Collects the server side of each socket as it opens and closes. */
function tracker() {
  const opened: WebSocketServerTransport[] = [];
  const closed: WebSocketServerTransport[] = [];
  return {
    opened,
    closed,
    hooks: {
      connectionOpened: (t: WebSocketServerTransport) => opened.push(t),
      connectionClosed: (t: WebSocketServerTransport) => closed.push(t),
    },
  };
}

describe('keepalive', () => {
  it('terminates a peer that stops answering pings, after one missed pong', async () => {
    const track = tracker();
    harness = await startServer(makeServer(), { keepAliveMs: 150, hooks: track.hooks });
    const started = Date.now();
    const deaf = await rawSocket(harness.wsUrl, { autoPong: false });
    let pings = 0;
    deaf.ws.on('ping', () => pings++);
    const { code } = await deaf.closed;
    const elapsed = Date.now() - started;
    // Pinged at the first tick, found silent at the next: between one and two intervals (plus scheduling slack).
    expect(pings).toBeGreaterThanOrEqual(1);
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(1500);
    // No close frame for a dead peer: the TCP connection is destroyed, which both ends see as 1006.
    expect(code).toBe(1006);
    await waitFor(() => track.closed.length === 1, 2000, 'server-side close');
    expect(track.closed[0]).toMatchObject({ closeCode: 1006, closeReason: 'keepalive timeout: no pong' });
    expect(harness.attachment.size).toBe(0);
  });

  it('keeps a peer that answers pings, however long it stays idle', async () => {
    harness = await startServer(makeServer(), { keepAliveMs: 100 });
    const live = await rawSocket(harness.wsUrl);
    let pings = 0;
    live.ws.on('ping', () => pings++);
    await new Promise((r) => setTimeout(r, 650));
    expect(pings).toBeGreaterThanOrEqual(4);
    expect(harness.attachment.size).toBe(1);
    live.send(call(1, 'echo', { still: 'here' }));
    expect(await live.next((m) => m.id === 1)).toMatchObject({
      result: { content: [{ text: '{"still":"here"}' }] },
    });
    live.ws.close();
  });
});

describe('message size', () => {
  it('closes with 1009 on a frame above maxPayload, and accepts one just below', async () => {
    harness = await startServer(makeServer(), { maxPayload: 1024 });
    const raw = await rawSocket(harness.wsUrl);
    const overhead = Buffer.byteLength(JSON.stringify(call(1, 'echo', { pad: '' })));
    const fits = JSON.stringify(call(1, 'echo', { pad: 'a'.repeat(1024 - overhead) }));
    expect(Buffer.byteLength(fits)).toBe(1024);
    raw.send(fits);
    expect(await raw.next((m) => m.id === 1)).toMatchObject({ result: { content: [{ type: 'text' }] } });
    raw.send(JSON.stringify(call(2, 'echo', { pad: 'a'.repeat(1025 - overhead) })));
    expect((await raw.closed).code).toBe(1009);
    expect(raw.received.find((m) => m.id === 2)).toBeUndefined();
  });

  it('closes with 1007 on a text frame that is not UTF-8', async () => {
    harness = await startServer(makeServer());
    const raw = await rawSocket(harness.wsUrl);
    raw.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await raw.closed).code).toBe(1007);
  });
});

describe('backpressure', () => {
  it('closes a client that stops reading with 1013 once the send buffer passes its bound', async () => {
    const limit = 1024 * 1024;
    const track = tracker();
    let peak = 0;
    let sends = 0;
    harness = await startServer(makeServer(), {
      maxBufferedBytes: limit,
      closeTimeoutMs: 300,
      hooks: {
        connectionOpened: (t) => {
          track.hooks.connectionOpened(t);
          // Measure the user-space buffer right after every write the transport makes.
          const send = t.ws.send.bind(t.ws) as (...args: unknown[]) => void;
          (t.ws as unknown as { send: (...args: unknown[]) => void }).send = (...args) => {
            send(...args);
            sends++;
            peak = Math.max(peak, t.ws.bufferedAmount);
          };
        },
        connectionClosed: track.hooks.connectionClosed,
      },
    });
    const slow = await rawSocket(harness.wsUrl);
    slow.ws.pause();
    // Keep asking for 256 KiB answers until the server gives up on us (bounded: 400 requests = 100 MiB).
    for (let id = 1; id <= 400 && track.closed.length === 0 && slow.ws.readyState === slow.ws.OPEN; id++) {
      slow.send(call(id, 'big'));
      if (id % 8 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => track.closed.length === 1, 5000, 'server to drop the slow client');
    const server = track.opened[0]!;
    expect(server.closeCode).toBe(1013);
    expect(server.closeReason).toBe('send buffer full: peer is not reading');
    // The kernel absorbed some answers; user space never held more than the bound plus one message.
    expect(sends).toBeGreaterThan(4);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(limit + BIG.length + 1024);
    expect(harness.attachment.size).toBe(0);
    slow.ws.resume();
    await slow.closed;
  });
});

describe('malformed input', () => {
  it('answers parse errors with -32700 and keeps the socket open', async () => {
    harness = await startServer(makeServer(), { maxJsonDepth: 16 });
    const raw = await rawSocket(harness.wsUrl);
    raw.send('this is not json');
    expect(await raw.next()).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32700, message: 'Parse error: invalid JSON' },
    });
    raw.send(`${'['.repeat(40)}${']'.repeat(40)}`);
    expect(await raw.next()).toMatchObject({
      id: null,
      error: { code: -32700, message: 'JSON nested deeper than 16' },
    });
    raw.ws.send(Buffer.from([0xc3, 0x28]), { binary: true });
    expect(await raw.next()).toMatchObject({ id: null, error: { code: -32700 } });
    raw.send({ not: 'json-rpc' });
    expect(await raw.next()).toMatchObject({ id: null, error: { code: -32600 } });
    // Binary frames carrying JSON are read like text frames.
    raw.ws.send(Buffer.from(JSON.stringify(call(7, 'echo', { via: 'binary' }))), { binary: true });
    expect(await raw.next((m) => m.id === 7)).toMatchObject({
      result: { content: [{ text: '{"via":"binary"}' }] },
    });
    expect(raw.ws.readyState).toBe(raw.ws.OPEN);
    raw.ws.close();
  });
});
