import { randomBytes } from 'node:crypto';
import {
  ConnectionClosedError,
  InvalidOptionError,
  LocalError,
  McpError,
  RequestCancelledError,
  RequestTimeoutError,
} from '../../protocol/errors.js';
import type { JsonRpcMessage, JsonRpcResponse, RequestId } from '../../protocol/jsonrpc.js';
import type { ClientCapabilities, Implementation, LoggingLevel } from '../../protocol/types.js';
import type { LegacySession } from '../../server/context.js';
import { type NotificationBus, sessionNotification } from '../../server/notifications.js';
import { type Logger, silentLogger } from '../../util/logger.js';
import { type EventStore, MemoryEventStore } from './event-store.js';
import type { SseStream } from './sse.js';

export { type EventStore, type EventTail, MemoryEventStore, splitEventId } from './event-store.js';

// ------------------------------------------------------------------ sharing sessions between processes

/** What a legacy session negotiated: all another replica needs to serve it. */
export interface SessionRecord {
  protocolVersion: string | undefined;
  initialized: boolean;
  clientInfo?: Implementation | undefined;
  clientCapabilities: ClientCapabilities;
  logLevel?: LoggingLevel | undefined;
  subscriptions: string[];
}

/** Where session records live when several processes serve one endpoint (Redis in mcpkit/redis). */
export interface SessionStore {
  /** The record, or undefined if the session does not exist (any more); refreshes its expiry to `ttlMs`. */
  load(id: string, ttlMs: number): Promise<SessionRecord | undefined>;
  save(id: string, record: SessionRecord, ttlMs: number): Promise<void>;
  /** Pushes the expiry of sessions that are busy here (open GET stream, requests running). */
  touch(ids: readonly string[], ttlMs: number): Promise<void>;
  /** Returns whether the session existed. */
  delete(id: string): Promise<boolean>;
}

/** Messages between the replicas that hold a copy of one session. */
export type SessionSignal =
  /** A client's answer to a server-to-client request, POSTed to a replica that did not send it. */
  | { type: 'response'; response: JsonRpcResponse }
  /** notifications/cancelled for a request running elsewhere. */
  | { type: 'cancel'; requestId: RequestId; reason?: unknown }
  /** The session's negotiated state changed (logging/setLevel, resources/subscribe...). */
  | { type: 'state'; origin: string; record: SessionRecord }
  /** DELETE: every copy ends now. */
  | { type: 'deleted'; origin: string }
  /** The client opened its GET stream on `origin`: older GET streams elsewhere are stale. */
  | { type: 'standalone'; origin: string };

/** Delivers signals to every process holding a copy of a session (Redis pub/sub in mcpkit/redis). */
export interface SessionRouter {
  /** Identifies this process in signals (stable for its lifetime, unique among replicas). */
  readonly replicaId: string;
  /** Resolves once signals for `sessionId` reach `onSignal`; returns the function that stops listening. */
  listen(sessionId: string, onSignal: (signal: SessionSignal) => void): Promise<() => void>;
  send(sessionId: string, signal: SessionSignal): Promise<void>;
}

export interface SharedSessions {
  store: SessionStore;
  router: SessionRouter;
  /** Must support `subscribe` (live tail) so any replica can carry any session's streams. */
  eventStore: EventStore;
}

const sharedByServer = new WeakMap<object, SharedSessions>();

/**
 * Makes Streamable HTTP handlers created for `server` from now on share legacy sessions through
 * `shared` (unless their own options name a session store). `serve()` does this when MCP_REDIS_URL
 * is set; `undefined` undoes it.
 */
export function useSharedSessions(server: object, shared: SharedSessions | undefined): void {
  if (shared === undefined) sharedByServer.delete(server);
  else sharedByServer.set(server, shared);
}

export function sharedSessionsOf(server: object): SharedSessions | undefined {
  return sharedByServer.get(server);
}

/** The session cannot be served right now (store unreachable, replica full): answer 503 and let the client retry. */
export class SessionUnavailableError extends LocalError {
  override name = 'SessionUnavailableError';
  constructor(
    message: string,
    readonly retryAfterSecs = 1,
    options?: { cause?: unknown },
  ) {
    super('TRANSPORT', message, options);
  }
}

