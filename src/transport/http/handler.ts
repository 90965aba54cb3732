import {
  ErrorCode,
  InvalidOptionError,
  McpError,
  RateLimitedError,
  toWireError,
} from '../../protocol/errors.js';
import {
  DEFAULT_MAX_JSON_DEPTH,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type RequestId,
  errorResponse,
  errorResponseFrom,
  isRequest,
  isResponse,
  parseJson,
  validateMessage,
} from '../../protocol/jsonrpc.js';
import { META, getMeta } from '../../protocol/meta.js';
import { LATEST_PROTOCOL_VERSION, allowsBatch, isSupportedVersion } from '../../protocol/versions.js';
import type { Exchange } from '../../server/context.js';
import type { McpServer } from '../../server/server.js';
import type { AuthInfo, MessageInfo } from '../types.js';
import type { EventStore } from './event-store.js';
import { JSON_HEADERS, PostExchange } from './exchange.js';
import { validateMirroredHeaders } from './headers.js';
import type { Headers, HttpIO } from './io.js';
import { resumeStream, tailStream } from './legacy-streams.js';
import {
  type HttpSession,
  SessionManager,
  type SessionRouter,
  type SessionStore,
  SessionUnavailableError,
  type SharedSessions,
  sharedSessionsOf,
} from './sessions.js';
import { SSE_HEADERS, SseStream } from './sse.js';

export interface StreamableHttpOptions {
  /** Largest accepted POST body, default 4 MiB (413 above). */
  maxBodyBytes?: number;
  maxJsonDepth?: number;
  /** Accept legacy (`initialize`) sessions; default true. */
  legacy?: boolean;
  sessionIdleTimeoutMs?: number;
  maxSessions?: number;
  /** Event store for legacy stream resumability; false disables it. Default: bounded in-memory store. */
  eventStore?: EventStore | false;
  /**
   * Shares legacy sessions with other replicas (give both, plus an `eventStore` with `subscribe`,
   * e.g. from mcpkit/redis). Default: what `useSharedSessions(server, ...)` registered, else none.
   */
  sessionStore?: SessionStore;
  sessionRouter?: SessionRouter;
  /** SSE keep-alive comment interval, default 15 s. */
  keepAliveMs?: number;
  /** Bytes queued for a slow SSE reader before the stream is dropped. */
  maxStreamBufferBytes?: number;
  /** `retry:` hint sent on resumable (legacy) streams, default 1000 ms. */
  sseRetryMs?: number;
  /** Timeout for server-to-client requests in legacy sessions, default 60 s. */
  requestTimeoutMs?: number;
  /**
   * Host names accepted in the Host header (DNS-rebinding protection). Default: when the
   * request arrived on a loopback address, only loopback names; otherwise any.
   */
  allowedHosts?: readonly string[] | 'any';
  /** Origins accepted when a browser sends Origin. Default: same host as the Host header, or loopback. */
  allowedOrigins?: readonly string[] | 'any';
  /** Authenticates a request before anything else (OAuth resource server plugs in here). */
  authenticate?: (io: HttpIO) => Promise<AuthInfo | undefined> | AuthInfo | undefined;
  /**
   * Status and headers for a JSON-RPC error answered as a whole response, e.g. the OAuth
   * `WWW-Authenticate: Bearer error="insufficient_scope"` challenge on -32041. `bearerAuth()`
   * from `mcpkit/auth` provides one as `auth.errorChallenge`.
   */
  errorChallenge?: (
    error: McpError,
    auth: AuthInfo | undefined,
  ) => { status: number; headers: Headers } | undefined;
  /** Observability hooks (metrics): streams and sessions opening and closing. */
  hooks?: {
    streamOpened?(): void;
    streamClosed?(): void;
    sessionOpened?(): void;
    sessionClosed?(): void;
  };
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
const isLoopbackAddress = (a: string | undefined) =>
  a !== undefined && (a === '::1' || a.startsWith('127.') || a === '::ffff:127.0.0.1');

function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1).toLowerCase();
  const colon = hostHeader.indexOf(':');
  return (colon < 0 ? hostHeader : hostHeader.slice(0, colon)).toLowerCase();
}

