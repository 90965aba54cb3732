import type { Registry } from 'prom-client';
import { compress } from 'snappyjs';
import { InvalidOptionError, LocalError } from '../protocol/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { type Label, type TimeSeries, encodeWriteRequest } from './protobuf.js';

export interface RemoteWriteOptions {
  /** Receiver endpoint, e.g. `http://prometheus:9090/api/v1/write` (http or https). */
  url: string;
  /** Registry whose metrics are pushed (`createMetrics().registry`). */
  registry: Pick<Registry, 'getMetricsAsJSON'>;
  /** Snapshot period; default 15 000 ms. */
  intervalMs?: number;
  /** Added to every series unless the series has the label itself (like Prometheus `external_labels`). */
  labels?: Record<string, string>;
  /** Extra request headers, e.g. `Authorization`. The remote-write protocol headers cannot be overridden. */
  headers?: Record<string, string>;
  /** Samples per POST; default 2000. */
  maxSamplesPerSend?: number;
  /** Samples held while the receiver is slow or down; past it the oldest are dropped. Default 50 000. */
  maxQueueSamples?: number;
  /** Retries per batch on network errors, 5xx and 429; default 5. Other 4xx are never retried. */
  maxRetries?: number;
  /** Backoff before the first retry, doubled each time (with jitter); default 100 ms. */
  minBackoffMs?: number;
  /** Backoff ceiling; default 5 000 ms. */
  maxBackoffMs?: number;
  /** Per-POST timeout; default 10 000 ms. */
  requestTimeoutMs?: number;
  /** How long `stop()` may spend on the final snapshot and flush; default 5 000 ms. */
  stopTimeoutMs?: number;
  logger?: Logger;
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

export interface RemoteWriteStats {
  /** Samples the receiver accepted. */
  sent: number;
  /** Samples given up on: rejected with a 4xx, or retries exhausted. */
  failed: number;
  /** Samples never sent: pushed out of a full queue, or still pending when `stop()` timed out. */
  dropped: number;
  retries: number;
  requests: number;
  queued: number;
  collections: number;
  collectErrors: number;
  lastError: string | undefined;
}

const PROTOCOL_HEADERS = {
  'Content-Encoding': 'snappy',
  'Content-Type': 'application/x-protobuf',
  'X-Prometheus-Remote-Write-Version': '0.1.0',
  'User-Agent': 'mcpkit-remote-write/1.0',
};
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function positiveInt(
  options: RemoteWriteOptions,
  key: keyof RemoteWriteOptions,
  min: number,
  fallback: number,
): number {
  const value = options[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidOptionError(key, `must be an integer >= ${min}`);
  }
  return value;
}

function validateRecord(option: string, record: unknown): Record<string, string> {
  if (record === undefined) return {};
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw new InvalidOptionError(option, 'must be an object of strings');
  }
  for (const [k, v] of Object.entries(record)) {
    if (typeof v !== 'string') throw new InvalidOptionError(option, `value of "${k}" must be a string`);
  }
  return record as Record<string, string>;
}

