import {
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  context,
  propagation,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator as CoreW3C } from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, InvalidParamsError, RequestTimeoutError } from '../../src/protocol/errors.js';
import { type Result, compose } from '../../src/server/middleware.js';
import {
  createClientTracer,
  formatTraceparent,
  injectTraceContext,
  parseTraceparent,
  tracing,
  withClientSpan,
} from '../../src/telemetry/index.js';
import { callContext, fail, ok } from './helpers.js';
import { AsyncLocalStorageContextManager } from './otel.js';

const exporter = new InMemorySpanExporter();
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;

beforeAll(() => {
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  context.setGlobalContextManager(new AsyncLocalStorageContextManager());
});

afterEach(() => {
  exporter.reset();
});

function only(spans: ReadableSpan[] = exporter.getFinishedSpans()): ReadableSpan {
  expect(spans).toHaveLength(1);
  return spans[0] as ReadableSpan;
}

describe('tracing middleware', () => {
  it('creates one SERVER span per request with MCP attributes', async () => {
    const mw = tracing();
    await mw(
      callContext({
        method: 'tools/call',
        target: 'echo',
        requestId: 7,
        sessionId: 'sess-1',
        protocolVersion: '2025-06-18',
        remoteAddress: '127.0.0.1',
        clientInfo: { name: 'inspector', version: '1.2.3' },
        auth: { clientId: 'app-42', scopes: [] },
        transport: 'http',
      }),
      ok({ content: [] }),
    );
    const span = only();
    expect(span.name).toBe('tools/call echo');
    expect(span.kind).toBe(SpanKind.SERVER);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes).toEqual({
      'mcp.method.name': 'tools/call',
      'jsonrpc.request.id': '7',
      'mcp.protocol.version': '2025-06-18',
      'mcp.session.id': 'sess-1',
      'gen_ai.tool.name': 'echo',
      'mcp.tool.name': 'echo',
      'gen_ai.operation.name': 'execute_tool',
      'network.transport': 'tcp',
      'network.protocol.name': 'http',
      'client.address': '127.0.0.1',
      'mcp.client.name': 'inspector',
      'mcp.client.version': '1.2.3',
      'mcp.auth.client_id': 'app-42',
    });
    expect(span.parentSpanContext).toBeUndefined();
  });

  it('names spans by method and tool/prompt, resource URIs only when opted in', async () => {
    await tracing()(callContext({ method: 'prompts/get', target: 'summarize' }), ok());
    await tracing()(callContext({ method: 'resources/read', target: 'file:///etc/hosts' }), ok());
    await tracing({ resourceUriInSpanName: true })(
      callContext({ method: 'resources/read', target: 'file:///x' }),
      ok(),
    );
    await tracing()(callContext({ method: 'tools/list', transport: 'stdio' }), ok());
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual([
      'prompts/get summarize',
      'resources/read',
      'resources/read file:///x',
      'tools/list',
    ]);
    expect(spans[0]?.attributes['gen_ai.prompt.name']).toBe('summarize');
    expect(spans[1]?.attributes['mcp.resource.uri']).toBe('file:///etc/hosts');
    expect(spans[3]?.attributes['network.transport']).toBe('pipe');
  });

  it('uses _meta traceparent/tracestate as the parent', async () => {
    await tracing()(
      callContext({
        method: 'ping',
        params: { _meta: { traceparent: TRACEPARENT, tracestate: 'rojo=00f067aa0ba902b7' } },
      }),
      ok(),
    );
    const span = only();
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(span.parentSpanContext?.spanId).toBe(PARENT_ID);
    expect(span.parentSpanContext?.isRemote).toBe(true);
    expect(span.spanContext().traceState?.get('rojo')).toBe('00f067aa0ba902b7');
  });

  it('prefers _meta over HTTP headers and links the HTTP context', async () => {
    const headerTrace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    await tracing()(
      callContext({
        method: 'ping',
        params: { _meta: { traceparent: TRACEPARENT } },
        headers: { traceparent: `00-${headerTrace}-bbbbbbbbbbbbbbbb-01` },
      }),
      ok(),
    );
    const span = only();
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(span.links.map((l) => l.context.traceId)).toEqual([headerTrace]);
  });

  it('falls back to HTTP headers when _meta has no trace context', async () => {
    const headerTrace = 'cccccccccccccccccccccccccccccccc';
    await tracing()(
      callContext({
        method: 'ping',
        params: { _meta: { progressToken: 1 } },
        headers: { traceparent: [`00-${headerTrace}-dddddddddddddddd-01`] },
      }),
      ok(),
    );
    const span = only();
    expect(span.spanContext().traceId).toBe(headerTrace);
    expect(span.parentSpanContext?.spanId).toBe('dddddddddddddddd');
    expect(span.links).toEqual([]);
  });

  it('ignores malformed traceparents', async () => {
    await tracing()(callContext({ method: 'ping', params: { _meta: { traceparent: 'garbage' } } }), ok());
    expect(only().parentSpanContext).toBeUndefined();
  });

  it('makes the server span active for the handler', async () => {
    let seen: string | undefined;
    await tracing()(callContext({ method: 'ping' }), () => {
      seen = trace.getActiveSpan()?.spanContext().spanId;
      return Promise.resolve({});
    });
    expect(seen).toBe(only().spanContext().spanId);
  });

  it('records JSON-RPC errors with code and message, without an exception event', async () => {
    const err = new InvalidParamsError('missing argument x');
    await expect(tracing()(callContext({ method: 'tools/call', target: 'echo' }), fail(err))).rejects.toBe(
      err,
    );
    const span = only();
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'missing argument x' });
    expect(span.attributes['rpc.jsonrpc.error_code']).toBe(-32602);
    expect(span.attributes['rpc.response.status_code']).toBe('-32602');
    expect(span.attributes['error.type']).toBe('-32602');
    expect(span.events).toEqual([]);
  });

  it('records unexpected errors as InternalError with an exception event', async () => {
    await expect(tracing()(callContext({ method: 'ping' }), fail(new TypeError('oops')))).rejects.toThrow(
      'oops',
    );
    const span = only();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['rpc.jsonrpc.error_code']).toBe(-32603);
    expect(span.attributes['error.type']).toBe('TypeError');
    expect(span.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('marks tool results with isError as tool_error', async () => {
    await tracing()(
      callContext({ method: 'tools/call', target: 'echo' }),
      ok({ content: [], isError: true }),
    );
    const span = only();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('tool_error');
  });

  it('exports nothing when the sampler drops the span, but still propagates the decision', async () => {
    const provider = new BasicTracerProvider({
      sampler: new AlwaysOffSampler(),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    let outgoing: Record<string, unknown> = {};
    const result = await tracing({ tracerProvider: provider })(
      callContext({ method: 'ping', params: { _meta: { traceparent: TRACEPARENT } } }),
      () => {
        outgoing = injectTraceContext({});
        return Promise.resolve({ pong: true });
      },
    );
    expect(result).toEqual({ pong: true });
    expect(exporter.getFinishedSpans()).toEqual([]);
    const sc = parseTraceparent(outgoing.traceparent as string);
    expect(sc?.traceId).toBe(TRACE_ID);
    expect(sc?.traceFlags).toBe(0);
  });

  it('reads and writes _meta through the globally configured propagator when there is one', async () => {
    // A propagator with its own key: only honoured if the middleware really defers to the global one.
    const core = new CoreW3C();
    const custom: TextMapPropagator = {
      fields: () => ['x-trace'],
      inject: (ctx, carrier, setter) => {
        const tmp: Record<string, string> = {};
        core.inject(ctx, tmp, { set: (c, k, v) => (c[k] = v) });
        if (tmp.traceparent) setter.set(carrier, 'x-trace', tmp.traceparent);
      },
      extract: (ctx, carrier, getter) =>
        core.extract(
          ctx,
          { traceparent: getter.get(carrier, 'x-trace') },
          {
            get: (c, k) => c[k as 'traceparent'],
            keys: (c) => Object.keys(c),
          },
        ),
    };
    propagation.setGlobalPropagator(custom);
    try {
      let outgoing: Record<string, unknown> = {};
      await tracing()(callContext({ method: 'ping', params: { _meta: { 'x-trace': TRACEPARENT } } }), () => {
        outgoing = injectTraceContext({});
        return Promise.resolve({});
      });
      const span = only();
      expect(span.spanContext().traceId).toBe(TRACE_ID);
      expect(outgoing).toEqual({ 'x-trace': formatTraceparent(span.spanContext()) });
    } finally {
      propagation.disable();
    }
  });

  it('rejects bad options naming them', () => {
    expect(() => tracing({ tracerProvider: {} as never })).toThrow(InvalidOptionError);
    expect(() => tracing({ tracerProvider: {} as never })).toThrow('tracerProvider');
    expect(() => tracing({ propagator: {} as never })).toThrow('propagator');
    expect(() => tracing({ tracerName: '' })).toThrow('tracerName');
  });
});

describe('client spans', () => {
  it('puts client and server spans in one trace through _meta', async () => {
    let serverSawMeta: unknown;
    const server = compose([tracing()], (ctx) => {
      serverSawMeta = ctx.params._meta;
      return Promise.resolve({ content: [{ type: 'text', text: 'hi' }] } as Result);
    });
    const params = { name: 'echo', arguments: { text: 'hi' }, _meta: { progressToken: 5 } };
    const client = createClientTracer();
    const outer = trace.getTracer('app');
    await outer.startActiveSpan('agent step', async (root) => {
      await client.call(
        'tools/call',
        params,
        (p) => server(callContext({ method: 'tools/call', target: 'echo', params: p })),
        {
          sessionId: 's1',
          protocolVersion: '2025-11-25',
          requestId: 3,
          transport: 'http',
          serverAddress: 'localhost',
          serverPort: 3000,
        },
      );
      root.end();
    });

    const spans = exporter.getFinishedSpans();
    const byKind = (k: SpanKind) => spans.find((s) => s.kind === k) as ReadableSpan;
    const serverSpan = byKind(SpanKind.SERVER);
    const clientSpan = byKind(SpanKind.CLIENT);
    const root = spans.find((s) => s.name === 'agent step') as ReadableSpan;
    expect(new Set(spans.map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(clientSpan.name).toBe('tools/call echo');
    expect(clientSpan.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(serverSpan.parentSpanContext?.spanId).toBe(clientSpan.spanContext().spanId);
    expect(clientSpan.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'echo',
      'mcp.session.id': 's1',
      'jsonrpc.request.id': '3',
      'server.address': 'localhost',
      'server.port': 3000,
    });
    expect(serverSawMeta).toMatchObject({
      progressToken: 5,
      traceparent: formatTraceparent(clientSpan.spanContext()),
    });
    expect(params._meta).toEqual({ progressToken: 5 }); // the caller's params are untouched
  });

  it('records client-side failures', async () => {
    await expect(
      withClientSpan('ping', undefined, () => Promise.reject(new RequestTimeoutError('ping', 10))),
    ).rejects.toThrow();
    await expect(
      withClientSpan('tools/call', { name: 'x' }, () => Promise.reject(new InvalidParamsError('bad'))),
    ).rejects.toThrow();
    await withClientSpan('tools/call', { name: 'x' }, () => Promise.resolve({ isError: true }));
    const [timeout, invalid, toolError] = exporter.getFinishedSpans();
    expect(timeout?.attributes['error.type']).toBe('timeout');
    expect(timeout?.events.map((e) => e.name)).toEqual(['exception']);
    expect(invalid?.attributes['error.type']).toBe('-32602');
    expect(toolError?.attributes['error.type']).toBe('tool_error');
    expect(exporter.getFinishedSpans().every((s) => s.status.code === SpanStatusCode.ERROR)).toBe(true);
  });
});

describe('W3C trace context', () => {
  it('parses and formats traceparent per the spec', () => {
    expect(parseTraceparent(TRACEPARENT)).toEqual({
      traceId: TRACE_ID,
      spanId: PARENT_ID,
      traceFlags: 1,
      isRemote: true,
    });
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1 })).toBe(TRACEPARENT);
    // A later version may append fields.
    expect(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-00-extra`)?.traceFlags).toBe(0);
    for (const bad of [
      `ff-${TRACE_ID}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${PARENT_ID}-01-extra`,
      `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`,
      `00-${'0'.repeat(32)}-${PARENT_ID}-01`,
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
      `00-${TRACE_ID}-${PARENT_ID}`,
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
  });

  it('interoperates with the SDK propagator from @opentelemetry/core', () => {
    const core = new CoreW3C();
    const carrier: Record<string, string> = { traceparent: TRACEPARENT, tracestate: 'a=1,b=2' };
    const extracted = core.extract(context.active(), carrier, {
      get: (c, k) => c[k],
      keys: (c) => Object.keys(c),
    });
    const meta = injectTraceContext({} as Record<string, unknown>, extracted);
    expect(meta).toEqual(carrier);
  });
});