/** Thrown by `authenticate` to answer with an HTTP error (401/403) and headers such as WWW-Authenticate. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Headers = {},
    readonly code: number = ErrorCode.InvalidRequest,
  ) {
    super(message);
  }
}

/** HTTP status for a JSON-RPC error answered as a whole response (not inside a stream). */
function statusFor(code: number, modern: boolean): number {
  switch (code) {
    case ErrorCode.ParseError:
    case ErrorCode.InvalidRequest:
    case ErrorCode.HeaderMismatch:
    case ErrorCode.MissingRequiredClientCapability:
    case ErrorCode.UnsupportedProtocolVersion:
      return 400;
    case ErrorCode.MethodNotFound:
      return modern ? 404 : 200;
    case ErrorCode.InvalidParams:
      return modern ? 400 : 200;
    case ErrorCode.RateLimited:
      return 429;
    case ErrorCode.Unauthorized:
      return 401;
    case ErrorCode.Forbidden:
      return 403;
    default:
      return 200;
  }
}

function rateLimitHeaders(err: McpError): Headers {
  if (!(err instanceof RateLimitedError) && err.code !== ErrorCode.RateLimited) return {};
  const info = err.data as
    | { retryAfterMs?: number; limit?: number; remaining?: number; resetMs?: number }
    | undefined;
  const headers: Headers = {};
  if (info?.retryAfterMs !== undefined)
    headers['retry-after'] = String(Math.max(1, Math.ceil(info.retryAfterMs / 1000)));
  if (info?.limit !== undefined) headers['ratelimit-limit'] = String(info.limit);
  if (info?.remaining !== undefined) headers['ratelimit-remaining'] = String(info.remaining);
  if (info?.resetMs !== undefined) headers['ratelimit-reset'] = String(Math.ceil(info.resetMs / 1000));
  return headers;
}

/**
 * Streamable HTTP for both eras on one endpoint. 2026-07-28 requests are served
 * statelessly from their own `_meta`; `initialize` starts a legacy session.
 */
export class StreamableHttpHandler {
  readonly sessions: SessionManager | undefined;
  private readonly maxBodyBytes: number;
  private readonly maxJsonDepth: number;
  private readonly keepAliveMs: number;
  private readonly sseRetryMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxStreamBufferBytes: number;
  private readonly allowedHosts: Set<string> | 'any' | undefined;
  private readonly allowedOrigins: Set<string> | 'any' | undefined;
  /** Legacy POST streams still running, by stream id, so a GET with Last-Event-ID can pick them up. */
  private readonly liveStreams = new Map<string, PostExchange>();
  /** Open streams of any kind, so shutdown can end them. */
  readonly openStreams = new Set<SseStream>();
  private closing = false;

