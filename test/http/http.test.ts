import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, httpClient, meta, modernHeaders, post, startHttp } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHttp({ keepAliveMs: 0 });
});
afterAll(async () => {
  await h.close();
});

describe.each(['modern', 'legacy'] as const)('Streamable HTTP end to end (%s)', (era) => {
  it('calls tools, reads resources and gets prompts', async () => {
    const { client } = await httpClient(h.url, { protocol: era === 'modern' ? 'auto' : 'legacy' });
    expect(client.era).toBe(era);
    expect((await client.callTool('test_simple_text')).content).toEqual([
      { type: 'text', text: 'This is a simple text response for testing.' },
    ]);
    expect((await client.readResource('test://static-text')).contents[0]).toMatchObject({
      text: 'This is the content of the static text resource.',
    });
    expect(
      (await client.getPrompt('test_prompt_with_arguments', { arg1: 'a', arg2: 'b' })).messages[0]?.content,
    ).toMatchObject({ text: "Prompt with arguments: arg1='a', arg2='b'" });
    await client.close();
  });

  it('streams progress as SSE before the result', async () => {
    const { client } = await httpClient(h.url, { protocol: era === 'modern' ? 'modern' : 'legacy' });
    const progress: number[] = [];
    await client.callTool('test_tool_with_progress', {}, { onprogress: (p) => progress.push(p.progress) });
    expect(progress).toEqual([0, 50, 100]);
    await client.close();
  });

  it('elicits through the client handler (server-to-client request or input_required)', async () => {
    const { client } = await httpClient(h.url, {
      protocol: era === 'modern' ? 'modern' : 'legacy',
      handlers: { elicitation: async () => ({ action: 'accept', content: { name: 'Alice' } }) },
    });
    expect((await client.callTool('test_input_required_result_elicitation')).content).toEqual([
      { type: 'text', text: 'Hello, Alice!' },
    ]);
    await client.close();
  });

  it('mirrors x-mcp-header parameters (2026) and passes them through (legacy)', async () => {
    const { client } = await httpClient(h.url, { protocol: era === 'modern' ? 'modern' : 'legacy' });
    await client.listTools();
    expect((await client.callTool('test_x_mcp_header', { region: 'Hello, 世界' })).content).toEqual([
      { type: 'text', text: 'region=Hello, 世界' },
    ]);
    await client.close();
  });
});

describe('legacy sessions', () => {
  it('resumes a stream the server closed early (Last-Event-ID) and still gets the result', async () => {
    const { client } = await httpClient(h.url, { protocol: 'legacy' });
    expect((await client.callTool('test_reconnection')).content).toEqual([
      { type: 'text', text: 'Reconnection test completed successfully' },
    ]);
    await client.close();
  });

  it('DELETE ends the session; the id then gets 404', async () => {
    const init = await post(
      h.url,
      {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
      },
      { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    );
    const sid = init.headers.get('mcp-session-id');
    expect(sid).toMatch(/^[\x21-\x7e]{20,}$/);
    const del = await fetch(h.url, { method: 'DELETE', headers: { 'mcp-session-id': sid as string } });
    expect(del.status).toBe(200);
    const after = await post(
      h.url,
      { jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} },
      { 'content-type': 'application/json', accept: 'application/json', 'mcp-session-id': sid as string },
    );
    expect(after.status).toBe(404);
  });

  it('caps sessions with 503 and reaps idle ones', async () => {
    const small = await startHttp({ maxSessions: 2, sessionIdleTimeoutMs: 200 });
    const init = () =>
      post(
        small.url,
        {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-11-25',
            capabilities: {},
            clientInfo: { name: 'x', version: '1' },
          },
        },
        { 'content-type': 'application/json', accept: 'application/json' },
      );
    expect((await init()).status).toBe(200);
    expect((await init()).status).toBe(200);
    const third = await init();
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe('5');
    await new Promise((r) => setTimeout(r, 500));
    expect(small.listener.handler.sessions?.size).toBe(0);
    expect((await init()).status).toBe(200);
    await small.close();
  });
});

