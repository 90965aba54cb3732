import { randomBytes } from 'node:crypto';
import type { JsonRpcMessage, RequestId } from '../../protocol/jsonrpc.js';
import type { Exchange } from '../../server/context.js';
import type { MessageInfo } from '../types.js';
import type { EventStore } from './event-store.js';
import type { Headers, HttpIO } from './io.js';
import type { HttpSession } from './sessions.js';
import type { SseStream } from './sse.js';

export const JSON_HEADERS: Headers = { 'content-type': 'application/json' };

/** What an exchange needs from the handler that runs it. */
export interface ExchangeHost {
  openStream(io: HttpIO, headers: Headers, resumable: boolean): SseStream;
  registerLive(streamId: string, exchange: PostExchange): void;
  unregisterLive(streamId: string): void;
  readonly eventStore: EventStore | undefined;
  readonly timeoutMs: number;
}

/** One POSTed request in flight: its response goes out as JSON, or as SSE once anything precedes it. */
export class PostExchange implements Exchange {
  readonly transport = 'http' as const;
  readonly info: MessageInfo;
  private readonly ownSignal: AbortSignal | undefined;
  private stream: SseStream | undefined;
  private streamId: string | undefined;
  private readonly controller: AbortController | undefined;
  private done = false;
  /** Keeps writes in order while an async event store assigns their ids. */
  private pending: Promise<void> | undefined;
  readonly request: Exchange['request'];

  constructor(
    private readonly handler: ExchangeHost,
    private readonly io: HttpIO,
    private readonly requestId: RequestId,
    readonly session: HttpSession | undefined,
    private readonly modern: boolean,
    private readonly extraHeaders: Headers | undefined,
  ) {
    const info: MessageInfo = { headers: io.headers };
    if (io.auth) info.auth = io.auth;
    if (io.remoteAddress !== undefined) info.remoteAddress = io.remoteAddress;
    this.info = info;
    if (session) {
      // Legacy: a dropped connection is not a cancellation (the client may resume); cancellation is explicit.
      this.controller = new AbortController();
      this.ownSignal = this.controller.signal;
      session.inflight.set(requestId, this.controller);
      // Cancelled (notifications/cancelled, DELETE): end the HTTP exchange now, even if the handler never settles.
      this.ownSignal.addEventListener('abort', () => this.finish(undefined, 0), { once: true });
      this.request = (method, params, signal) =>
        session.request(method, params, (m) => this.write(m), signal, handler.timeoutMs);
    } else {
      this.request = undefined;
    }
  }

  /** 2026: the client hanging up is the cancellation. Built on first use: most handlers never look. */
  get signal(): AbortSignal {
    return this.ownSignal ?? this.io.signal;
  }

  get streaming(): boolean {
    return this.stream !== undefined;
  }

  notify(method: string, params: Record<string, unknown>): Promise<void> {
    this.write({ jsonrpc: '2.0', method, params });
    return Promise.resolve();
  }

  private ensureStream(): void {
    if (this.stream || this.done) return;
    const accept = this.io.header('accept');
    if (accept !== undefined && !/text\/event-stream|\*\/\*/i.test(accept)) return;
    const resumable =
      this.session !== undefined &&
      this.handler.eventStore !== undefined &&
      (this.session.protocolVersion ?? '') >= '2025-11-25';
    this.stream = this.handler.openStream(this.io, this.extraHeaders ?? {}, resumable);
    if (resumable && this.session) {
      this.streamId = `${this.session.id}.${randomBytes(6).toString('base64url')}`;
      // A tailing store carries resumed streams itself; others hand this exchange the new stream.
      if (!this.handler.eventStore?.subscribe) this.handler.registerLive(this.streamId, this);
      this.stream.prime(`${this.streamId}_0`);
    }
  }

  readonly closeStream = (): void => {
    this.ensureStream();
    this.stream?.close();
  };

  /** A resumed GET stream takes over delivering the rest of this request's events. */
  attach(stream: SseStream): void {
    if (this.stream && !this.stream.closed) this.stream.close();
    this.stream = stream;
  }

  private write(message: JsonRpcMessage): void {
    if (this.done) return;
    this.ensureStream();
    if (!this.stream) {
      // The client cannot take a stream here: route session messages to the GET stream instead.
      this.session?.sendStandalone(message);
      return;
    }
    const store = this.handler.eventStore;
    if (!this.streamId || !store) {
      this.stream.send(message);
      return;
    }
    const send = (eventId: string | undefined) => void this.stream?.send(message, eventId);
    let id: ReturnType<EventStore['append']>;
    try {
      id = store.append(this.streamId, message);
    } catch {
      id = undefined;
    }
    if (!(id instanceof Promise)) {
      if (this.pending) this.pending = this.pending.then(() => send(id));
      else send(id);
      return;
    }
    // A failed append still delivers the event live, only without an id to resume from.
    const stored = id;
    stored.catch(() => {});
    this.pending = (this.pending ?? Promise.resolve()).then(() => stored).then(send, () => send(undefined));
  }

  finish(message: JsonRpcMessage | undefined, status: number, headers: Headers = {}): void {
    if (this.done) return;
    if (message === undefined) {
      this.done = true;
      this.stream?.close();
      if (!this.io.responded) this.io.respond(202, {});
      return;
    }
    if (this.stream) {
      this.write(message);
      this.done = true;
      if (this.pending) void this.pending.then(() => this.stream?.close());
      else this.stream.close();
      return;
    }
    this.done = true;
    this.io.respond(status, { ...JSON_HEADERS, ...this.extraHeaders, ...headers }, JSON.stringify(message));
  }

  dispose(): void {
    if (this.session) this.session.inflight.delete(this.requestId);
    if (this.streamId) this.handler.unregisterLive(this.streamId);
  }
}
