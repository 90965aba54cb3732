import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { McpError } from '../../src/protocol/errors.js';
import { McpServer } from '../../src/server/server.js';
import { connectPair, modernMeta, rawPair } from './helpers.js';

function makeServer() {
  const server = new McpServer({
    name: 'test-server',
    version: '1.2.3',
    instructions: 'be nice',
    pageSize: 2,
  });
  server.tool(
    'add',
    { description: 'adds', inputSchema: z.object({ a: z.number(), b: z.number() }) },
    ({ a, b }) => `${a + b}`,
  );
  server.tool('boom', { description: 'throws' }, () => {
    throw new Error('kaput');
  });
  server.tool('ask', { description: 'elicits' }, async (_args, ctx) => {
    const answer = await ctx.elicit({
      mode: 'form',
      message: 'Name?',
      requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
    } as never);
    return `hello ${(answer.content as { name: string }).name}`;
  });
  server.tool('two', { description: 'two inputs then sample' }, async (_args, ctx) => {
    const both = await ctx.inputs({
      first: {
        method: 'elicitation/create',
        params: { message: 'one', requestedSchema: { type: 'object', properties: {} } } as never,
      },
      second: { method: 'roots/list' },
    });
    const sampled = await ctx.sample({
      messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }],
      maxTokens: 5,
    });
    return JSON.stringify({
      first: both.first.action,
      roots: (both.second.roots as unknown[]).length,
      model: sampled.model,
    });
  });
  server.tool('slow', { description: 'progress + logs' }, async (_args, ctx) => {
    await ctx.log('info', 'starting');
    for (let i = 1; i <= 3; i++) await ctx.progress(i, 3, `step ${i}`);
    await ctx.log('debug', 'done');
    return 'ok';
  });
  server.tool(
    'forever',
    { description: 'waits for cancel' },
    (_args, ctx) =>
      new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
  );
  server.tool('t3', { description: 'x' }, () => 'x');
  server.resource('test://a', { description: 'A', mimeType: 'text/plain' }, () => 'aaa');
  server.resourceTemplate(
    'test://item/{id}',
    { description: 'items', complete: { id: (v) => ['1', '2', '10'].filter((x) => x.startsWith(v)) } },
    (uri, vars) => `item ${vars.id}`,
  );
  server.prompt(
    'greet',
    { description: 'greets', argsSchema: z.object({ who: z.string() }) },
    ({ who }) => `Hello ${who}`,
  );
  return server;
}