describe('HTTP error handling', () => {
  it('answers malformed input with spec errors and keeps serving', async () => {
    const headers = modernHeaders('tools/list');
    expect((await post(h.url, '{not json', headers)).json).toMatchObject({ error: { code: -32700 } });
    expect((await post(h.url, '[]', headers)).json).toMatchObject({ error: { code: -32600 } });
    const wrongType = await fetch(h.url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const deepRes = await post(h.url, deep, headers);
    expect(deepRes.status).toBe(400);
    expect(deepRes.json).toMatchObject({ error: { code: -32700 } });
    const big = await fetch(h.url, { method: 'POST', headers, body: 'x'.repeat(5 * 1024 * 1024) }).catch(
      (e: Error) => e,
    );
    if (!(big instanceof Error)) expect(big.status).toBe(413);
    const ok = await post(
      h.url,
      { jsonrpc: '2.0', id: 9, method: 'tools/list', params: { _meta: meta() } },
      headers,
    );
    expect(ok.status).toBe(200);
  });

  it('validates 2026 headers against the body', async () => {
    const body = {
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { _meta: meta(), name: 'test_x_mcp_header', arguments: { region: 'eu' } },
    };
    const mismatch = await post(h.url, body, {
      ...modernHeaders('tools/call', 'other'),
      'mcp-param-region': 'eu',
    });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json).toMatchObject({ id: 1, error: { code: -32020 } });
    const missingParam = await post(h.url, body, modernHeaders('tools/call', 'test_x_mcp_header'));
    expect(missingParam.json).toMatchObject({ error: { code: -32020 } });
    const good = await post(h.url, body, {
      ...modernHeaders('tools/call', 'test_x_mcp_header'),
      'mcp-param-region': '=?base64?ZXU=?=',
    });
    expect(good.json).toMatchObject({ result: { content: [{ text: 'region=eu' }] } });
    const unknown = await post(
      h.url,
      { jsonrpc: '2.0', id: 2, method: 'nope', params: { _meta: meta() } },
      modernHeaders('nope'),
    );
    expect(unknown.status).toBe(404);
    const badVersion = await post(
      h.url,
      {
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/list',
        params: { _meta: { ...meta(), 'io.modelcontextprotocol/protocolVersion': '2030-01-01' } },
      },
      { ...modernHeaders('tools/list'), 'mcp-protocol-version': '2030-01-01' },
    );
    expect(badVersion.status).toBe(400);
    expect(badVersion.json).toMatchObject({ error: { code: -32022, data: { requested: '2030-01-01' } } });
  });

  it('rejects foreign Host and Origin (DNS rebinding)', async () => {
    const body = { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta() } };
    const evilOrigin = await post(h.url, body, {
      ...modernHeaders('server/discover'),
      origin: 'http://evil.example.com',
    });
    expect(evilOrigin.status).toBe(403);
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve) => {
      const req = request(
        h.url,
        { method: 'POST', headers: { ...modernHeaders('server/discover'), host: 'evil.example.com' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.end(JSON.stringify(body));
    });
    expect(status).toBe(403);
  });

  it('GET and DELETE without a session are 405 in 2026', async () => {
    expect((await fetch(h.url, { method: 'GET', headers: { accept: 'text/event-stream' } })).status).toBe(
      405,
    );
    expect((await fetch(h.url, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(h.url, { method: 'PUT' })).status).toBe(405);
  });
});

describe('subscriptions/listen over HTTP', () => {
  it('streams the ack and list changes, and cancels on disconnect', async () => {
    const { client } = await httpClient(h.url, { protocol: 'modern' });
    const seen: string[] = [];
    client.on('notifications/tools/list_changed', () => seen.push('tools'));
    const sub = await client.listen({ toolsListChanged: true });
    expect(sub.acknowledged).toEqual({ toolsListChanged: true });
    await client.callTool('test_trigger_tool_change');
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual(['tools']);
    sub.close();
    await client.close();
  });
});