  constructor(
    readonly server: McpServer,
    readonly options: StreamableHttpOptions = {},
  ) {
    const positive = (name: string, value: number | undefined, fallback: number, allowZero = false) => {
      const v = value ?? fallback;
      if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0))
        throw new InvalidOptionError(name, 'must be a positive number');
      return v;
    };
    this.maxBodyBytes = positive('maxBodyBytes', options.maxBodyBytes, 4 * 1024 * 1024);
    this.maxJsonDepth = positive('maxJsonDepth', options.maxJsonDepth, DEFAULT_MAX_JSON_DEPTH);
    this.keepAliveMs = positive('keepAliveMs', options.keepAliveMs, 15_000, true);
    this.sseRetryMs = positive('sseRetryMs', options.sseRetryMs, 1000, true);
    this.requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs, 60_000);
    this.maxStreamBufferBytes = positive(
      'maxStreamBufferBytes',
      options.maxStreamBufferBytes,
      4 * 1024 * 1024,
    );
    const set = (name: string, value: readonly string[] | 'any' | undefined) => {
      if (value === undefined || value === 'any') return value;
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
        throw new InvalidOptionError(name, 'must be an array of strings or "any"');
      return new Set(value.map((v) => v.toLowerCase()));
    };
    this.allowedHosts = set('allowedHosts', options.allowedHosts);
    this.allowedOrigins = set('allowedOrigins', options.allowedOrigins);
    if (options.legacy !== false) {
      const sessionOptions: ConstructorParameters<typeof SessionManager>[0] = {
        bus: server.bus,
        logger: server.logger,
      };
      if (options.sessionIdleTimeoutMs !== undefined)
        sessionOptions.idleTimeoutMs = options.sessionIdleTimeoutMs;
      if (options.maxSessions !== undefined) sessionOptions.maxSessions = options.maxSessions;
      if (options.eventStore !== undefined) sessionOptions.eventStore = options.eventStore;
      const shared = this.sharedSessions(options);
      if (shared) sessionOptions.shared = shared;
      this.sessions = new SessionManager(sessionOptions);
      this.sessions.onclose = () => options.hooks?.sessionClosed?.();
      this.sessions.onhydrate = () => options.hooks?.sessionOpened?.();
    }
  }

  private sharedSessions(options: StreamableHttpOptions): SharedSessions | undefined {
    const { sessionStore: store, sessionRouter: router } = options;
    if (store === undefined && router === undefined) {
      const registered = sharedSessionsOf(this.server);
      if (!registered || options.eventStore === undefined) return registered;
      return { ...registered, eventStore: options.eventStore as EventStore };
    }
    if (store === undefined || router === undefined)
      throw new InvalidOptionError('sessionStore', 'give sessionStore and sessionRouter together');
    return { store, router, eventStore: options.eventStore as EventStore };
  }

  /** Serves one HTTP request addressed to the MCP endpoint. Never throws. */
  async handle(io: HttpIO): Promise<void> {
    try {
      if (!this.checkHostAndOrigin(io)) return;
      if (this.options.authenticate) {
        try {
          const auth = await this.options.authenticate(io);
          if (auth) io.auth = auth;
        } catch (err) {
          if (err instanceof HttpError) {
            io.respond(
              err.status,
              { ...JSON_HEADERS, ...err.headers },
              JSON.stringify(errorResponse(null, err.code, err.message)),
            );
            return;
          }
          throw err;
        }
      }
      switch (io.method) {
        case 'POST':
          return await this.post(io);
        case 'GET':
          return await this.get(io);
        case 'DELETE':
          return await this.delete(io);
        default:
          io.respond(
            405,
            { ...JSON_HEADERS, allow: 'GET, POST, DELETE' },
            JSON.stringify(errorResponse(null, ErrorCode.InvalidRequest, 'Method not allowed')),
          );
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      // A client that hung up mid-request is not a server failure.
      if (
        (err as Error)?.message === 'request aborted' ||
        code === 'ECONNRESET' ||
        code === 'ERR_STREAM_PREMATURE_CLOSE'
      ) {
        this.server.logger.debug({ err: (err as Error).message }, 'client went away mid-request');
        return;
      }
      this.server.logger.error({ err }, 'HTTP handler failed');
      if (!io.responded)
        io.respond(
          500,
          JSON_HEADERS,
          JSON.stringify(errorResponse(null, ErrorCode.InternalError, 'Internal error')),
        );
    }
  }

  private fail(
    io: HttpIO,
    status: number,
    code: number,
    message: string,
    id: RequestId | null = null,
    headers: Headers = {},
    data?: unknown,
  ): void {
    io.respond(
      status,
      { ...JSON_HEADERS, ...headers },
      JSON.stringify(errorResponse(id, code, message, data)),
    );
  }

  /** 503 for a shared session that cannot be served now (store down, replica full); rethrows anything else. */
  unavailable(io: HttpIO, err: unknown, id: RequestId | null = null): void {
    if (!(err instanceof SessionUnavailableError)) throw err;
    this.server.logger.warn(
      { err: err.message, cause: (err.cause as Error | undefined)?.message },
      'session unavailable',
    );
    this.fail(io, 503, ErrorCode.InternalError, `Service Unavailable: ${err.message}`, id, {
      'retry-after': String(err.retryAfterSecs),
    });
  }

  /** The session named by a legacy request: the local one, or (shared sessions) read from the store. */
  private async lookup(sessionId: string): Promise<HttpSession | undefined> {
    const sessions = this.sessions;
    if (!sessions) return undefined;
    return sessions.shared ? sessions.acquire(sessionId) : sessions.get(sessionId);
  }

  private checkHostAndOrigin(io: HttpIO): boolean {
    const host = io.header('host');
    if (this.allowedHosts !== 'any') {
      const name = host === undefined ? undefined : hostnameOf(host);
      const allowed =
        this.allowedHosts !== undefined
          ? name !== undefined && this.allowedHosts.has(name)
          : !isLoopbackAddress(io.localAddress) || (name !== undefined && LOOPBACK_HOSTS.has(name));
      if (!allowed) {
        this.fail(
          io,
          403,
          ErrorCode.InvalidRequest,
          `Forbidden: Host ${JSON.stringify(host ?? '')} is not allowed`,
        );
        return false;
      }
    }
    const origin = io.header('origin');
    if (origin !== undefined && this.allowedOrigins !== 'any') {
      let ok = false;
      if (this.allowedOrigins) ok = this.allowedOrigins.has(origin.toLowerCase());
      else {
        try {
          const originHost = new URL(origin).hostname.toLowerCase();
          const hostName = host === undefined ? undefined : hostnameOf(host).replace(/^\[|\]$/g, '');
          ok =
            originHost === hostName ||
            LOOPBACK_HOSTS.has(originHost) ||
            LOOPBACK_HOSTS.has(`[${originHost}]`);
        } catch {
          ok = false;
        }
      }
      if (!ok) {
        this.fail(
          io,
          403,
          ErrorCode.InvalidRequest,
          `Forbidden: Origin ${JSON.stringify(origin)} is not allowed`,
        );
        return false;
      }
    }
    return true;
  }

  private info(io: HttpIO): MessageInfo {
    const info: MessageInfo = { headers: io.headers };
    if (io.auth) info.auth = io.auth;
    if (io.remoteAddress !== undefined) info.remoteAddress = io.remoteAddress;
    return info;
  }

  // ------------------------------------------------------------------ POST

  private async post(io: HttpIO): Promise<void> {
    const contentType = io.header('content-type');
    if (contentType === undefined || !contentType.toLowerCase().includes('application/json')) {
      return this.fail(
        io,
        415,
        ErrorCode.InvalidRequest,
        'Unsupported Media Type: Content-Type must be application/json',
      );
    }
    const accept = io.header('accept');
    if (
      accept !== undefined &&
      !/application\/json|text\/event-stream|\*\/\*|application\/\*/i.test(accept)
    ) {
      return this.fail(
        io,
        406,
        ErrorCode.InvalidRequest,
        'Not Acceptable: client must accept application/json and text/event-stream',
      );
    }
    const text = await io.readBody(this.maxBodyBytes);
    if (text === null) {
      return this.fail(
        io,
        413,
        ErrorCode.InvalidRequest,
        `Payload Too Large: body exceeds ${this.maxBodyBytes} bytes`,
        null,
        { connection: 'close' },
      );
    }
    const parsed = parseJson(text, this.maxJsonDepth);
    if (!parsed.ok) return io.respond(400, JSON_HEADERS, JSON.stringify(parsed.error));
    const sessionId = io.header('mcp-session-id');
    let session: HttpSession | undefined;
    if (sessionId !== undefined) {
      try {
        session = await this.lookup(sessionId);
      } catch (err) {
        // A 2026-07-28 request needs no session: serve it even when the session store is down.
        if (!this.isModernBody(parsed.value)) return this.unavailable(io, err);
      }
    }
    if (sessionId !== undefined && !session) {
      // A 2026-07-28 request carrying a stale session header: ignore the header (spec), serve statelessly.
      if (!this.isModernBody(parsed.value)) return this.fail(io, 404, -32001, 'Session not found');
    }
    if (Array.isArray(parsed.value)) return this.batch(io, parsed.value, session);
    const checked = validateMessage(parsed.value);
    if (!checked.ok) return io.respond(400, JSON_HEADERS, JSON.stringify(checked.error));
    const message = checked.message;

    if (session) {
      const version = io.header('mcp-protocol-version');
      if (version !== undefined && !isSupportedVersion(version)) {
        return this.fail(
          io,
          400,
          ErrorCode.InvalidRequest,
          `Bad Request: Unsupported protocol version ${version}`,
          isRequest(message) ? message.id : null,
        );
      }
      return this.legacyMessage(io, session, message);
    }
    if (this.isModernBody(message) || io.header('mcp-protocol-version') === LATEST_PROTOCOL_VERSION)
      return this.modernMessage(io, message);
    if (isRequest(message) && message.method === 'initialize') return this.initialize(io, message);
    if (!('method' in message))
      return this.fail(
        io,
        400,
        ErrorCode.InvalidRequest,
        'Bad Request: unexpected JSON-RPC response without a session',
      );
    if (!isRequest(message)) return io.respond(202, {});
    if (message.method === 'ping') return void (await this.serve(io, message, undefined, false));
    return this.fail(
      io,
      400,
      -32000,
      'Bad Request: Mcp-Session-Id header is required (send initialize first), or use protocol 2026-07-28',
      message.id,
    );
  }

  private isModernBody(value: unknown): boolean {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    const params = (value as { params?: unknown }).params;
    if (typeof params !== 'object' || params === null) return false;
    return getMeta(params as Record<string, unknown>)?.[META.protocolVersion] !== undefined;
  }

  private modernMessage(io: HttpIO, message: JsonRpcMessage): void | Promise<void> {
    if (!('method' in message))
      return this.fail(
        io,
        400,
        ErrorCode.InvalidRequest,
        'Bad Request: clients must not send responses in 2026-07-28',
      );
    if (!isRequest(message)) {
      this.server.handleNotification(message, this.notificationExchange(io, undefined));
      return io.respond(202, {});
    }
    const params = message.params ?? {};
    const bodyVersion = getMeta(params)?.[META.protocolVersion];
    const headerVersion = io.header('mcp-protocol-version');
    try {
      if (headerVersion === undefined)
        throw new McpError(
          ErrorCode.HeaderMismatch,
          'Header mismatch: required header MCP-Protocol-Version is missing',
        );
      if (bodyVersion !== undefined && headerVersion !== bodyVersion) {
        throw new McpError(
          ErrorCode.HeaderMismatch,
          `Header mismatch: MCP-Protocol-Version header value '${headerVersion}' does not match body value '${String(bodyVersion)}'`,
        );
      }
      if (bodyVersion === LATEST_PROTOCOL_VERSION)
        validateMirroredHeaders(io, message.method, params, (name) => this.server.tools.get(name));
    } catch (err) {
      const wire = toWireError(err);
      return this.fail(io, 400, wire.code, wire.message, message.id);
    }
    return this.serve(io, message, undefined, true).then(() => {});
  }

  private async initialize(io: HttpIO, request: JsonRpcRequest): Promise<void> {
    if (!this.sessions)
      return this.fail(
        io,
        400,
        ErrorCode.InvalidRequest,
        'Legacy sessions are disabled on this server: use protocol 2026-07-28',
        request.id,
      );
    if (this.closing)
      return this.fail(io, 503, ErrorCode.InternalError, 'Server is shutting down', request.id, {
        'retry-after': '1',
      });
    const session = this.sessions.create();
    if (!session) {
      return this.fail(
        io,
        503,
        ErrorCode.InternalError,
        `Too many sessions (max ${this.sessions.maxSessions})`,
        request.id,
        { 'retry-after': '5' },
      );
    }
    if (this.sessions.shared) {
      try {
        await this.sessions.share(session);
      } catch (err) {
        this.sessions.delete(session.id);
        return this.unavailable(
          io,
          new SessionUnavailableError('Session router unavailable', 1, { cause: err }),
          request.id,
        );
      }
    } else {
      session.detach = this.server.attachSession(session);
    }
    this.options.hooks?.sessionOpened?.();
    const ok = await this.serve(io, request, session, false, { 'mcp-session-id': session.id });
    if (!ok) this.sessions.delete(session.id);
  }

  private async legacyMessage(io: HttpIO, session: HttpSession, message: JsonRpcMessage): Promise<void> {
    const sessions = this.sessions as SessionManager;
    if (isResponse(message)) {
      // Not ours: the request is pending on another replica holding this session.
      if (!session.deliverResponse(message as JsonRpcResponse) && sessions.shared) {
        try {
          await sessions.routeResponse(session, message as JsonRpcResponse);
        } catch (err) {
          return this.unavailable(io, err);
        }
      }
      return io.respond(202, {});
    }
    if (!isRequest(message)) {
      if (message.method === 'notifications/cancelled') {
        const id = message.params?.requestId;
        if (typeof id === 'string' || typeof id === 'number') {
          const controller = session.inflight.get(id);
          session.inflight.delete(id);
          if (controller) controller.abort(message.params?.reason ?? 'cancelled');
          else if (sessions.shared) sessions.routeCancel(session, id, message.params?.reason);
        }
      }
      this.server.handleNotification(message, this.notificationExchange(io, session));
      if (sessions.shared) await sessions.persist(session);
      return io.respond(202, {});
    }
    if (message.method === 'initialize')
      return this.fail(io, 400, ErrorCode.InvalidRequest, 'Session already initialized', message.id);
    return this.serve(io, message, session, false).then(() => {});
  }

  private async batch(io: HttpIO, values: unknown[], session: HttpSession | undefined): Promise<void> {
    if (!session || !allowsBatch(session.protocolVersion) || values.length === 0 || values.length > 100) {
      return this.fail(
        io,
        400,
        ErrorCode.InvalidRequest,
        'Invalid Request: JSON-RPC batches are only accepted in 2025-03-26 sessions (max 100)',
      );
    }
    const replies: JsonRpcMessage[] = [];
    await Promise.all(
      values.map(async (value) => {
        const checked = validateMessage(value);
        if (!checked.ok) return void replies.push(checked.error);
        const message = checked.message;
        if (isResponse(message)) return void session.deliverResponse(message as JsonRpcResponse);
        if (!isRequest(message))
          return this.server.handleNotification(message, this.notificationExchange(io, session));
        const controller = new AbortController();
        session.inflight.set(message.id, controller);
        try {
          const result = await this.server.handle(
            message,
            this.batchExchange(io, session, controller.signal),
          );
          replies.push({ jsonrpc: '2.0', id: message.id, result });
        } catch (err) {
          replies.push(errorResponseFrom(message.id, toWireError(err, this.server.exposeInternalErrors)));
        } finally {
          session.inflight.delete(message.id);
        }
      }),
    );
    if (this.sessions?.shared) await this.sessions.persist(session);
    if (replies.length === 0) return io.respond(202, {});
    io.respond(200, JSON_HEADERS, JSON.stringify(replies));
  }

  private batchExchange(io: HttpIO, session: HttpSession, signal: AbortSignal): Exchange {
    return {
      transport: 'http',
      signal,
      info: this.info(io),
      session,
      notify: async (method, params) => session.notify(method, params),
      request: (method, params, sig) =>
        session.request(method, params, (m) => session.sendStandalone(m), sig, this.requestTimeoutMs),
    };
  }

  private notificationExchange(io: HttpIO, session: HttpSession | undefined): Exchange {
    return { transport: 'http', signal: io.signal, info: this.info(io), session, notify: async () => {} };
  }

  /** Runs one request and answers it as JSON, or as SSE once the handler sends something first. */
  private async serve(
    io: HttpIO,
    request: JsonRpcRequest,
    session: HttpSession | undefined,
    modern: boolean,
    extraHeaders?: Headers,
  ): Promise<boolean> {
    const exchange = new PostExchange(this, io, request.id, session, modern, extraHeaders);
    try {
      const result = await this.server.handle(request, exchange);
      // Shared sessions: state changes reach the store before the client can act on the response.
      if (
        session &&
        this.sessions?.shared &&
        !(await this.sessions.persist(session)) &&
        request.method === 'initialize'
      ) {
        exchange.finish(
          errorResponse(
            request.id,
            ErrorCode.InternalError,
            'Service Unavailable: session store unavailable',
          ),
          503,
          { 'retry-after': '1' },
        );
        return false;
      }
      // A legacy request the client cancelled gets no response, even if its handler produced one.
      if (session && exchange.signal.aborted) {
        exchange.finish(undefined, 0);
        return false;
      }
      exchange.finish({ jsonrpc: '2.0', id: request.id, result }, 200);
      return true;
    } catch (err) {
      if (exchange.signal.aborted) {
        // Cancelled: no response is due (the client is gone or asked us to stop).
        exchange.finish(undefined, 0);
        return false;
      }
      const wire = toWireError(err, this.server.exposeInternalErrors);
      if (!(err instanceof McpError))
        this.server.logger.error({ err, method: request.method }, 'request failed');
      const challenge = this.options.errorChallenge?.(wire, io.auth);
      exchange.finish(
        errorResponseFrom(request.id, wire),
        challenge?.status ?? statusFor(wire.code, modern),
        {
          ...rateLimitHeaders(wire),
          ...challenge?.headers,
        },
      );
      return false;
    } finally {
      exchange.dispose();
    }
  }

  // ------------------------------------------------------------------ GET / DELETE (legacy)

  private async get(io: HttpIO): Promise<void> {
    const sessionId = io.header('mcp-session-id');
    if (!this.sessions || sessionId === undefined) {
      return this.fail(
        io,
        405,
        ErrorCode.InvalidRequest,
        'Method Not Allowed: GET needs a legacy session; 2026-07-28 uses subscriptions/listen',
        null,
        { allow: 'POST' },
      );
    }
    const accept = io.header('accept');
    if (accept !== undefined && !/text\/event-stream|\*\/\*/i.test(accept)) {
      return this.fail(
        io,
        406,
        ErrorCode.InvalidRequest,
        'Not Acceptable: GET requires Accept: text/event-stream',
      );
    }
    let session: HttpSession | undefined;
    try {
      session = await this.lookup(sessionId);
    } catch (err) {
      return this.unavailable(io, err);
    }
    if (!session) return this.fail(io, 404, -32001, 'Session not found');
    const lastEventId = io.header('last-event-id');
    const store = this.sessions.eventStore;
    if (lastEventId !== undefined && store) return resumeStream(this, io, session, lastEventId, store);
    if (session.standalone && !session.standalone.closed) {
      return this.fail(io, 409, ErrorCode.InvalidRequest, 'Conflict: only one GET stream per session');
    }
    if (store?.subscribe)
      return tailStream(this, io, session, store, session.standaloneStreamId, undefined, []);
    const stream = this.openStream(io, {}, true);
    session.standalone = stream;
    if (store) stream.prime(`${session.standaloneStreamId}_0`);
  }

  private async delete(io: HttpIO): Promise<void> {
    const sessionId = io.header('mcp-session-id');
    if (!this.sessions || sessionId === undefined) {
      return this.fail(
        io,
        405,
        ErrorCode.InvalidRequest,
        'Method Not Allowed: DELETE needs a legacy session',
        null,
        { allow: 'POST' },
      );
    }
    let ended: boolean;
    try {
      ended = await this.sessions.end(sessionId);
    } catch (err) {
      return this.unavailable(io, err);
    }
    if (!ended) return this.fail(io, 404, -32001, 'Session not found');
    io.respond(200, {});
  }

  // ------------------------------------------------------------------ streams & lifecycle

  openStream(io: HttpIO, headers: Headers, resumable: boolean): SseStream {
    const sink = io.startStream(200, { ...SSE_HEADERS, ...headers });
    const options: ConstructorParameters<typeof SseStream>[1] = {
      keepAliveMs: this.keepAliveMs,
      maxBufferedBytes: this.maxStreamBufferBytes,
    };
    if (resumable) options.retryMs = this.sseRetryMs;
    const stream = new SseStream(sink, options);
    this.openStreams.add(stream);
    this.options.hooks?.streamOpened?.();
    stream.onClose(() => {
      this.openStreams.delete(stream);
      this.options.hooks?.streamClosed?.();
    });
    return stream;
  }

  registerLive(streamId: string, exchange: PostExchange): void {
    this.liveStreams.set(streamId, exchange);
  }
  unregisterLive(streamId: string): void {
    this.liveStreams.delete(streamId);
  }
  liveExchange(streamId: string): PostExchange | undefined {
    return this.liveStreams.get(streamId);
  }
  get eventStore(): EventStore | undefined {
    return this.sessions?.eventStore;
  }
  get timeoutMs(): number {
    return this.requestTimeoutMs;
  }

  /** Graceful shutdown, step one: refuse new sessions and end standalone GET streams (clients reconnect elsewhere). */
  drain(): void {
    this.closing = true;
    for (const session of this.sessions?.values() ?? []) session.standalone?.close();
  }

  /** Stops taking sessions; with `force`, ends every stream and session now. */
  async close(options: { force?: boolean } = {}): Promise<void> {
    this.closing = true;
    if (options.force !== false) {
      for (const stream of [...this.openStreams]) stream.close();
      this.sessions?.closeAll();
    }
  }

  get stats() {
    return {
      sessions: this.sessions?.size ?? 0,
      streams: this.openStreams.size,
      liveRequests: this.liveStreams.size,
    };
  }
}