describe.each(['modern', 'legacy'] as const)('server and client over memory (%s era)', (era) => {
  const handlers = {
    elicitation: async () => ({ action: 'accept' as const, content: { name: 'Ada' } }),
    roots: async () => ({ roots: [{ uri: 'file:///tmp', name: 'tmp' }] }),
    sampling: async () => ({
      role: 'assistant' as const,
      content: { type: 'text' as const, text: 'ok' },
      model: 'm1',
    }),
  };

  it('negotiates the era and identifies the server', async () => {
    const { client } = await connectPair(makeServer(), { protocol: era === 'modern' ? 'auto' : 'legacy' });
    expect(client.era).toBe(era);
    expect(client.serverInfo).toMatchObject({ name: 'test-server', version: '1.2.3' });
    expect(client.protocolVersion).toBe(era === 'modern' ? '2026-07-28' : '2025-11-25');
    expect(client.serverCapabilities?.tools).toBeDefined();
    expect(client.instructions).toBe('be nice');
  });

  it('calls tools with schema validation, tool errors and unknown tools', async () => {
    const { client } = await connectPair(makeServer(), { protocol: era === 'modern' ? 'modern' : 'legacy' });
    const ok = await client.callTool('add', { a: 2, b: 3 });
    expect(ok.content).toEqual([{ type: 'text', text: '5' }]);
    if (era === 'modern') expect(ok.resultType).toBe('complete');
    else expect(ok.resultType).toBeUndefined();
    const invalid = await client.callTool('add', { a: 'x' });
    expect(invalid.isError).toBe(true);
    expect((invalid.content[0] as { text: string }).text).toMatch(/Invalid arguments/);
    const thrown = await client.callTool('boom');
    expect(thrown).toMatchObject({ isError: true, content: [{ type: 'text', text: 'kaput' }] });
    await expect(client.callTool('nope')).rejects.toMatchObject({ code: -32602 });
  });

  it('paginates lists and lists everything with listAll', async () => {
    const { client } = await connectPair(makeServer(), { protocol: era === 'modern' ? 'modern' : 'legacy' });
    const first = await client.listTools();
    expect((first.tools as unknown[]).length).toBe(2);
    expect(typeof first.nextCursor).toBe('string');
    if (era === 'modern') expect(first).toMatchObject({ ttlMs: 0, cacheScope: 'public' });
    const all = await client.listAll('tools/list', 'tools');
    expect(all.map((t) => t.name)).toEqual(['add', 'boom', 'ask', 'two', 'slow', 'forever', 't3']);
    expect((all[0] as { inputSchema: { type: string } }).inputSchema.type).toBe('object');
    await expect(client.listTools('garbage')).rejects.toMatchObject({ code: -32602 });
  });

  it('elicits, samples and lists roots through the same handlers', async () => {
    const { client } = await connectPair(makeServer(), {
      protocol: era === 'modern' ? 'modern' : 'legacy',
      handlers,
    });
    expect((await client.callTool('ask')).content).toEqual([{ type: 'text', text: 'hello Ada' }]);
    const two = await client.callTool('two');
    expect(JSON.parse((two.content[0] as { text: string }).text)).toEqual({
      first: 'accept',
      roots: 1,
      model: 'm1',
    });
  });

  it('refuses input requests the client has no capability for (-32021)', async () => {
    const { client } = await connectPair(makeServer(), { protocol: era === 'modern' ? 'modern' : 'legacy' });
    await expect(client.callTool('ask')).rejects.toMatchObject({ code: -32021 });
  });

  it('reports progress and logs', async () => {
    const { client } = await connectPair(makeServer(), {
      protocol: era === 'modern' ? 'modern' : 'legacy',
      logLevel: 'info',
    });
    const logs: unknown[] = [];
    client.on('notifications/message', (p) => logs.push(p.data));
    const progress: number[] = [];
    const result = await client.callTool('slow', {}, { onprogress: (p) => progress.push(p.progress) });
    expect(result.content).toEqual([{ type: 'text', text: 'ok' }]);
    expect(progress).toEqual([1, 2, 3]);
    // Legacy sessions default to all levels until logging/setLevel; 2026 sends only at or above the requested level.
    expect(logs).toEqual(era === 'modern' ? ['starting'] : ['starting', 'done']);
  });

  it('cancels a running request through AbortSignal', async () => {
    const { client } = await connectPair(makeServer(), { protocol: era === 'modern' ? 'modern' : 'legacy' });
    const controller = new AbortController();
    const pending = client.callTool('forever', {}, { signal: controller.signal });
    setTimeout(() => controller.abort('user'), 20);
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
    expect((await client.callTool('add', { a: 1, b: 1 })).content).toEqual([{ type: 'text', text: '2' }]);
  });

  it('reads resources and templates, completes, and reports missing resources', async () => {
    const { client } = await connectPair(makeServer(), { protocol: era === 'modern' ? 'modern' : 'legacy' });
    expect((await client.readResource('test://a')).contents).toEqual([
      { uri: 'test://a', mimeType: 'text/plain', text: 'aaa' },
    ]);
    expect((await client.readResource('test://item/42')).contents).toEqual([
      { uri: 'test://item/42', text: 'item 42' },
    ]);
    await expect(client.readResource('test://missing')).rejects.toMatchObject({
      code: era === 'modern' ? -32602 : -32002,
    });
    const completion = await client.complete(
      { type: 'ref/resource', uri: 'test://item/{id}' },
      { name: 'id', value: '1' },
    );
    expect(completion.completion).toEqual({ values: ['1', '10'], total: 2, hasMore: false });
    const prompt = await client.getPrompt('greet', { who: 'Bob' });
    expect(prompt.messages).toEqual([{ role: 'user', content: { type: 'text', text: 'Hello Bob' } }]);
    await expect(client.getPrompt('greet', {})).rejects.toMatchObject({ code: -32602 });
  });
});

