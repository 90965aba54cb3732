import {
  type Attributes,
  type Context,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
  context,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';
import { ErrorCode, InvalidOptionError, LocalError, McpError } from '../protocol/errors.js';
import { getMeta } from '../protocol/meta.js';
import type { CallContext, Middleware, Result, TransportKind } from '../server/middleware.js';
import { headersGetter, metaGetter, metaSetter, resolvePropagator } from './trace-context.js';

export interface TracingOptions {
  /** Default: the global provider, looked up per request so a late SDK registration still counts. */
  tracerProvider?: TracerProvider;
  tracerName?: string;
  tracerVersion?: string;
  /** Default: the globally configured propagator, else built-in W3C trace context. */
  propagator?: TextMapPropagator;
  /** Put resource URIs in span names (semconv: opt-in, they are high-cardinality). Default false. */
  resourceUriInSpanName?: boolean;
}

interface DelegatingProvider extends TracerProvider {
  getDelegate?(): TracerProvider;
  getDelegateTracer?(name: string, version?: string): Tracer | undefined;
}

/**
 * Finds the tracer without creating spans when no SDK is registered: the API's global
 * provider is a proxy whose delegate stays unset until an SDK registers, so "no tracer"
 * costs a couple of property reads per request instead of a no-op span.
 */
class TracerSource {
  private readonly fixed: Tracer | undefined;
  private lastDelegate: TracerProvider | undefined;
  private tracer: Tracer | undefined;

  constructor(
    provider: TracerProvider | undefined,
    private readonly name: string,
    private readonly version: string | undefined,
  ) {
    this.fixed = provider?.getTracer(name, version);
  }

  current(): Tracer | undefined {
    if (this.fixed !== undefined) return this.fixed;
    const global = trace.getTracerProvider() as DelegatingProvider;
    if (typeof global.getDelegate !== 'function' || typeof global.getDelegateTracer !== 'function') {
      return global.getTracer(this.name, this.version);
    }
    const delegate = global.getDelegate();
    if (delegate !== this.lastDelegate) {
      this.lastDelegate = delegate;
      this.tracer = global.getDelegateTracer(this.name, this.version);
    }
    return this.tracer;
  }
}

function validate(options: TracingOptions): void {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object');
  const { tracerProvider, propagator, tracerName, tracerVersion } = options;
  if (tracerProvider !== undefined && typeof tracerProvider?.getTracer !== 'function') {
    throw new InvalidOptionError('tracerProvider', 'must be an OpenTelemetry TracerProvider');
  }
  if (
    propagator !== undefined &&
    (typeof propagator?.extract !== 'function' || typeof propagator.inject !== 'function')
  ) {
    throw new InvalidOptionError('propagator', 'must be an OpenTelemetry TextMapPropagator');
  }
  if (tracerName !== undefined && (typeof tracerName !== 'string' || tracerName === '')) {
    throw new InvalidOptionError('tracerName', 'must be a non-empty string');
  }
  if (tracerVersion !== undefined && typeof tracerVersion !== 'string') {
    throw new InvalidOptionError('tracerVersion', 'must be a string');
  }
}

function sourceFor(options: TracingOptions): TracerSource {
  validate(options);
  return new TracerSource(options.tracerProvider, options.tracerName ?? 'mcpkit', options.tracerVersion);
}

/** Span name per semconv: `{method} {tool|prompt}`; resource URIs only when opted in. */
function spanName(method: string, target: string | undefined, withUri: boolean): string {
  if (target === undefined || target === '') return method;
  if (method === 'tools/call' || method === 'prompts/get') return `${method} ${target}`;
  if (withUri && method.startsWith('resources/')) return `${method} ${target}`;
  return method;
}

/** The tool/prompt name or resource URI a request names in its params. */
function paramsTarget(method: string, params: Record<string, unknown> | undefined): string | undefined {
  const key =
    method === 'tools/call' || method === 'prompts/get'
      ? 'name'
      : method.startsWith('resources/')
        ? 'uri'
        : undefined;
  const v = key === undefined ? undefined : params?.[key];
  return typeof v === 'string' ? v : undefined;
}

function targetAttributes(a: Attributes, method: string, target: string | undefined): void {
  if (target === undefined) return;
  if (method === 'tools/call') {
    a['gen_ai.tool.name'] = target;
    a['mcp.tool.name'] = target;
    a['gen_ai.operation.name'] = 'execute_tool';
  } else if (method === 'prompts/get') {
    a['gen_ai.prompt.name'] = target;
  } else if (
    method === 'resources/read' ||
    method === 'resources/subscribe' ||
    method === 'resources/unsubscribe'
  ) {
    a['mcp.resource.uri'] = target;
  }
}

function networkAttributes(a: Attributes, transport: TransportKind | undefined): void {
  if (transport === 'stdio') a['network.transport'] = 'pipe';
  else if (transport === 'http' || transport === 'sse') {
    a['network.transport'] = 'tcp';
    a['network.protocol.name'] = 'http';
  } else if (transport === 'websocket') {
    a['network.transport'] = 'tcp';
    a['network.protocol.name'] = 'websocket';
  }
}

function serverAttributes(ctx: CallContext, target: string | undefined): Attributes {
  const a: Attributes = { 'jsonrpc.request.id': String(ctx.requestId) };
  if (ctx.protocolVersion) a['mcp.protocol.version'] = ctx.protocolVersion;
  if (ctx.sessionId !== undefined) a['mcp.session.id'] = ctx.sessionId;
  targetAttributes(a, ctx.method, target);
  networkAttributes(a, ctx.transport);
  if (ctx.remoteAddress !== undefined) a['client.address'] = ctx.remoteAddress;
  if (ctx.clientInfo !== undefined) {
    a['mcp.client.name'] = ctx.clientInfo.name;
    if (ctx.clientInfo.version) a['mcp.client.version'] = ctx.clientInfo.version;
  }
  if (ctx.auth?.clientId !== undefined) a['mcp.auth.client_id'] = ctx.auth.clientId;
  return a;
}

/** Marks a `tools/call` result with `isError: true` as failed (semconv error.type `tool_error`). */
function recordToolError(span: Span, method: string, result: unknown): void {
  if (method !== 'tools/call' || typeof result !== 'object' || result === null) return;
  if ((result as { isError?: unknown }).isError !== true) return;
  span.setAttribute('error.type', 'tool_error');
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'tool result has isError: true' });
}