// ------------------------------------------------------------------ sessions

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
  /** JSON of the record last written to the session store (shared sessions). */
  persisted: string | undefined;
  private nextId = 1;
  private readonly pending = new Map<RequestId, PendingOutgoing>();
  /** Requests being served, by JSON-RPC id: notifications/cancelled and DELETE abort them. */
  readonly inflight = new Map<RequestId, AbortController>();
  closed = false;
  /** Keeps GET-stream writes in order while an async store assigns their ids. */
  private outbox: Promise<void> | undefined;

  constructor(
    readonly id: string,
    private readonly eventStore: EventStore | undefined,
    /** Appended to server-to-client request ids so copies of one session on several replicas never reuse an id. */
    private readonly requestIdSuffix = '',
  ) {
    this.standaloneStreamId = `${id}.get`;
  }

  /** Out-of-band messages go on the GET stream; with an event store they survive until the client resumes. */
  notify(method: string, params: Record<string, unknown>): void {
    this.sendStandalone({ jsonrpc: '2.0', method, params });
  }

  /**
   * With a tailing (shared) store the GET stream, wherever it is held, hears the message through
   * its tail, so it is only stored here; written directly only when storing fails.
   */
  sendStandalone(message: JsonRpcMessage, dedupeKey?: string): void {
    if (this.closed) return;
    const store = this.eventStore;
    if (!store) {
      this.standalone?.send(message);
      return;
    }
    const tailed = store.subscribe !== undefined;
    const deliver = (id: string | undefined, failed: boolean) => {
      if (!tailed || failed) this.standalone?.send(message, failed ? undefined : id);
    };
    let stored: ReturnType<EventStore['append']>;
    try {
      stored = store.append(this.standaloneStreamId, message, dedupeKey);
    } catch {
      deliver(undefined, true);
      return;
    }
    if (!(stored instanceof Promise)) {
      if (this.outbox) this.outbox = this.outbox.then(() => deliver(stored, false));
      else deliver(stored, false);
      return;
    }
    stored.catch(() => {});
    this.outbox = (this.outbox ?? Promise.resolve())
      .then(() => stored)
      .then(
        (id) => deliver(id, false),
        () => deliver(undefined, true),
      );
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
    const id = `s${this.nextId++}${this.requestIdSuffix}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => finish(() => reject(new RequestTimeoutError(method, timeoutMs))),
        timeoutMs,
      );
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

  record(): SessionRecord {
    const record: SessionRecord = {
      protocolVersion: this.protocolVersion,
      initialized: this.initialized,
      clientCapabilities: this.clientCapabilities,
      subscriptions: [...this.subscriptions],
    };
    if (this.clientInfo !== undefined) record.clientInfo = this.clientInfo;
    if (this.logLevel !== undefined) record.logLevel = this.logLevel;
    return record;
  }

  apply(record: SessionRecord): void {
    this.protocolVersion = record.protocolVersion;
    this.initialized = record.initialized === true;
    this.clientInfo = record.clientInfo;
    this.clientCapabilities = record.clientCapabilities ?? {};
    this.logLevel = record.logLevel;
    this.subscriptions.clear();
    for (const uri of record.subscriptions ?? []) this.subscriptions.add(uri);
    this.persisted = JSON.stringify(this.record());
  }

  /** Whether the state changed since it was last stored. */
  get dirty(): boolean {
    return JSON.stringify(this.record()) !== this.persisted;
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
  /** Shares sessions with other processes (store, router and a tailing event store). Default: this process only. */
  shared?: SharedSessions;
  /** Change events that shared sessions hear (with the event ids that keep delivery exactly-once). */
  bus?: NotificationBus;
  logger?: Logger;
}

/**
 * Creates, finds, reaps and bounds legacy sessions. With `shared`, the session store is the source
 * of truth: every request reads the record (refreshing its expiry), state changes are written back
 * before the response goes out, and this process keeps a local copy per session it serves, linked
 * to the other copies through the router.
 */
export class SessionManager {
  private readonly sessions = new Map<string, HttpSession>();
  private readonly hydrating = new Map<string, Promise<HttpSession | undefined>>();
  readonly idleTimeoutMs: number;
  readonly maxSessions: number;
  readonly eventStore: EventStore | undefined;
  private readonly store: SessionStore | undefined;
  private readonly router: SessionRouter | undefined;
  private readonly bus: NotificationBus | undefined;
  private readonly logger: Logger;
  private readonly requestIdSuffix: string;
  private reaper: ReturnType<typeof setInterval> | undefined;
  onclose: ((session: HttpSession) => void) | undefined;
  /** A session created elsewhere got a local copy here. */
  onhydrate: ((session: HttpSession) => void) | undefined;

  constructor(options: SessionManagerOptions = {}) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
    this.maxSessions = options.maxSessions ?? 10_000;
    if (!Number.isFinite(this.idleTimeoutMs) || this.idleTimeoutMs <= 0)
      throw new InvalidOptionError('sessionIdleTimeoutMs', 'must be a positive number');
    if (!Number.isSafeInteger(this.maxSessions) || this.maxSessions < 1)
      throw new InvalidOptionError('maxSessions', 'must be a positive integer');
    const shared = options.shared;
    if (shared) {
      if (typeof shared.store?.load !== 'function' || typeof shared.router?.listen !== 'function') {
        throw new InvalidOptionError(
          'sessionStore',
          'shared sessions need both a session store and a session router',
        );
      }
      if (options.eventStore === false || typeof shared.eventStore?.subscribe !== 'function') {
        throw new InvalidOptionError(
          'eventStore',
          'shared sessions need an event store with subscribe() (e.g. RedisEventStore)',
        );
      }
      this.eventStore = shared.eventStore;
    } else {
      this.eventStore =
        options.eventStore === false ? undefined : (options.eventStore ?? new MemoryEventStore(200, 20_000));
    }
    this.store = shared?.store;
    this.router = shared?.router;
    this.bus = options.bus;
    this.logger = options.logger ?? silentLogger;
    this.requestIdSuffix = shared ? `.${shared.router.replicaId}` : '';
    const every = Math.max(50, Math.min(60_000, Math.floor(this.idleTimeoutMs / 4)));
    this.reaper = setInterval(() => this.reap(), every);
    this.reaper.unref?.();
  }

  /** Whether sessions are shared with other processes. */
  get shared(): boolean {
    return this.store !== undefined;
  }

  get size(): number {
    return this.sessions.size;
  }

  values(): IterableIterator<HttpSession> {
    return this.sessions.values();
  }

  private lastOnDemandReap = 0;

  /** A new session, or undefined when at capacity (the caller answers 503). */
  create(): HttpSession | undefined {
    if (this.sessions.size >= this.maxSessions) {
      // Reaping walks every session: under a flood of refused initializes, do it at most once a second.
      const now = Date.now();
      if (now - this.lastOnDemandReap >= 1000) {
        this.lastOnDemandReap = now;
        this.reap(now);
      }
      if (this.sessions.size >= this.maxSessions) return undefined;
    }
    // 128 bits from the CSPRNG, URL-safe and visible-ASCII as the spec requires.
    const session = new HttpSession(
      randomBytes(16).toString('base64url'),
      this.eventStore,
      this.requestIdSuffix,
    );
    this.sessions.set(session.id, session);
    return session;
  }

  /** The local copy, if any (the whole truth when sessions are not shared). */
  get(id: string): HttpSession | undefined {
    const session = this.sessions.get(id);
    if (session) session.lastActivity = Date.now();
    return session;
  }

  /** Ends the local copy (shared sessions live on elsewhere; use `end` for DELETE). */
  delete(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    session.close();
    // Unshared sessions own their resumable streams: free them with the session (shared stores expire by TTL).
    if (!this.store) void Promise.resolve(this.eventStore?.forgetSession?.(id)).catch(() => {});
    this.onclose?.(session);
    return true;
  }

  /** Links a new local session to the other replicas (signals) and to change events. Shared sessions only. */
  async share(session: HttpSession): Promise<void> {
    const router = this.router as SessionRouter;
    const unlisten = await router.listen(session.id, (signal) => this.onSignal(session, signal));
    if (session.closed) {
      unlisten();
      throw new SessionUnavailableError('Session closed while it was being opened');
    }
    const offBus = this.bus?.subscribe((event) => {
      if (session.protocolVersion === undefined) return;
      const notification = sessionNotification(event, session.subscriptions);
      if (!notification) return;
      // Every replica holding a copy hears the event; the shared key lets only the first append it.
      const message: JsonRpcMessage = {
        jsonrpc: '2.0',
        method: notification.method,
        params: notification.params,
      };
      session.sendStandalone(message, event.id === undefined ? undefined : `bus:${event.id}`);
    });
    session.detach = () => {
      unlisten();
      offBus?.();
    };
  }

  /**
   * The session for a request (shared sessions): reads the record, refreshing its expiry, and
   * returns the local copy, creating it if this replica has none. Undefined when the session does
   * not exist. Throws SessionUnavailableError when the store cannot answer and there is no local
   * copy to fall back on.
   */
  async acquire(id: string): Promise<HttpSession | undefined> {
    const store = this.store;
    const local = this.get(id);
    if (!store) return local;
    let record: SessionRecord | undefined;
    try {
      record = await store.load(id, this.idleTimeoutMs);
    } catch (err) {
      // Degraded: a replica that holds the session keeps serving it from its copy.
      if (local && !local.closed) return local;
      throw new SessionUnavailableError('Session store unavailable', 1, { cause: err });
    }
    if (!record) {
      if (local) this.delete(id);
      return undefined;
    }
    const current = this.sessions.get(id);
    if (current && !current.closed) {
      // Unsaved local changes (a store outage) win over the stored copy; they are written next.
      if (current.dirty) void this.persist(current);
      else current.apply(record);
      return current;
    }
    let hydration = this.hydrating.get(id);
    if (!hydration) {
      hydration = this.hydrate(id, record).finally(() => this.hydrating.delete(id));
      this.hydrating.set(id, hydration);
    }
    return hydration;
  }

  private async hydrate(id: string, record: SessionRecord): Promise<HttpSession | undefined> {
    if (this.sessions.size >= this.maxSessions) {
      this.reap();
      if (this.sessions.size >= this.maxSessions)
        throw new SessionUnavailableError(`Too many sessions on this replica (max ${this.maxSessions})`, 5);
    }
    const session = new HttpSession(id, this.eventStore, this.requestIdSuffix);
    session.apply(record);
    this.sessions.set(id, session);
    try {
      await this.share(session);
    } catch (err) {
      if (this.sessions.get(id) === session) this.sessions.delete(id);
      session.close();
      throw new SessionUnavailableError('Session router unavailable', 1, { cause: err });
    }
    this.onhydrate?.(session);
    return session;
  }

  /**
   * Writes changed state to the store (shared sessions) and tells the other copies. Resolves false
   * when the store failed: the change stays local and is written with the next successful one.
   */
  async persist(session: HttpSession): Promise<boolean> {
    const store = this.store;
    if (!store || session.closed) return true;
    const record = session.record();
    const json = JSON.stringify(record);
    if (json === session.persisted) return true;
    try {
      await store.save(session.id, record, this.idleTimeoutMs);
    } catch (err) {
      this.logger.warn(
        { err: errorMessage(err), session: session.id },
        'session store write failed; state kept on this replica',
      );
      return false;
    }
    session.persisted = json;
    this.signal(session.id, { type: 'state', origin: this.replicaId, record });
    return true;
  }

  /** DELETE: ends the session on every replica. Throws SessionUnavailableError when the store cannot answer. */
  async end(id: string): Promise<boolean> {
    if (!this.store) return this.delete(id);
    let existed: boolean;
    try {
      existed = await this.store.delete(id);
    } catch (err) {
      throw new SessionUnavailableError('Session store unavailable', 1, { cause: err });
    }
    const local = this.delete(id);
    this.signal(id, { type: 'deleted', origin: this.replicaId });
    return existed || local;
  }

  /** A client response for a server-to-client request pending on another replica. */
  async routeResponse(session: HttpSession, response: JsonRpcResponse): Promise<void> {
    if (!this.router) return;
    try {
      await this.router.send(session.id, { type: 'response', response });
    } catch (err) {
      throw new SessionUnavailableError('Session router unavailable', 1, { cause: err });
    }
  }

  /** notifications/cancelled for a request this replica is not running. */
  routeCancel(session: HttpSession, requestId: RequestId, reason: unknown): void {
    this.signal(
      session.id,
      reason === undefined ? { type: 'cancel', requestId } : { type: 'cancel', requestId, reason },
    );
  }

  /** The client opened its GET stream here: other replicas close theirs. */
  claimStandalone(session: HttpSession): void {
    this.signal(session.id, { type: 'standalone', origin: this.replicaId });
  }

  private get replicaId(): string {
    return this.router?.replicaId ?? '';
  }

  private signal(id: string, signal: SessionSignal): void {
    this.router
      ?.send(id, signal)
      .catch((err: unknown) =>
        this.logger.warn(
          { err: errorMessage(err), session: id, signal: signal.type },
          'session signal not sent',
        ),
      );
  }

  private onSignal(session: HttpSession, signal: SessionSignal): void {
    if (session.closed) return;
    switch (signal.type) {
      case 'response':
        session.deliverResponse(signal.response);
        return;
      case 'cancel': {
        const controller = session.inflight.get(signal.requestId);
        session.inflight.delete(signal.requestId);
        controller?.abort(signal.reason ?? 'cancelled');
        return;
      }
      case 'state':
        if (signal.origin !== this.replicaId && !session.dirty) session.apply(signal.record);
        return;
      case 'deleted':
        if (this.sessions.get(session.id) === session) this.delete(session.id);
        return;
      case 'standalone':
        if (signal.origin !== this.replicaId) session.standalone?.close();
        return;
    }
  }

  reap(now = Date.now()): number {
    let reaped = 0;
    const busy: string[] = [];
    for (const [id, session] of this.sessions) {
      // A session with an open GET stream or in-flight work is not idle.
      if ((session.standalone && !session.standalone.closed) || session.inflight.size > 0) {
        busy.push(id);
        continue;
      }
      if (now - session.lastActivity > this.idleTimeoutMs) {
        this.delete(id);
        reaped++;
      }
    }
    if (this.store && busy.length > 0) {
      this.store
        .touch(busy, this.idleTimeoutMs)
        .catch((err: unknown) =>
          this.logger.warn({ err: errorMessage(err) }, 'session expiry refresh failed'),
        );
    }
    return reaped;
  }

  /** Ends every local copy (shutdown). Shared sessions stay in the store for the other replicas. */
  closeAll(): void {
    if (this.reaper) clearInterval(this.reaper);
    this.reaper = undefined;
    for (const id of [...this.sessions.keys()]) this.delete(id);
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