describe('change notifications', () => {
  it('2026-07-28: subscriptions/listen acknowledges first, then delivers only requested events', async () => {
    const server = makeServer();
    const { client } = await connectPair(server, { protocol: 'modern' });
    const seen: string[] = [];
    client.on('*', (p) => seen.push(p.method as string));
    const sub = await client.listen({ toolsListChanged: true, resourceSubscriptions: ['test://a'] });
    expect(sub.acknowledged).toEqual({ toolsListChanged: true, resourceSubscriptions: ['test://a'] });
    server.tool('late', { description: 'added later' }, () => 'late');
    server.prompt('p2', { description: 'not subscribed' }, () => 'x');
    server.resourceUpdated('test://a');
    server.resourceUpdated('test://other');
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([
      'notifications/subscriptions/acknowledged',
      'notifications/tools/list_changed',
      'notifications/resources/updated',
    ]);
    sub.close();
    await expect(sub.done).rejects.toBeDefined();
  });

  it('legacy: list_changed to every session, resources/updated to subscribers only', async () => {
    const server = makeServer();
    const { client } = await connectPair(server, { protocol: 'legacy' });
    const seen: string[] = [];
    client.on('*', (p) =>
      seen.push(`${p.method} ${JSON.stringify((p.params as { uri?: string }).uri ?? '')}`),
    );
    await client.subscribeResource('test://a');
    server.resourceUpdated('test://a');
    server.resourceUpdated('test://b');
    server.tool('late', { description: 'x' }, () => 'x');
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([
      'notifications/resources/updated "test://a"',
      'notifications/tools/list_changed ""',
    ]);
  });
});

describe('wire-level rules', () => {
  it('rejects unsupported versions with -32022 and the supported list, and requests without _meta', async () => {
    const raw = await rawPair(makeServer());
    await raw.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/list',
      params: { _meta: { ...modernMeta(), 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } },
    });
    expect(await raw.next()).toMatchObject({
      id: 1,
      error: { code: -32022, data: { supported: ['2026-07-28'], requested: '2099-01-01' } },
    });
    await raw.send({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} });
    expect(await raw.next()).toMatchObject({ id: 2, error: { code: -32600 } });
    await raw.send({ jsonrpc: '2.0', id: 3, method: 'nope/nope', params: { _meta: modernMeta() } });
    expect(await raw.next()).toMatchObject({ id: 3, error: { code: -32601 } });
  });

  it('answers parse errors and invalid requests, and keeps serving', async () => {
    const raw = await rawPair(makeServer());
    await raw.send({ jsonrpc: '1.0', id: 1, method: 'x' });
    expect(await raw.next()).toMatchObject({ id: 1, error: { code: -32600 } });
    await raw.send({ jsonrpc: '2.0', id: { a: 1 }, method: 'x' });
    expect(await raw.next()).toMatchObject({ id: null, error: { code: -32600 } });
    await raw.send({
      jsonrpc: '2.0',
      id: 5,
      method: 'tools/call',
      params: { _meta: modernMeta(), name: 'add', arguments: { a: 1, b: 2, __proto__: { polluted: true } } },
    });
    expect(await raw.next()).toMatchObject({ id: 5, result: { content: [{ text: '3' }] } });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('allows JSON-RPC batches only in 2025-03-26 sessions', async () => {
    for (const [version, batched] of [
      ['2025-03-26', true],
      ['2025-11-25', false],
    ] as const) {
      const raw = await rawPair(makeServer());
      await raw.send({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'r', version: '1' } },
      });
      expect(await raw.next()).toMatchObject({ id: 0, result: { protocolVersion: version } });
      await raw.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      await raw.send([
        { jsonrpc: '2.0', id: 1, method: 'ping' },
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'add', arguments: { a: 1, b: 1 } } },
      ]);
      const reply = await raw.next();
      if (batched) {
        expect(Array.isArray(reply)).toBe(true);
        expect((reply as unknown as Array<{ id: number }>).map((r) => r.id).sort()).toEqual([1, 2]);
      } else {
        expect(reply).toMatchObject({ error: { code: -32600 } });
      }
    }
  });

  it('2026-07-28 input_required: requestState is signed and bound to the call', async () => {
    const raw = await rawPair(makeServer());
    const meta = modernMeta({ elicitation: {} });
    await raw.send({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { _meta: meta, name: 'ask', arguments: {} },
    });
    const first = (await raw.next()) as {
      result: { resultType: string; inputRequests: Record<string, { method: string }>; requestState: string };
    };
    expect(first.result.resultType).toBe('input_required');
    const [key, request] = Object.entries(first.result.inputRequests)[0]!;
    expect(request.method).toBe('elicitation/create');
    const answer = { [key]: { action: 'accept', content: { name: 'Eve' } } };
    const tampered = `${first.result.requestState.slice(0, -2)}AA`;
    await raw.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: { _meta: meta, name: 'ask', arguments: {}, inputResponses: answer, requestState: tampered },
    });
    expect(await raw.next()).toMatchObject({ id: 2, error: { code: -32602 } });
    await raw.send({
      jsonrpc: '2.0',
      id: 3,
      method: 'tools/call',
      params: {
        _meta: meta,
        name: 'add',
        arguments: { a: 1, b: 1 },
        requestState: first.result.requestState,
      },
    });
    expect(await raw.next()).toMatchObject({
      id: 3,
      error: { code: -32602, message: expect.stringMatching(/different request/) },
    });
    await raw.send({
      jsonrpc: '2.0',
      id: 4,
      method: 'tools/call',
      params: {
        _meta: meta,
        name: 'ask',
        arguments: {},
        inputResponses: answer,
        requestState: first.result.requestState,
      },
    });
    expect(await raw.next()).toMatchObject({
      id: 4,
      result: { resultType: 'complete', content: [{ text: 'hello Eve' }] },
    });
  });

  it('server/discover lists versions, capabilities and server info', async () => {
    const raw = await rawPair(makeServer());
    await raw.send({ jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: modernMeta() } });
    const reply = (await raw.next()) as { result: Record<string, unknown> };
    expect(reply.result).toMatchObject({
      resultType: 'complete',
      supportedVersions: ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'],
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'test-server', version: '1.2.3' } },
      ttlMs: 0,
      cacheScope: 'public',
    });
    expect(reply.result.capabilities).toMatchObject({
      tools: { listChanged: true },
      resources: { subscribe: true },
      prompts: {},
    });
  });

  it('validates options with messages naming the option', () => {
    expect(() => new McpServer({ name: '', version: '1' })).toThrow(/"name"/);
    expect(() => new McpServer({ name: 'x', version: '1', pageSize: 0 })).toThrow(/"pageSize"/);
    const server = makeServer();
    expect(() => server.tool('add', { description: 'dup' }, () => 'x')).toThrow(/already registered/);
    expect(() => server.tool('bad name!', () => 'x')).toThrow(/tool name/);
    expect(() => server.tool('schema', { inputSchema: { type: 'string' } }, () => 'x')).toThrow(
      /inputSchema/,
    );
    expect(new McpError(-1, 'x')).toBeInstanceOf(Error);
  });
});