function recordError(span: Span, err: unknown, server: boolean): void {
  if (err instanceof McpError) {
    span.setAttributes({
      'rpc.jsonrpc.error_code': err.code,
      'rpc.response.status_code': String(err.code),
      'error.type': String(err.code),
    });
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    return;
  }
  if (err instanceof LocalError) {
    // Timeouts, closed connections: low-cardinality, as error.type must be.
    span.setAttribute('error.type', err.code.toLowerCase());
  } else if (!server) {
    span.setAttribute('error.type', err instanceof Error ? err.name : 'unknown');
  } else {
    // Anything else a handler throws reaches the wire as InternalError.
    span.setAttributes({
      'rpc.jsonrpc.error_code': ErrorCode.InternalError,
      'rpc.response.status_code': String(ErrorCode.InternalError),
      'error.type': err instanceof Error ? err.name : 'unknown',
    });
  }
  span.recordException(err instanceof Error ? err : (String(err) as Exception));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

function valid(sc: SpanContext | undefined): sc is SpanContext {
  return sc !== undefined && isSpanContextValid(sc);
}

/**
 * The server span's parent: `_meta` trace context first (it follows the MCP request across
 * HTTP retries and streams), then an already-instrumented transport's span, then HTTP
 * headers. When `_meta` wins, the transport context is linked, as semconv recommends.
 */
function parentOf(
  ctx: CallContext,
  propagator: TextMapPropagator,
): { parent: Context; link: SpanContext | undefined } {
  const ambient = context.active();
  const ambientSc = trace.getSpanContext(ambient);
  const meta = getMeta(ctx.params);
  const base = meta === undefined ? ambient : propagator.extract(ambient, meta, metaGetter);
  const metaSc = trace.getSpanContext(base);
  if (valid(metaSc) && metaSc !== ambientSc) {
    let transport = ambientSc;
    if (!valid(transport) && ctx.headers !== undefined) {
      transport = trace.getSpanContext(propagator.extract(ambient, ctx.headers, headersGetter));
    }
    const link = valid(transport) && transport.spanId !== metaSc.spanId ? transport : undefined;
    return { parent: base, link };
  }
  if (valid(ambientSc) || ctx.headers === undefined) return { parent: base, link: undefined };
  return { parent: propagator.extract(base, ctx.headers, headersGetter), link: undefined };
}

/**
 * A SERVER span around every request. With no SDK registered it calls straight through;
 * when the sampler drops the span it only makes the span current (so outgoing calls carry
 * the unsampled decision) and skips attributes, status and end.
 */
export function tracing(options: TracingOptions = {}): Middleware {
  const source = sourceFor(options);
  const configured = options.propagator;
  const withUri = options.resourceUriInSpanName ?? false;

  const traced = async (tracer: Tracer, ctx: CallContext, next: () => Promise<Result>): Promise<Result> => {
    const { parent, link } = parentOf(ctx, resolvePropagator(configured));
    const spanOptions: SpanOptions = { kind: SpanKind.SERVER, attributes: { 'mcp.method.name': ctx.method } };
    if (link !== undefined) spanOptions.links = [{ context: link } satisfies Link];
    // The server fills ctx.target while dispatching, i.e. after this layer starts: read params too.
    const target = ctx.target ?? paramsTarget(ctx.method, ctx.params);
    const span = tracer.startSpan(spanName(ctx.method, target, withUri), spanOptions, parent);
    const active = trace.setSpan(parent, span);
    if (!span.isRecording()) return context.with(active, next);
    span.setAttributes(serverAttributes(ctx, target));
    try {
      const result = await context.with(active, next);
      recordToolError(span, ctx.method, result);
      return result;
    } catch (err) {
      recordError(span, err, true);
      throw err;
    } finally {
      span.end();
    }
  };

  return (ctx, next) => {
    const tracer = source.current();
    return tracer === undefined ? next() : traced(tracer, ctx, next);
  };
}

/** What a client knows about the call beyond method and params. */
export interface ClientCallInfo {
  sessionId?: string;
  protocolVersion?: string;
  requestId?: string | number;
  transport?: TransportKind;
  serverAddress?: string;
  serverPort?: number;
}

export interface ClientTracer {
  /**
   * Runs `send` inside a CLIENT span, handing it a copy of `params` whose `_meta` carries
   * the span's trace context; `params` itself is not modified.
   */
  call<T>(
    method: string,
    params: Record<string, unknown> | undefined,
    send: (params: Record<string, unknown>) => Promise<T>,
    info?: ClientCallInfo,
  ): Promise<T>;
}

function clientAttributes(
  method: string,
  target: string | undefined,
  info: ClientCallInfo | undefined,
): Attributes {
  const a: Attributes = {};
  targetAttributes(a, method, target);
  if (info === undefined) return a;
  if (info.requestId !== undefined) a['jsonrpc.request.id'] = String(info.requestId);
  if (info.sessionId !== undefined) a['mcp.session.id'] = info.sessionId;
  if (info.protocolVersion !== undefined) a['mcp.protocol.version'] = info.protocolVersion;
  networkAttributes(a, info.transport);
  if (info.serverAddress !== undefined) a['server.address'] = info.serverAddress;
  if (info.serverPort !== undefined) a['server.port'] = info.serverPort;
  return a;
}

export function createClientTracer(options: TracingOptions = {}): ClientTracer {
  const source = sourceFor(options);
  const configured = options.propagator;
  const withUri = options.resourceUriInSpanName ?? false;
  return {
    async call(method, params, send, info) {
      const tracer = source.current();
      if (tracer === undefined) return send(params ?? {});
      const target = paramsTarget(method, params);
      const parent = context.active();
      const span = tracer.startSpan(
        spanName(method, target, withUri),
        { kind: SpanKind.CLIENT, attributes: { 'mcp.method.name': method } },
        parent,
      );
      const active = trace.setSpan(parent, span);
      const meta: Record<string, unknown> = { ...getMeta(params) };
      resolvePropagator(configured).inject(active, meta, metaSetter);
      const outgoing = { ...params, _meta: meta };
      if (!span.isRecording()) return context.with(active, () => send(outgoing));
      span.setAttributes(clientAttributes(method, target, info));
      try {
        const result = await context.with(active, () => send(outgoing));
        recordToolError(span, method, result);
        return result;
      } catch (err) {
        recordError(span, err, false);
        throw err;
      } finally {
        span.end();
      }
    },
  };
}

let defaultClientTracer: ClientTracer | undefined;

/** `createClientTracer().call` with the global provider and propagator. */
export function withClientSpan<T>(
  method: string,
  params: Record<string, unknown> | undefined,
  send: (params: Record<string, unknown>) => Promise<T>,
  info?: ClientCallInfo,
): Promise<T> {
  defaultClientTracer ??= createClientTracer();
  return defaultClientTracer.call(method, params, send, info);
}
