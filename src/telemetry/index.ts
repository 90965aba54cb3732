/**
 * mcpkit/telemetry: Prometheus metrics (prom-client), remote-write push and OpenTelemetry
 * tracing. prom-client, snappyjs and @opentelemetry/api are optional peers loaded only here.
 */
export {
  createMetrics,
  DEFAULT_DURATION_BUCKETS,
  METRIC_NAMES,
  RESOURCE_TEMPLATE_STATE_KEY,
  type Metrics,
  type MetricsOptions,
} from './metrics.js';
export {
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  prefersOpenMetrics,
  type Exposition,
} from './exposition.js';
export { MCP_METHODS, type NameLookup, OTHER } from './labels.js';
export {
  RemoteWriter,
  toTimeSeries,
  type RemoteWriteOptions,
  type RemoteWriteStats,
} from './remote-write.js';
export { encodeWriteRequest, type Label, type Sample, type TimeSeries } from './protobuf.js';
export {
  createClientTracer,
  tracing,
  withClientSpan,
  type ClientCallInfo,
  type ClientTracer,
  type TracingOptions,
} from './tracing.js';
export {
  formatTraceparent,
  injectTraceContext,
  parseTraceparent,
  W3CTraceContextPropagator,
} from './trace-context.js';