describe('tasks extension (2026-07-28)', () => {
  it('runs a tool as a task, polls it to completion, and answers input through tasks/update', async () => {
    const { createEverythingServer } = await import('../../examples/everything/server.js');
    const server = createEverythingServer();
    const { client } = await connectPair(server, {
      protocol: 'modern',
      handlers: { elicitation: async () => ({ action: 'accept', content: { confirm: true } }) },
    });
    const seen: string[] = [];
    const slow = await client.callToolAsTask(
      'slow_compute',
      { seconds: 0.2, label: 'x' },
      { onTask: (t) => seen.push(t.status) },
    );
    expect(seen).toEqual(['working']);
    expect(slow.content).toEqual([{ type: 'text', text: 'Computed x after 0.2 s' }]);
    const confirmed = await client.callToolAsTask('confirm_delete', { filename: 'a.txt' });
    expect(confirmed.content).toEqual([{ type: 'text', text: 'Deleted a.txt' }]);
    await expect(client.callToolAsTask('protocol_error_job')).rejects.toMatchObject({ code: -32603 });
    const failing = await client.callToolAsTask('failing_job');
    expect(failing.isError).toBe(true);
    // Without the extension a task-required tool is refused with -32021.
    await expect(client.callTool('failing_job')).rejects.toMatchObject({ code: -32021 });
    // Tasks created by one principal are invisible to the others (owner binding): unknown id is -32602.
    await expect(
      client.request(
        'tasks/get',
        { taskId: 'nope' },
        {
          meta: {
            'io.modelcontextprotocol/clientCapabilities': {
              extensions: { 'io.modelcontextprotocol/tasks': {} },
            },
          },
        },
      ),
    ).rejects.toMatchObject({ code: -32602 });
    await server.close();
  });
});
