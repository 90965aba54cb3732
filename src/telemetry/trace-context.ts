import {
  type Context,
  type SpanContext,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  context,
  createTraceState,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const VERSION_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// Later versions may append fields; the first four keep their meaning (W3C Trace Context §4.3).
const FUTURE_VERSION = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

/** Parses a W3C `traceparent`; undefined when malformed or all-zero (the spec says: ignore it). */
export function parseTraceparent(value: string): SpanContext | undefined {
  let m = VERSION_00.exec(value);
  let offset = 0;
  if (m === null) {
    m = FUTURE_VERSION.exec(value);
    if (m === null || m[1] === '00' || m[1] === 'ff') return undefined;
    offset = 1;
  }
  const sc: SpanContext = {
    traceId: m[1 + offset] as string,
    spanId: m[2 + offset] as string,
    traceFlags: Number.parseInt(m[3 + offset] as string, 16) & 0xff,
    isRemote: true,
  };
  return isSpanContextValid(sc) ? sc : undefined;
}

export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * W3C Trace Context, built in because MCP's `_meta.traceparent`/`tracestate` are defined as
 * W3C fields and `@opentelemetry/core` (which has the SDK's propagator) is not a peer of mcpkit.
 */
export class W3CTraceContextPropagator implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const sc = trace.getSpanContext(ctx);
    if (sc === undefined || !isSpanContextValid(sc)) return;
    setter.set(carrier, TRACEPARENT, formatTraceparent(sc));
    const state = sc.traceState?.serialize();
    if (state) setter.set(carrier, TRACESTATE, state);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const raw = getter.get(carrier, TRACEPARENT);
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (typeof value !== 'string') return ctx;
    const sc = parseTraceparent(value.trim());
    if (sc === undefined) return ctx;
    const rawState = getter.get(carrier, TRACESTATE);
    const state = Array.isArray(rawState) ? rawState.join(',') : rawState;
    if (typeof state === 'string' && state !== '') sc.traceState = createTraceState(state);
    return trace.setSpanContext(ctx, sc);
  }

  fields(): string[] {
    return [TRACEPARENT, TRACESTATE];
  }
}

const w3c = new W3CTraceContextPropagator();

/**
 * The propagator to use: an explicit one, else the globally configured one (so B3 or
 * baggage set up through the SDK apply to `_meta` too), else built-in W3C trace context.
 */
export function resolvePropagator(configured?: TextMapPropagator): TextMapPropagator {
  if (configured !== undefined) return configured;
  return propagation.fields().length > 0 ? propagation : w3c;
}

/** `_meta` is a plain object: only string values are trace context. */
export const metaGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key];
    return typeof v === 'string' ? v : undefined;
  },
};

export const metaSetter: TextMapSetter<Record<string, unknown>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/** Node lower-cases incoming header names; propagators ask in their own case. */
export const headersGetter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key] ?? carrier[key.toLowerCase()],
};

/**
 * Writes the trace context of `ctx` (default: the active context) into an outgoing
 * request's `_meta` object, for clients that build requests themselves. Returns `meta`.
 */
export function injectTraceContext<T extends Record<string, unknown>>(
  meta: T,
  ctx: Context = context.active(),
  propagator?: TextMapPropagator,
): T {
  resolvePropagator(propagator).inject(ctx, meta, metaSetter);
  return meta;
}
