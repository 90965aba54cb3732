import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import {
  createClientTracer,
  injectTraceContext,
  tracing,
  withClientSpan,
} from '../../src/telemetry/index.js';
import { callContext } from './helpers.js';

// Runs in its own worker process (vitest forks pool): no tracer provider is registered here
// until the last test registers one on purpose.

describe('tracing without an SDK', () => {
  it('the API hands out non-recording spans (the premise of the short-circuit)', () => {
    const span = trace.getTracer('probe').startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
  });

  it('the middleware passes straight through: same promise, no active span', async () => {
    const mw = tracing();
    const ctx = callContext({
      method: 'tools/call',
      target: 'echo',
      params: { _meta: { traceparent: 'garbage' } },
    });
    let active: unknown = 'unset';
    const promise = Promise.resolve({ content: [] });
    const next = () => {
      active = trace.getActiveSpan();
      return promise;
    };
    expect(mw(ctx, next)).toBe(promise);
    expect(active).toBeUndefined();
    expect(ctx.state.size).toBe(0);
  });

  it('the client helper sends the caller params object unchanged', async () => {
    const params = { name: 'echo', _meta: { progressToken: 1 } };
    let sent: unknown;
    await withClientSpan('tools/call', params, (p) => {
      sent = p;
      return Promise.resolve({});
    });
    expect(sent).toBe(params);
    expect(params._meta).toEqual({ progressToken: 1 });
    expect(injectTraceContext({})).toEqual({});
  });

  it('picks up a tracer provider registered after the middleware was created', async () => {
    const mw = tracing();
    const client = createClientTracer();
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
    );
    await mw(callContext({ method: 'ping' }), () => Promise.resolve({}));
    await client.call('ping', undefined, () => Promise.resolve({}));
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['ping', 'ping']);
  });
});
