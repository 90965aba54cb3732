import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createEverythingServer } from '../../examples/everything/server.js';
import type { JsonRpcMessage } from '../../src/protocol/jsonrpc.js';
import type { WebSocketConstructor } from '../../src/transport/websocket/index.js';
import { type Harness, connectClient, modernMeta, rawSocket, startServer } from './helpers.js';

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

const impls: Array<[string, WebSocketConstructor | undefined]> = [
  ['ws package', WebSocket as unknown as WebSocketConstructor],
];
if (typeof globalThis.WebSocket === 'function') impls.push(['global WebSocket', undefined]);

/** Records what a client transport sends and receives, for asserting on the wire exchange. */
function tap(transport: {
  send: (m: JsonRpcMessage) => Promise<void>;
  onmessage?: ((v: unknown) => void) | undefined;
}) {
  const sent: Record<string, any>[] = [];
  const received: Record<string, any>[] = [];
  const send = transport.send.bind(transport);
  transport.send = (m) => {
    sent.push(m as Record<string, any>);
    return send(m);
  };
  const onmessage = transport.onmessage;
  transport.onmessage = (v) => {
    received.push(v as Record<string, any>);
    onmessage?.(v);
  };
  return { sent, received };
}

describe.each(impls)('both eras over real sockets (client on %s)', (_name, WebSocketImpl) => {
  const transportOptions = WebSocketImpl ? { WebSocket: WebSocketImpl } : {};

  it('2026-07-28: discovers, lists and calls tools, and answers input_required for elicitation', async () => {
    harness = await startServer(createEverythingServer());
    let asked = 0;
    const { client, transport } = await connectClient(
      harness.wsUrl,
      {
        protocol: 'modern',
        handlers: {
          elicitation: (params) => {
            asked++;
            expect(params.message).toBe('Who are you?');
            return { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } };
          },
        },
      },
      transportOptions,
    );
    expect(transport.protocol).toBe('mcp');
    expect(client.era).toBe('modern');
    expect(client.serverInfo?.name).toBe('mcpkit-everything');
    const tools = await client.listAll('tools/list', 'tools');
    expect(tools.map((t) => t.name)).toContain('test_elicitation');
    const simple = await client.callTool('test_simple_text');
    expect(simple).toMatchObject({
      resultType: 'complete',
      content: [{ type: 'text', text: 'This is a simple text response for testing.' }],
    });

    const wire = tap(transport);
    const result = await client.callTool('test_elicitation', { message: 'Who are you?' });
    expect(asked).toBe(1);
    expect(result.content[0]).toEqual({
      type: 'text',
      text: 'User response: action=accept, content={"username":"ada","email":"ada@example.com"}',
    });
    // The round trip is two tools/call requests: the first answered input_required, the retry carries the answer.
    const calls = wire.sent.filter((m) => m.method === 'tools/call');
    expect(calls).toHaveLength(2);
    expect(calls[0]?.params.inputResponses).toBeUndefined();
    expect(Object.values(calls[1]?.params.inputResponses ?? {})).toEqual([
      { action: 'accept', content: { username: 'ada', email: 'ada@example.com' } },
    ]);
    expect(typeof calls[1]?.params.requestState).toBe('string');
    expect(wire.received.find((m) => m.id === calls[0]?.id)?.result.resultType).toBe('input_required');
    // No server-to-client request travels in this era.
    expect(wire.received.some((m) => m.method === 'elicitation/create')).toBe(false);
    await client.close();
  });

  it('legacy: initialize handshake, then elicitation as a server-to-client request on the same socket', async () => {
    harness = await startServer(createEverythingServer());
    const { client, transport } = await connectClient(
      harness.wsUrl,
      {
        protocol: 'legacy',
        handlers: {
          elicitation: () => ({ action: 'accept', content: { username: 'bob', email: 'bob@example.com' } }),
        },
      },
      transportOptions,
    );
    expect(client.era).toBe('legacy');
    expect(client.protocolVersion).toBe('2025-11-25');
    const wire = tap(transport);
    const result = await client.callTool('test_elicitation', { message: 'Name?' });
    expect(result.content[0]).toMatchObject({
      text: 'User response: action=accept, content={"username":"bob","email":"bob@example.com"}',
    });
    expect(result.resultType).toBeUndefined();
    const request = wire.received.find((m) => m.method === 'elicitation/create');
    expect(request?.params.message).toBe('Name?');
    // The client answered that request on the socket, and sent exactly one tools/call.
    expect(wire.sent.find((m) => m.id === request?.id && 'result' in m)?.result.action).toBe('accept');
    expect(wire.sent.filter((m) => m.method === 'tools/call')).toHaveLength(1);

    const progress: number[] = [];
    const withProgress = await client.callTool(
      'test_tool_with_progress',
      {},
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(progress).toEqual([0, 50, 100]);
    expect(withProgress.isError).toBeFalsy();
    await client.close();
  });
});

describe('one socket, both eras', () => {
  it('serves 2026-07-28 requests by their _meta, then a legacy session after initialize, on the same socket', async () => {
    harness = await startServer(createEverythingServer());
    const raw = await rawSocket(harness.wsUrl);
    raw.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'test_simple_text', arguments: {}, _meta: modernMeta() },
    });
    expect(await raw.next((m) => m.id === 1)).toMatchObject({
      result: { resultType: 'complete', content: [{ type: 'text' }] },
    });
    // A legacy request without a session is refused with a message saying what to do.
    raw.send({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
    expect(((await raw.next((m) => m.id === 2)).error as { message: string }).message).toMatch(/initialize/);

    raw.send({
      jsonrpc: '2.0',
      id: 3,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
    });
    expect(await raw.next((m) => m.id === 3)).toMatchObject({
      result: { protocolVersion: '2025-06-18', serverInfo: { name: 'mcpkit-everything' } },
    });
    raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    raw.send({
      jsonrpc: '2.0',
      id: 4,
      method: 'tools/call',
      params: { name: 'test_simple_text', arguments: {} },
    });
    const legacy = await raw.next((m) => m.id === 4);
    expect(legacy.result).toMatchObject({
      content: [{ type: 'text', text: 'This is a simple text response for testing.' }],
    });
    expect((legacy.result as Record<string, unknown>).resultType).toBeUndefined();
    raw.ws.close();
  });

  it('serves Streamable HTTP POSTs on the same port and path', async () => {
    harness = await startServer(createEverythingServer());
    const response = await fetch(harness.httpUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'tools/call',
        'mcp-name': 'test_simple_text',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'test_simple_text', arguments: {}, _meta: modernMeta() },
      }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: 1, result: { resultType: 'complete' } });
    // And the socket on that path still works afterwards.
    const { client } = await connectClient(harness.wsUrl, { protocol: 'modern' });
    expect((await client.callTool('test_simple_text')).content[0]).toMatchObject({ type: 'text' });
    await client.close();
  });
});
