import {
  Counter,
  Gauge,
  type Metric,
  Registry,
  collectDefaultMetrics as collectProcessMetrics,
} from 'prom-client';
import { ErrorCode, InvalidOptionError, McpError } from '../protocol/errors.js';
import type { CallContext, Middleware, Result } from '../server/middleware.js';
import { CellHistogram, type CounterCell, CounterCells, type HistogramCell } from './cells.js';
import { type Exposition, prefersOpenMetrics, renderRegistry } from './exposition.js';
import { LabelBinder, MCP_METHODS, type NameLookup } from './labels.js';

/**
 * Series names as Prometheus stores them. Every counter ends in `_total`: OpenMetrics
 * (which Prometheus negotiates first when scraping) appends it to counter samples anyway,
 * so an unsuffixed counter such as the guide's `mcp_rate_limit_rejections` would be stored
 * as `mcp_rate_limit_rejections` under 0.0.4 and `mcp_rate_limit_rejections_total` under
 * OpenMetrics. Suffixing it here gives one name whatever the scrape format.
 */
export const METRIC_NAMES = {
  requests: 'mcp_requests_total',
  requestDuration: 'mcp_request_duration_seconds',
  errors: 'mcp_errors_total',
  rateLimitRejections: 'mcp_rate_limit_rejections_total',
  activeConnections: 'mcp_active_connections',
  activeSessions: 'mcp_active_sessions',
  openStreams: 'mcp_open_streams',
  toolInvocations: 'mcp_tool_invocations_total',
  resourceReads: 'mcp_resource_reads_total',
  promptGets: 'mcp_prompt_gets_total',
} as const;

/** 1 ms to 30 s, dense enough around typical latencies that p50/p90/p99 interpolate well. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 30,
];

/** Where the server records the URI template a `resources/read` matched. */
export const RESOURCE_TEMPLATE_STATE_KEY = 'mcpkit.resourceTemplate';

const TRANSPORTS = ['http', 'stdio', 'memory', 'websocket', 'sse'];
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

export interface MetricsOptions {
  /** Registry to register into; default a new one, so nothing leaks into prom-client's global registry. */
  registry?: Registry;
  /** Prepended to every metric name (default none, so names match the guide). */
  prefix?: string;
  /** Node process metrics (CPU, memory, event loop, GC) in the same registry; default true. */
  collectDefaultMetrics?: boolean;
  /** Upper bounds of the duration histogram, in seconds, ascending. */
  buckets?: readonly number[];
  /** Registered tool names, e.g. `() => server.tools`; other names are labelled `other`. */
  knownTools?: () => NameLookup;
  /** Registered prompt names, e.g. `() => server.prompts`; other names are labelled `other`. */
  knownPrompts?: () => NameLookup;
  /** Most distinct values per bounded label (tool, prompt, template, error code); default 100. */
  maxLabelValues?: number;
  /** Methods beyond the standard MCP ones that get their own `method` label. */
  extraMethods?: readonly string[];
  /**
   * Count `RateLimited` errors that pass through the middleware as rejections (default true).
   * Turn off when the rate limiter reports through `rateLimitRejected()` itself.
   */
  countRateLimitErrors?: boolean;
}

export interface Metrics {
  readonly registry: Registry;
  /** Put it outermost, so it times and counts what every other layer does. */
  readonly middleware: Middleware;
  /** Prometheus text 0.0.4, or OpenMetrics 1.0 when `accept` prefers it. */
  render(accept?: string): Promise<Exposition>;
  connectionOpened(transport: string): void;
  connectionClosed(transport: string): void;
  sessionOpened(): void;
  sessionClosed(): void;
  streamOpened(): void;
  streamClosed(): void;
  /** A rejection that did not pass through the middleware as an error (tool omitted: `global`). */
  rateLimitRejected(tool?: string): void;
}

interface GaugeChild {
  inc(): void;
  dec(): void;
}

const KIND_NONE = 0;
const KIND_TOOL = 1;
const KIND_RESOURCE = 2;
const KIND_PROMPT = 3;

interface MethodRecord {
  kind: number;
  ok: CounterCell;
  error: CounterCell;
  duration: HistogramCell;
  codes: LabelBinder<CounterCell>;
}

interface ToolRecord {
  ok: CounterCell;
  toolError: CounterCell;
  protocolError: CounterCell;
  rateLimited: CounterCell;
}

function kindOf(method: string): number {
  if (method === 'tools/call') return KIND_TOOL;
  if (method === 'resources/read') return KIND_RESOURCE;
  if (method === 'prompts/get') return KIND_PROMPT;
  return KIND_NONE;
}

