import { randomBytes } from 'node:crypto';
import { ConnectionClosedError, InvalidOptionError, McpError, RequestCancelledError, RequestTimeoutError } from '../../protocol/errors.js';
import type { JsonRpcMessage, JsonRpcResponse, RequestId } from '../../protocol/jsonrpc.js';
import type { ClientCapabilities, Implementation, LoggingLevel } from '../../protocol/types.js';
import type { LegacySession } from '../../server/context.js';
import type { SseStream } from './sse.js';

/** Stores SSE events so a client can resume a stream with `Last-Event-ID` (legacy era). */
export interface EventStore {
  /** Stores an event of a stream and returns its id. */
  append(streamId: string, message: JsonRpcMessage): Promise<string> | string;
  /** Replays the events after `lastEventId` (same stream); returns that stream's id, or undefined if unknown. */
  replayAfter(lastEventId: string, send: (id: string, message: JsonRpcMessage) => void): Promise<string | undefined> | string | undefined;
}

/** In-process event store, bounded per stream and in streams; oldest streams are evicted first. */
export class MemoryEventStore implements EventStore {
  private readonly streams = new Map<string, { seq: number; events: Array<{ seq: number; message: JsonRpcMessage }> }>();
  constructor(
    private readonly maxEventsPerStream = 1000,
    private readonly maxStreams = 10_000,
  ) {
    if (!Number.isSafeInteger(maxEventsPerStream) || maxEventsPerStream < 1) throw new InvalidOptionError('maxEventsPerStream', 'must be a positive integer');
    if (!Number.isSafeInteger(maxStreams) || maxStreams < 1) throw new InvalidOptionError('maxStreams', 'must be a positive integer');
  }

  append(streamId: string, message: JsonRpcMessage): string {
    let stream = this.streams.get(streamId);
    if (!stream) {
      if (this.streams.size >= this.maxStreams) {
        const oldest = this.streams.keys().next().value;
        if (oldest !== undefined) this.streams.delete(oldest);
      }
      stream = { seq: 0, events: [] };
      this.streams.set(streamId, stream);
    }
    const seq = ++stream.seq;
    stream.events.push({ seq, message });
    if (stream.events.length > this.maxEventsPerStream) stream.events.shift();
    return `${streamId}_${seq}`;
  }

  replayAfter(lastEventId: string, send: (id: string, message: JsonRpcMessage) => void): string | undefined {
    const sep = lastEventId.lastIndexOf('_');
    if (sep <= 0) return undefined;
    const streamId = lastEventId.slice(0, sep);
    const after = Number(lastEventId.slice(sep + 1));
    const stream = this.streams.get(streamId);
    if (!stream || !Number.isSafeInteger(after)) return undefined;
    for (const event of stream.events) if (event.seq > after) send(`${streamId}_${event.seq}`, event.message);
    return streamId;
  }

  forget(streamId: string): void {
    this.streams.delete(streamId);
  }

  get size(): number {
    return this.streams.size;
  }
}

interface PendingOutgoing {
  resolve(result: Record<string, unknown>): void;
  reject(err: unknown): void;
}

/** A legacy Streamable HTTP session: negotiated state plus the streams that reach its client. */
export class HttpSession implements LegacySession {
  protocolVersion: string | undefined = undefined;
  initialized = false;
  clientInfo: Implementation | undefined = undefined;
  clientCapabilities: ClientCapabilities = {};
  logLevel: LoggingLevel | undefined = undefined;
  readonly subscriptions = new Set<string>();
  lastActivity = Date.now();
  /** The standalone GET stream, if open. */
  standalone: SseStream | undefined;
  readonly standaloneStreamId: string;
  detach: () => void = () => {};
  private nextId = 1;
  private readonly pending = new Map<RequestId, PendingOutgoing>();
  /** Requests being served, by JSON-RPC id: notifications/cancelled and DELETE abort them. */
  readonly inflight = new Map<RequestId, AbortController>();
  closed = false;

  constructor(
    readonly id: string,
    private readonly eventStore: EventStore | undefined,
  ) {
    this.standaloneStreamId = `${id}.get`;
  }

  /** Out-of-band messages go on the GET stream; with an event store they survive until the client resumes. */
  notify(method: string, params: Record<string, unknown>): void {
    this.sendStandalone({ jsonrpc: '2.0', method, params });
  }