/** A FIFO with O(1) removal at the head; compacts once the dead prefix dominates. */
class SeriesQueue {
  private items: TimeSeries[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }
  push(ts: TimeSeries): void {
    this.items.push(ts);
  }
  take(n: number): TimeSeries[] {
    const out = this.items.slice(this.head, this.head + n);
    this.head += out.length;
    this.compact();
    return out;
  }
  drop(n: number): number {
    const k = Math.min(n, this.length);
    this.head += k;
    this.compact();
    return k;
  }
  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

type MetricsSnapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

/**
 * Converts a prom-client snapshot to one-sample series: histograms and summaries come out
 * as their `_bucket`/`_sum`/`_count` series, label values as strings, labels sorted.
 */
export function toTimeSeries(
  metrics: MetricsSnapshot,
  timestampMs: number,
  external: Readonly<Record<string, string>> = {},
): TimeSeries[] {
  const out: TimeSeries[] = [];
  for (const metric of metrics) {
    for (const v of metric.values) {
      const name = (v as { metricName?: string }).metricName ?? metric.name;
      const merged: Record<string, string> = { ...external };
      for (const [k, raw] of Object.entries(v.labels)) {
        if (raw !== undefined && raw !== '') merged[k] = String(raw);
      }
      merged.__name__ = name;
      const labels: Label[] = [];
      for (const k of Object.keys(merged).sort()) {
        const value = merged[k] as string;
        if (value !== '') labels.push({ name: k, value });
      }
      out.push({ labels, samples: [{ value: v.value, timestampMs }] });
    }
  }
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function retryAfterMs(header: string | null): number {
  if (header === null) return 0;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // undici reports "fetch failed" and puts the reason (ECONNREFUSED, ...) in `cause`.
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

/**
 * Pushes registry snapshots to a Prometheus remote-write 1.0 receiver. Runs off the request
 * path on an unref'd timer: one POST in flight at a time, bounded queue, retries with
 * exponential backoff and jitter. Nothing it does can block or fail an MCP request.
 */
export class RemoteWriter {
  private readonly url: string;
  private readonly registry: Pick<Registry, 'getMetricsAsJSON'>;
  private readonly intervalMs: number;
  private readonly external: Record<string, string>;
  private readonly headers: Record<string, string>;
  private readonly maxSamplesPerSend: number;
  private readonly maxQueueSamples: number;
  private readonly maxRetries: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly requestTimeoutMs: number;
  private readonly stopTimeoutMs: number;
  private readonly logger: Logger;
  private readonly fetchFn: typeof fetch;

  private readonly queue = new SeriesQueue();
  private readonly abort = new AbortController();
  private timer: ReturnType<typeof setInterval> | undefined;
  private sending: Promise<void> | undefined;
  private collecting: Promise<void> | undefined;
  private stopping: Promise<RemoteWriteStats> | undefined;
  private lastTimestamp = 0;
  private readonly counts = {
    sent: 0,
    failed: 0,
    dropped: 0,
    retries: 0,
    requests: 0,
    collections: 0,
    collectErrors: 0,
  };
  private lastError: string | undefined;

  constructor(options: RemoteWriteOptions) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidOptionError('options', 'must be an object');
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new InvalidOptionError('url', `not a valid URL: ${String(options.url)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new InvalidOptionError('url', `must be http or https, got ${url.protocol}`);
    }
    this.url = url.href;
    if (typeof options.registry?.getMetricsAsJSON !== 'function') {
      throw new InvalidOptionError('registry', 'must be a prom-client Registry');
    }
    this.registry = options.registry;
    this.intervalMs = positiveInt(options, 'intervalMs', 10, 15_000);
    this.maxSamplesPerSend = positiveInt(options, 'maxSamplesPerSend', 1, 2000);
    this.maxQueueSamples = positiveInt(options, 'maxQueueSamples', 1, 50_000);
    this.maxRetries = positiveInt(options, 'maxRetries', 0, 5);
    this.minBackoffMs = positiveInt(options, 'minBackoffMs', 1, 100);
    this.maxBackoffMs = positiveInt(options, 'maxBackoffMs', 1, 5000);
    if (this.maxBackoffMs < this.minBackoffMs)
      throw new InvalidOptionError('maxBackoffMs', 'must be >= minBackoffMs');
    this.requestTimeoutMs = positiveInt(options, 'requestTimeoutMs', 1, 10_000);
    this.stopTimeoutMs = positiveInt(options, 'stopTimeoutMs', 0, 5000);
    this.external = validateRecord('labels', options.labels);
    for (const name of Object.keys(this.external)) {
      if (!LABEL_NAME.test(name) || name.startsWith('__')) {
        throw new InvalidOptionError(
          'labels',
          `"${name}" is not a valid label name (reserved or bad characters)`,
        );
      }
    }
    const extra = validateRecord('headers', options.headers);
    const reserved = new Set(Object.keys(PROTOCOL_HEADERS).map((h) => h.toLowerCase()));
    for (const name of Object.keys(extra)) {
      if (reserved.has(name.toLowerCase())) {
        throw new InvalidOptionError('headers', `"${name}" is set by the remote-write protocol`);
      }
    }
    this.headers = { ...extra, ...PROTOCOL_HEADERS };
    if (options.logger !== undefined && typeof options.logger?.warn !== 'function') {
      throw new InvalidOptionError('logger', 'must be a Logger');
    }
    this.logger = options.logger ?? silentLogger;
    const fetchFn = options.fetch ?? globalThis.fetch;
    if (typeof fetchFn !== 'function')
      throw new InvalidOptionError('fetch', 'no fetch implementation available');
    this.fetchFn = fetchFn;
  }

  /** Starts periodic snapshots. Idempotent; the timer never keeps the process alive. */
  start(): this {
    if (this.stopping !== undefined) throw new LocalError('CONNECTION_CLOSED', 'RemoteWriter was stopped');
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        if (this.collecting === undefined) void this.collect();
      }, this.intervalMs);
      this.timer.unref();
    }
    return this;
  }

  get stats(): RemoteWriteStats {
    return { ...this.counts, queued: this.queue.length, lastError: this.lastError };
  }

  /** Takes a snapshot now and queues it for sending; never throws (failures are counted). */
  collect(): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    const run = this.snapshot().finally(() => {
      this.collecting = undefined;
    });
    this.collecting = run;
    return run;
  }

  /** Resolves once everything queued so far has been sent or given up on. */
  async flush(): Promise<void> {
    this.pump();
    while (this.sending !== undefined) await this.sending;
  }

  /**
   * Stops the timer, takes a last snapshot and flushes, giving up after `timeoutMs`:
   * the request in flight is aborted and whatever is still queued counts as dropped.
   */
  stop(timeoutMs = this.stopTimeoutMs): Promise<RemoteWriteStats> {
    if (this.stopping !== undefined) return this.stopping;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.stopping = (async () => {
      const deadline = setTimeout(
        () => this.abort.abort(new LocalError('TIMEOUT', 'RemoteWriter stop timed out')),
        timeoutMs,
      );
      try {
        if (this.collecting !== undefined) await this.collecting;
        await this.collect();
        await this.flush();
      } finally {
        clearTimeout(deadline);
        this.abort.abort(new LocalError('CONNECTION_CLOSED', 'RemoteWriter stopped'));
        this.counts.dropped += this.queue.drop(this.queue.length);
      }
      return this.stats;
    })();
    return this.stopping;
  }

  private async snapshot(): Promise<void> {
    let metrics: MetricsSnapshot;
    try {
      metrics = await this.registry.getMetricsAsJSON();
    } catch (err) {
      this.counts.collectErrors++;
      this.lastError = describe(err);
      this.logger.warn({ err }, 'remote write: collecting metrics failed');
      return;
    }
    // Strictly increasing: two snapshots in one millisecond would be rejected as duplicate samples.
    const now = Math.max(Date.now(), this.lastTimestamp + 1);
    this.lastTimestamp = now;
    this.counts.collections++;
    for (const ts of toTimeSeries(metrics, now, this.external)) this.queue.push(ts);
    const excess = this.queue.length - this.maxQueueSamples;
    if (excess > 0) {
      this.counts.dropped += this.queue.drop(excess);
      this.logger.warn({ dropped: excess }, 'remote write: queue full, dropped oldest samples');
    }
    this.pump();
  }

  private pump(): void {
    if (this.sending !== undefined || this.queue.length === 0) return;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.abort.signal.aborted) {
      await this.send(this.queue.take(this.maxSamplesPerSend));
    }
  }

  private backoff(attempt: number, serverAsked: number): number {
    const cap = Math.min(this.maxBackoffMs, this.minBackoffMs * 2 ** attempt);
    // Equal jitter: at least half the step, so retries from many instances spread out but still back off.
    const delay = cap / 2 + Math.random() * (cap / 2);
    return Math.min(this.maxBackoffMs, Math.max(delay, serverAsked));
  }

  private giveUp(batch: TimeSeries[], reason: string): void {
    this.counts.failed += batch.length;
    this.lastError = reason;
    this.logger.warn({ samples: batch.length, reason }, 'remote write: batch failed');
  }

  private async send(batch: TimeSeries[]): Promise<void> {
    let body: Uint8Array;
    try {
      body = compress(encodeWriteRequest(batch));
    } catch (err) {
      this.giveUp(batch, `encoding failed: ${describe(err)}`);
      return;
    }
    const signal = this.abort.signal;
    for (let attempt = 0; ; attempt++) {
      let reason: string;
      let serverAsked = 0;
      try {
        const res = await this.fetchFn(this.url, {
          method: 'POST',
          headers: this.headers,
          body: body as Uint8Array<ArrayBuffer>,
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.requestTimeoutMs)]),
        });
        this.counts.requests++;
        // Read the body either way so the connection goes back to the pool.
        const text = (await res.text().catch(() => '')).slice(0, 200).trim();
        if (res.ok) {
          this.counts.sent += batch.length;
          return;
        }
        reason = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
        if (res.status !== 429 && res.status < 500) {
          this.giveUp(batch, reason);
          return;
        }
        serverAsked = retryAfterMs(res.headers.get('retry-after'));
      } catch (err) {
        reason = describe(err);
      }
      if (signal.aborted) {
        this.counts.dropped += batch.length;
        return;
      }
      if (attempt >= this.maxRetries) {
        this.giveUp(batch, `${reason} (after ${attempt + 1} attempts)`);
        return;
      }
      this.counts.retries++;
      this.lastError = reason;
      await sleep(this.backoff(attempt, serverAsked), signal);
    }
  }
}