function validate(options: MetricsOptions): void {
  const { prefix, buckets, maxLabelValues, registry } = options;
  if (prefix !== undefined && (typeof prefix !== 'string' || (prefix !== '' && !METRIC_NAME.test(prefix)))) {
    throw new InvalidOptionError(
      'prefix',
      'must be a valid Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)',
    );
  }
  if (buckets !== undefined) {
    if (!Array.isArray(buckets) || buckets.length === 0) {
      throw new InvalidOptionError('buckets', 'must be a non-empty array of seconds');
    }
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i] as number;
      if (typeof b !== 'number' || !Number.isFinite(b) || b <= 0) {
        throw new InvalidOptionError('buckets', `bucket ${i} must be a positive finite number`);
      }
      if (i > 0 && b <= (buckets[i - 1] as number)) {
        throw new InvalidOptionError('buckets', 'must be strictly ascending');
      }
    }
  }
  if (maxLabelValues !== undefined && (!Number.isInteger(maxLabelValues) || maxLabelValues < 1)) {
    throw new InvalidOptionError('maxLabelValues', 'must be a positive integer');
  }
  if (options.extraMethods !== undefined) {
    if (!Array.isArray(options.extraMethods)) {
      throw new InvalidOptionError('extraMethods', 'must be an array of method names');
    }
    for (const m of options.extraMethods) {
      if (typeof m !== 'string' || m === '')
        throw new InvalidOptionError('extraMethods', 'must be non-empty strings');
    }
  }
  for (const key of ['knownTools', 'knownPrompts'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'function') {
      throw new InvalidOptionError(key, 'must be a function returning a Set or Map of names');
    }
  }
  if (registry !== undefined) {
    if (
      typeof registry !== 'object' ||
      registry === null ||
      typeof registry.getMetricsAsJSON !== 'function'
    ) {
      throw new InvalidOptionError('registry', 'must be a prom-client Registry');
    }
    // An OpenMetrics registry renames counters whenever it renders; render() negotiates the format instead.
    if (registry.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) {
      throw new InvalidOptionError(
        'registry',
        'must use the Prometheus content type; render() negotiates OpenMetrics',
      );
    }
  }
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  validate(options);
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? '';
  const max = options.maxLabelValues ?? 100;
  const countRateLimitErrors = options.countRateLimitErrors ?? true;
  const registers = [registry];
  const name = (n: string) => prefix + n;

  for (const n of Object.values(METRIC_NAMES)) {
    if (registry.getSingleMetric(name(n)) !== undefined) {
      throw new InvalidOptionError('registry', `already holds ${name(n)}; use another registry or a prefix`);
    }
  }
  if (
    (options.collectDefaultMetrics ?? true) &&
    registry.getSingleMetric(`${prefix}process_cpu_seconds_total`) === undefined
  ) {
    collectProcessMetrics({ register: registry, prefix });
  }

  // Counters record into cells on the hot path and are folded in when prom-client collects.
  const counter = (n: string, help: string, labelNames: string[]): CounterCells => {
    const cells = new CounterCells();
    cells.bind(new Counter({ name: name(n), help, labelNames, registers, collect: cells.flush }));
    return cells;
  };
  const requests = counter(
    METRIC_NAMES.requests,
    'MCP requests handled, by method and outcome (error = answered with a JSON-RPC error).',
    ['method', 'status'],
  );
  const errors = counter(
    METRIC_NAMES.errors,
    'Requests answered with a JSON-RPC error, by method and error code.',
    ['method', 'code'],
  );
  const rateLimit = counter(
    METRIC_NAMES.rateLimitRejections,
    'Requests rejected by a rate limit, by tool (global for limits not tied to a tool).',
    ['tool'],
  );
  const tools = counter(
    METRIC_NAMES.toolInvocations,
    'tools/call requests by tool and outcome (ok, tool_error = result.isError, protocol_error).',
    ['tool', 'outcome'],
  );
  const reads = counter(
    METRIC_NAMES.resourceReads,
    'resources/read requests by matched URI template (static for fixed resources).',
    ['template'],
  );
  const prompts = counter(METRIC_NAMES.promptGets, 'prompts/get requests by prompt.', ['prompt']);
  const duration = new CellHistogram(
    name(METRIC_NAMES.requestDuration),
    'Time from request dispatch to result or error, in seconds.',
    ['method'],
    options.buckets ?? DEFAULT_DURATION_BUCKETS,
  );
  registry.registerMetric(duration as unknown as Metric);
  const connections = new Gauge({
    name: name(METRIC_NAMES.activeConnections),
    help: 'Open transport connections, by transport.',
    labelNames: ['transport'],
    registers,
  });
  const sessions = new Gauge({
    name: name(METRIC_NAMES.activeSessions),
    help: 'Live MCP sessions.',
    registers,
  });
  const streams = new Gauge({
    name: name(METRIC_NAMES.openStreams),
    help: 'Open SSE/response streams.',
    registers,
  });

  // Cells are bound once per label set: the hot path never builds a label object.
  const methodRecord = (method: string): MethodRecord => ({
    kind: kindOf(method),
    ok: requests.cell({ method, status: 'ok' }),
    error: requests.cell({ method, status: 'error' }),
    duration: duration.cell({ method }),
    codes: new LabelBinder((code) => errors.cell({ method, code }), max),
  });
  const methodNames = new Set<string>([...MCP_METHODS, ...(options.extraMethods ?? [])]);
  const methods = new LabelBinder(methodRecord, methodNames.size, () => methodNames);
  const toolRecords = new LabelBinder<ToolRecord>(
    (tool) => ({
      ok: tools.cell({ tool, outcome: 'ok' }),
      toolError: tools.cell({ tool, outcome: 'tool_error' }),
      protocolError: tools.cell({ tool, outcome: 'protocol_error' }),
      rateLimited: rateLimit.cell({ tool }),
    }),
    max,
    options.knownTools,
  );
  const templates = new LabelBinder<CounterCell>((template) => reads.cell({ template }), max);
  const promptRecords = new LabelBinder<CounterCell>(
    (prompt) => prompts.cell({ prompt }),
    max,
    options.knownPrompts,
  );
  const globalRateLimited = rateLimit.cell({ tool: 'global' });
  const transportSet = new Set(TRANSPORTS);
  const transports = new LabelBinder<GaugeChild>(
    (t) => connections.labels(t),
    TRANSPORTS.length,
    () => transportSet,
  );
  const open = new Map<GaugeChild, number>();
  let sessionCount = 0;
  let streamCount = 0;

  const templateOf = (ctx: CallContext, ok: boolean): string => {
    const t = ctx.state.get(RESOURCE_TEMPLATE_STATE_KEY);
    if (typeof t === 'string') return t;
    return ok ? 'static' : 'unmatched';
  };

  const succeeded = (m: MethodRecord, ctx: CallContext, result: Result, seconds: number): void => {
    m.ok.inc();
    m.duration.observe(seconds);
    if (m.kind === KIND_NONE) return;
    if (m.kind === KIND_TOOL) {
      const t = toolRecords.get(ctx.target);
      (result.isError === true ? t.toolError : t.ok).inc();
    } else if (m.kind === KIND_RESOURCE) templates.get(templateOf(ctx, true)).inc();
    else promptRecords.get(ctx.target).inc();
  };

  const failed = (m: MethodRecord, ctx: CallContext, err: unknown, seconds: number): void => {
    // Anything but an McpError reaches the wire as InternalError; count what the client saw.
    const code = err instanceof McpError ? err.code : ErrorCode.InternalError;
    m.error.inc();
    m.duration.observe(seconds);
    m.codes.get(String(code)).inc();
    const limited = countRateLimitErrors && code === ErrorCode.RateLimited;
    if (m.kind === KIND_TOOL) {
      const t = toolRecords.get(ctx.target);
      t.protocolError.inc();
      if (limited) t.rateLimited.inc();
      return;
    }
    if (limited) globalRateLimited.inc();
    if (m.kind === KIND_RESOURCE) templates.get(templateOf(ctx, false)).inc();
    else if (m.kind === KIND_PROMPT) promptRecords.get(ctx.target).inc();
  };

  let warned = false;
  const recordFailure = (ctx: CallContext, err: unknown): void => {
    if (warned) return;
    warned = true;
    ctx.logger.warn({ err }, 'telemetry: recording a metric failed; further failures are not logged');
  };

  const middleware: Middleware = async (ctx, next) => {
    const start = performance.now();
    let result: Result;
    try {
      result = await next();
    } catch (err) {
      try {
        failed(methods.get(ctx.method), ctx, err, (performance.now() - start) / 1000);
      } catch (recordErr) {
        recordFailure(ctx, recordErr);
      }
      throw err;
    }
    // Telemetry must never turn a good answer into an error.
    try {
      succeeded(methods.get(ctx.method), ctx, result, (performance.now() - start) / 1000);
    } catch (recordErr) {
      recordFailure(ctx, recordErr);
    }
    return result;
  };

  const opened = (child: GaugeChild): void => {
    open.set(child, (open.get(child) ?? 0) + 1);
    child.inc();
  };
  // Clamped at zero: an unmatched close is a caller bug, not a negative connection count.
  const closed = (child: GaugeChild): void => {
    const n = open.get(child) ?? 0;
    if (n === 0) return;
    open.set(child, n - 1);
    child.dec();
  };

  return {
    registry,
    middleware,
    render: (accept) => renderRegistry(registry, prefersOpenMetrics(accept)),
    connectionOpened: (transport) => opened(transports.get(transport)),
    connectionClosed: (transport) => closed(transports.get(transport)),
    sessionOpened: () => {
      sessionCount++;
      sessions.inc();
    },
    sessionClosed: () => {
      if (sessionCount === 0) return;
      sessionCount--;
      sessions.dec();
    },
    streamOpened: () => {
      streamCount++;
      streams.inc();
    },
    streamClosed: () => {
      if (streamCount === 0) return;
      streamCount--;
      streams.dec();
    },
    rateLimitRejected: (tool) =>
      (tool === undefined ? globalRateLimited : toolRecords.get(tool).rateLimited).inc(),
  };
}