  sendStandalone(message: JsonRpcMessage): void {
    if (this.closed) return;
    const stored = this.eventStore?.append(this.standaloneStreamId, message);
    const write = (id: string | undefined) => this.standalone?.send(message, id);
    if (stored instanceof Promise) void stored.then(write, () => write(undefined));
    else write(stored);
  }

  /** A server-to-client request; `send` puts it on a stream (the related POST's, or the GET stream). */
  request(
    method: string,
    params: Record<string, unknown>,
    send: (message: JsonRpcMessage) => void,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new ConnectionClosedError('Session closed'));
    const id = `s${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(() => reject(new RequestTimeoutError(method, timeoutMs))), timeoutMs);
      timer.unref?.();
      const onAbort = () => {
        finish(() => reject(new RequestCancelledError(signal.reason)));
        this.sendStandalone({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id } });
      };
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        settle();
      };
      this.pending.set(id, {
        resolve: (r) => finish(() => resolve(r)),
        reject: (e) => finish(() => reject(e)),
      });
      signal.addEventListener('abort', onAbort, { once: true });
      send({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** A response the client POSTed for one of our requests. Returns false when nobody was waiting. */
  deliverResponse(response: JsonRpcResponse): boolean {
    const id = response.id;
    if (id === undefined || id === null) return false;
    const pending = this.pending.get(id);
    if (!pending) return false;
    if ('error' in response) pending.reject(McpError.fromWire(response.error));
    else pending.resolve(response.result);
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.standalone?.close();
    const err = new ConnectionClosedError('Session closed');
    for (const p of [...this.pending.values()]) p.reject(err);
    for (const controller of this.inflight.values()) controller.abort(err);
    this.inflight.clear();
  }
}

export interface SessionManagerOptions {
  idleTimeoutMs?: number;
  maxSessions?: number;
  eventStore?: EventStore | false;
}

/** Creates, finds, reaps and bounds legacy sessions. */
export class SessionManager {
  private readonly sessions = new Map<string, HttpSession>();
  readonly idleTimeoutMs: number;
  readonly maxSessions: number;
  readonly eventStore: EventStore | undefined;
  private reaper: ReturnType<typeof setInterval> | undefined;
  onclose: ((session: HttpSession) => void) | undefined;

  constructor(options: SessionManagerOptions = {}) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
    this.maxSessions = options.maxSessions ?? 10_000;
    if (!Number.isFinite(this.idleTimeoutMs) || this.idleTimeoutMs <= 0) throw new InvalidOptionError('sessionIdleTimeoutMs', 'must be a positive number');
    if (!Number.isSafeInteger(this.maxSessions) || this.maxSessions < 1) throw new InvalidOptionError('maxSessions', 'must be a positive integer');
    this.eventStore = options.eventStore === false ? undefined : (options.eventStore ?? new MemoryEventStore(200, 20_000));
    const every = Math.max(50, Math.min(60_000, Math.floor(this.idleTimeoutMs / 4)));
    this.reaper = setInterval(() => this.reap(), every);
    this.reaper.unref?.();
  }

  get size(): number {
    return this.sessions.size;
  }

  values(): IterableIterator<HttpSession> {
    return this.sessions.values();
  }

  /** A new session, or undefined when at capacity (the caller answers 503). */
  create(): HttpSession | undefined {
    if (this.sessions.size >= this.maxSessions) {
      this.reap();
      if (this.sessions.size >= this.maxSessions) return undefined;
    }
    // 128 bits from the CSPRNG, URL-safe and visible-ASCII as the spec requires.
    const session = new HttpSession(randomBytes(16).toString('base64url'), this.eventStore);
    this.sessions.set(session.id, session);
    return session;
  }

  get(id: string): HttpSession | undefined {
    const session = this.sessions.get(id);
    if (session) session.lastActivity = Date.now();
    return session;
  }

  delete(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    session.close();
    this.onclose?.(session);
    return true;
  }

  reap(now = Date.now()): number {
    let reaped = 0;
    for (const [id, session] of this.sessions) {
      // A session with an open GET stream or in-flight work is not idle.
      if (session.standalone && !session.standalone.closed) continue;
      if (session.inflight.size > 0) continue;
      if (now - session.lastActivity > this.idleTimeoutMs) {
        this.delete(id);
        reaped++;
      }
    }
    return reaped;
  }

  closeAll(): void {
    if (this.reaper) clearInterval(this.reaper);
    this.reaper = undefined;
    for (const id of [...this.sessions.keys()]) this.delete(id);
  }
}
