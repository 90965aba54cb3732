import type { StreamSink } from './io.js';

export interface SseOptions {
  /** Comment line every N ms so proxies and clients see the stream is alive (0 = off). */
  keepAliveMs?: number;
  /** Bytes queued for a client that stopped reading before the stream is dropped. */
  maxBufferedBytes?: number;
  /** `retry:` hint for reconnecting clients (legacy resumable streams). */
  retryMs?: number;
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  // nginx and friends buffer responses unless told not to (spec SHOULD).
  'x-accel-buffering': 'no',
} as const;

/**
 * Server-sent events over a StreamSink with keep-alives and bounded buffering: a client
 * that stops reading gets dropped once `maxBufferedBytes` is queued, rather than making
 * the server hold an unbounded backlog.
 */
export class SseStream {
  private congested = false;
  private queue: string[] = [];
  private queuedBytes = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly maxBufferedBytes: number;
  private readonly closeListeners: Array<() => void> = [];
  private ended = false;
  private readonly retryMs: number | undefined;

  constructor(
    private readonly sink: StreamSink,
    options: SseOptions = {},
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.retryMs = options.retryMs;
    const keepAlive = options.keepAliveMs ?? 0;
    if (keepAlive > 0) {
      this.timer = setInterval(() => this.raw(': keep-alive\n\n'), keepAlive);
      this.timer.unref?.();
    }
    sink.onClose(() => this.finish());
  }

  get closed(): boolean {
    return this.ended || this.sink.closed;
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closeListeners.push(fn);
  }

  /** Writes one `message` event; `id` makes it resumable. Returns false if the stream is gone. */
  send(data: unknown, id?: string): boolean {
    const json = typeof data === 'string' ? data : JSON.stringify(data);
    return this.raw(
      id === undefined ? `event: message\ndata: ${json}\n\n` : `id: ${id}\nevent: message\ndata: ${json}\n\n`,
    );
  }

  /** A named event with raw (single-line) data, e.g. the 2024-11-05 `endpoint` event. */
  sendEvent(event: string, data: string): boolean {
    return this.raw(`event: ${event}\ndata: ${data.replace(/[\r\n]/g, '')}\n\n`);
  }

  /** An event with an id and empty data: lets the client resume from here before anything else arrives. */
  prime(id: string): boolean {
    return this.raw(
      this.retryMs === undefined ? `id: ${id}\ndata: \n\n` : `id: ${id}\nretry: ${this.retryMs}\ndata: \n\n`,
    );
  }

  private raw(chunk: string): boolean {
    if (this.closed) return false;
    if (this.congested) {
      this.queuedBytes += chunk.length;
      if (this.queuedBytes > this.maxBufferedBytes) {
        // Drop the reader: end gracefully so what is queued can still flush, but a reader that
        // really stopped would hold the connection forever, so tear it down after a grace period.
        const sink = this.sink;
        this.close();
        if (sink.destroy) {
          const timer = setTimeout(() => sink.destroy?.(), 1000);
          timer.unref?.();
          sink.onClose(() => clearTimeout(timer));
        }
        return false;
      }
      this.queue.push(chunk);
      return true;
    }
    if (!this.sink.write(chunk)) {
      this.congested = true;
      this.sink.onDrain(() => this.drain());
    }
    return true;
  }

  private drain(): void {
    this.congested = false;
    const pending = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const chunk of pending) if (!this.raw(chunk)) break;
  }

  close(): void {
    if (this.ended) return;
    this.sink.end();
    this.finish();
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearInterval(this.timer);
    this.queue = [];
    for (const fn of this.closeListeners.splice(0)) fn();
  }
}
