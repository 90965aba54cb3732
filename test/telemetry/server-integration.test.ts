import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { McpClient } from '../../src/client/client.js';
import { McpServer } from '../../src/server/server.js';
import { METRIC_NAMES, createClientTracer, createMetrics, tracing } from '../../src/telemetry/index.js';
import { MemoryTransport } from '../../src/transport/memory.js';
import { sample } from './helpers.js';
import { AsyncLocalStorageContextManager } from './otel.js';

const exporter = new InMemorySpanExporter();

beforeAll(() => {
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  context.setGlobalContextManager(new AsyncLocalStorageContextManager());
});

afterEach(() => {
  exporter.reset();
});

async function setup(era: 'modern' | 'legacy') {
  const server = new McpServer({ name: 'telemetry-test', version: '1.0.0' });
  server.tool('add', { description: 'adds' }, () => '3');
  server.tool('boom', { description: 'fails' }, () => {
    throw new Error('kaput');
  });
  server.resourceTemplate('test://item/{id}', { description: 'items' }, (_uri, vars) => `item ${vars.id}`);
  server.prompt('greet', { description: 'greets' }, () => 'Hello');
  const metrics = createMetrics({
    collectDefaultMetrics: false,
    knownTools: () => server.tools,
    knownPrompts: () => server.prompts,
  });
  server.use(metrics.middleware);
  server.use(tracing());
  const [clientTransport, serverTransport] = MemoryTransport.pair();
  await server.connect(serverTransport, { kind: 'memory' });
  const client = new McpClient(
    { name: 'tele-client', version: '2.0.0' },
    { protocol: era === 'modern' ? 'auto' : 'legacy' },
  );
  await client.connect(clientTransport);
  exporter.reset(); // drop the handshake
  return { client, metrics };
}

describe.each(['modern', 'legacy'] as const)('with McpServer and McpClient (%s era)', (era) => {
  it('one trace spans the client call and the server handling', async () => {
    const { client } = await setup(era);
    const tracer = createClientTracer();
    const result = await tracer.call('tools/call', { name: 'add', arguments: { a: 1 } }, (p) =>
      client.request('tools/call', p),
    );
    expect(result).toMatchObject({ content: [{ type: 'text', text: '3' }] });

    const spans = exporter.getFinishedSpans();
    const clientSpan = spans.find((s) => s.kind === SpanKind.CLIENT) as ReadableSpan;
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER) as ReadableSpan;
    expect(spans).toHaveLength(2);
    expect(serverSpan.spanContext().traceId).toBe(clientSpan.spanContext().traceId);
    expect(serverSpan.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    expect(clientSpan.name).toBe('tools/call add');
    expect(serverSpan.name).toBe('tools/call add');
    expect(serverSpan.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'add',
      'mcp.protocol.version': era === 'modern' ? '2026-07-28' : '2025-11-25',
      'mcp.client.name': 'tele-client',
    });
  });

  it('records tool errors, unknown tools, template reads and prompts in metrics and spans', async () => {
    const { client, metrics } = await setup(era);
    await client.callTool('add');
    await client.callTool('boom');
    await expect(client.callTool('no-such-tool')).rejects.toThrow();
    await client.readResource('test://item/7');
    await client.readResource('test://item/8');
    await client.getPrompt('greet');

    const r = metrics.registry;
    expect(await sample(r, METRIC_NAMES.toolInvocations, { tool: 'add', outcome: 'ok' })).toBe(1);
    expect(await sample(r, METRIC_NAMES.toolInvocations, { tool: 'boom', outcome: 'tool_error' })).toBe(1);
    expect(await sample(r, METRIC_NAMES.toolInvocations, { tool: 'other', outcome: 'protocol_error' })).toBe(
      1,
    );
    expect(await sample(r, METRIC_NAMES.errors, { method: 'tools/call', code: '-32602' })).toBe(1);
    expect(await sample(r, METRIC_NAMES.resourceReads, { template: 'test://item/{id}' })).toBe(2);
    expect(await sample(r, METRIC_NAMES.promptGets, { prompt: 'greet' })).toBe(1);
    expect(await sample(r, `${METRIC_NAMES.requestDuration}_count`, { method: 'tools/call' })).toBe(3);

    const spans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    expect(spans.map((s) => s.name)).toEqual([
      'tools/call add',
      'tools/call boom',
      'tools/call no-such-tool',
      'resources/read',
      'resources/read',
      'prompts/get greet',
    ]);
    expect(spans[1]?.attributes['error.type']).toBe('tool_error');
    expect(spans[2]?.status.code).toBe(SpanStatusCode.ERROR);
    expect(spans[3]?.attributes['mcp.resource.uri']).toBe('test://item/7');
  });
});
