import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { ErrorCode, InvalidOptionError } from '../../protocol/errors.js';
import { DEFAULT_MAX_JSON_DEPTH } from '../../protocol/jsonrpc.js';
import type { ServerConnection } from '../../server/connection.js';
import type { McpServer } from '../../server/server.js';
import { HttpError } from '../http/handler.js';
import type { HttpIO } from '../http/io.js';
import { pathOf } from '../http/node.js';
import type { AuthInfo, MessageInfo } from '../types.js';
import {
  type AllowList,
  CloseCode,
  MCP_SUBPROTOCOL,
  allowList,
  hostAllowed,
  offeredSubprotocols,
  originAllowed,
  rejectUpgrade,
} from './policy.js';
import { WebSocketServerTransport } from './server-transport.js';

/**
 * What `authenticate` sees of the upgrade request: the part of `HttpIO` that exists before
 * a response, so an authenticator written against these members serves Streamable HTTP too.
 */
export interface UpgradeRequest
  extends Pick<HttpIO, 'method' | 'header' | 'headers' | 'remoteAddress' | 'localAddress'> {
  readonly url: string;
  readonly req: IncomingMessage;
}

export interface WebSocketAttachOptions {
  /** Endpoint path, default `/mcp` (the same path Streamable HTTP serves). */
  path?: string;
  /** Largest accepted message in bytes, default 4 MiB; a bigger frame closes the socket with 1009. */
  maxPayload?: number;
  maxJsonDepth?: number;
  /** Ping interval, default 30 s; a peer silent for a whole interval after a ping is terminated. 0 disables. */
  keepAliveMs?: number;
  /** Bytes queued for a peer that stopped reading before it is closed with 1013, default 4 MiB. */
  maxBufferedBytes?: number;
  /** Time a close handshake may take before the socket is destroyed, default 5 s. */
  closeTimeoutMs?: number;
  /** Open sockets at once; beyond it upgrades get 503. Default unlimited. */
  maxConnections?: number;
  /**
   * Reject clients that offer no subprotocol (default false: plain clients such as CLI tools are
   * accepted). Clients that offer subprotocols without `mcp` are always rejected with 400.
   */
  requireSubprotocol?: boolean;
  /** Host names accepted in Host (DNS-rebinding protection); same default as Streamable HTTP. */
  allowedHosts?: readonly string[] | 'any';
  /** Origins accepted when a browser sends Origin; default same host as Host, or loopback. */
  allowedOrigins?: readonly string[] | 'any';
  /**
   * Authenticates the upgrade. Return the principal (or undefined for anonymous), or throw an
   * `HttpError` to answer with its status and headers (401 + WWW-Authenticate) instead of upgrading.
   */
  authenticate?: (request: UpgradeRequest) => Promise<AuthInfo | undefined> | AuthInfo | undefined;
  /** Timeout for server-to-client requests (legacy elicitation, sampling), default 60 s. */
  requestTimeoutMs?: number;
  /** Requests one socket may have in flight at once. */
  maxInFlight?: number;
  /** Observability hooks (metrics). */
  hooks?: {
    connectionOpened?(transport: WebSocketServerTransport): void;
    connectionClosed?(transport: WebSocketServerTransport): void;
  };
}

type AnyHttpServer = HttpServer | HttpsServer;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function positive(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0 || (!allowZero && v === 0)) {
    throw new InvalidOptionError(
      name,
      allowZero ? 'must be a non-negative number' : 'must be a positive number',
    );
  }
  return v;
}

/**
 * MCP over WebSocket on an existing HTTP(S) server, sharing its port and the Streamable HTTP
 * path. Each socket becomes one `server.connect(transport, { kind: 'websocket' })`.
 */
export class WebSocketAttachment {
  readonly path: string;
  private readonly wss: WebSocketServer;
  private readonly transports = new Set<WebSocketServerTransport>();
  private readonly connectionsByTransport = new Map<WebSocketServerTransport, ServerConnection>();
  private readonly maxPayload: number;
  private readonly maxJsonDepth: number;
  private readonly keepAliveMs: number;
  private readonly maxBufferedBytes: number;
  private readonly closeTimeoutMs: number;
  private readonly maxConnections: number;
  private readonly allowedHosts: AllowList;
  private readonly allowedOrigins: AllowList;
  private readonly keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  /** Upgrades accepted but not yet connected (auth running), counted against maxConnections. */
  private pending = 0;
  private closing: Promise<void> | undefined;
  private readonly offServerClose: () => void;

  constructor(
    readonly httpServer: AnyHttpServer,
    readonly server: McpServer,
    private readonly options: WebSocketAttachOptions = {},
  ) {
    if (typeof httpServer?.on !== 'function')
      throw new InvalidOptionError('httpServer', 'must be a node:http or node:https server');
    if (typeof server?.connect !== 'function')
      throw new InvalidOptionError('mcpServer', 'must be an McpServer');
    const path = options.path ?? '/mcp';
    if (typeof path !== 'string' || !path.startsWith('/'))
      throw new InvalidOptionError('path', 'must start with "/"');
    this.path = path;
    this.maxPayload = positive('maxPayload', options.maxPayload, 4 * 1024 * 1024);
    this.maxJsonDepth = positive('maxJsonDepth', options.maxJsonDepth, DEFAULT_MAX_JSON_DEPTH);
    this.keepAliveMs = positive('keepAliveMs', options.keepAliveMs, 30_000, true);
    this.maxBufferedBytes = positive('maxBufferedBytes', options.maxBufferedBytes, 4 * 1024 * 1024);
    this.closeTimeoutMs = positive('closeTimeoutMs', options.closeTimeoutMs, 5000);
    this.maxConnections = positive('maxConnections', options.maxConnections, Number.POSITIVE_INFINITY);
    if (options.requestTimeoutMs !== undefined) positive('requestTimeoutMs', options.requestTimeoutMs, 0);
    if (options.maxInFlight !== undefined) positive('maxInFlight', options.maxInFlight, 0);
    if (options.authenticate !== undefined && typeof options.authenticate !== 'function') {
      throw new InvalidOptionError('authenticate', 'must be a function');
    }
    this.allowedHosts = allowList('allowedHosts', options.allowedHosts);
    this.allowedOrigins = allowList('allowedOrigins', options.allowedOrigins);
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload: this.maxPayload,
      // Compression costs CPU per message and invites decompression bombs; JSON-RPC frames are small.
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(MCP_SUBPROTOCOL) ? MCP_SUBPROTOCOL : false),
    });
    if (this.keepAliveMs > 0) {
      this.keepAliveTimer = setInterval(() => {
        for (const transport of this.transports) transport.heartbeat();
      }, this.keepAliveMs);
      this.keepAliveTimer.unref?.();
    }
    httpServer.on('upgrade', this.onUpgrade);
    this.offServerClose = server.onClose(() => void this.close());
  }

  /** Sockets currently open. */
  get connections(): ReadonlySet<WebSocketServerTransport> {
    return this.transports;
  }

  get size(): number {
    return this.transports.size;
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (pathOf(req.url) !== this.path) {
      // Another upgrade listener (a second WebSocket endpoint) may own this path; leave the socket to it.
      if (this.httpServer.listenerCount('upgrade') > 1) return;
      socket.on('error', () => socket.destroy());
      rejectUpgrade(
        socket,
        404,
        ErrorCode.InvalidRequest,
        `Not Found: no WebSocket endpoint at ${pathOf(req.url)}`,
      );
      return;
    }
    socket.on('error', () => socket.destroy());
    void this.accept(req, socket, head).catch((err: unknown) => {
      this.server.logger.error({ err }, 'WebSocket upgrade failed');
      rejectUpgrade(socket, 500, ErrorCode.InternalError, 'Internal error');
    });
  };

  private async accept(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (this.closing)
      return rejectUpgrade(socket, 503, ErrorCode.InternalError, 'Service Unavailable: shutting down');
    const host = header(req, 'host');
    if (!hostAllowed(host, req.socket.localAddress, this.allowedHosts)) {
      return rejectUpgrade(
        socket,
        403,
        ErrorCode.InvalidRequest,
        `Forbidden: Host ${JSON.stringify(host ?? '')} is not allowed`,
      );
    }
    const origin = header(req, 'origin');
    if (!originAllowed(origin, host, this.allowedOrigins)) {
      return rejectUpgrade(
        socket,
        403,
        ErrorCode.InvalidRequest,
        `Forbidden: Origin ${JSON.stringify(origin)} is not allowed`,
      );
    }
    // RFC 6455 4.2.2: a server that cannot speak any offered subprotocol may refuse the handshake.
    // Refusing with 400 and a reason beats completing it without a protocol, which clients then fail opaquely.
    const offered = offeredSubprotocols(req.headers['sec-websocket-protocol']);
    if (offered ? !offered.includes(MCP_SUBPROTOCOL) : this.options.requireSubprotocol === true) {
      return rejectUpgrade(
        socket,
        400,
        ErrorCode.InvalidRequest,
        `Bad Request: subprotocol "${MCP_SUBPROTOCOL}" is required`,
        {
          'sec-websocket-protocol': MCP_SUBPROTOCOL,
        },
      );
    }
    if (this.transports.size + this.pending >= this.maxConnections) {
      return rejectUpgrade(
        socket,
        503,
        ErrorCode.InternalError,
        'Service Unavailable: too many WebSocket connections',
        {
          'retry-after': '1',
        },
      );
    }
    this.pending++;
    let auth: AuthInfo | undefined;
    try {
      if (this.options.authenticate) {
        try {
          auth = await this.options.authenticate(upgradeRequest(req));
        } catch (err) {
          if (err instanceof HttpError)
            return rejectUpgrade(socket, err.status, err.code, err.message, err.headers);
          throw err;
        }
        if (auth?.expiresAt !== undefined && auth.expiresAt * 1000 <= Date.now()) {
          return rejectUpgrade(socket, 401, ErrorCode.Unauthorized, 'Unauthorized: token expired', {
            'www-authenticate': 'Bearer error="invalid_token", error_description="token expired"',
          });
        }
      }
    } finally {
      this.pending--;
    }
    // The client may have given up while auth ran, or shutdown may have begun.
    if (socket.destroyed) return;
    if (this.closing)
      return rejectUpgrade(socket, 503, ErrorCode.InternalError, 'Service Unavailable: shutting down');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const info: MessageInfo = { headers: req.headers };
      if (auth) info.auth = auth;
      if (req.socket.remoteAddress !== undefined) info.remoteAddress = req.socket.remoteAddress;
      const transport = new WebSocketServerTransport(ws, {
        maxJsonDepth: this.maxJsonDepth,
        maxBufferedBytes: this.maxBufferedBytes,
        closeTimeoutMs: this.closeTimeoutMs,
        info,
      });
      this.transports.add(transport);
      this.options.hooks?.connectionOpened?.(transport);
      void transport.finished.then(() => {
        this.transports.delete(transport);
        this.connectionsByTransport.delete(transport);
        this.options.hooks?.connectionClosed?.(transport);
      });
      void this.connect(transport);
    });
  }

  private async connect(transport: WebSocketServerTransport): Promise<void> {
    const connectOptions: Parameters<McpServer['connect']>[1] = { kind: 'websocket' };
    if (this.options.requestTimeoutMs !== undefined)
      connectOptions.requestTimeoutMs = this.options.requestTimeoutMs;
    if (this.options.maxInFlight !== undefined) connectOptions.maxInFlight = this.options.maxInFlight;
    try {
      const connection = await this.server.connect(transport, connectOptions);
      if (!transport.isClosed) this.connectionsByTransport.set(transport, connection);
    } catch (err) {
      this.server.logger.error({ err }, 'WebSocket connection setup failed');
      transport.closeWith(CloseCode.InternalError, 'internal error');
    }
  }

  /** The server connection serving a socket (for per-connection state or closing one client). */
  connectionOf(transport: WebSocketServerTransport): ServerConnection | undefined {
    return this.connectionsByTransport.get(transport);
  }

  /**
   * Stops accepting sockets and closes every open one with 1001 (going away); resolves once
   * they are all gone (sockets that do not finish the close handshake are destroyed after
   * `closeTimeoutMs`). Call it before `httpServer.close()`, which otherwise waits for them.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
      this.offServerClose();
      const open = [...this.transports];
      for (const transport of open) transport.closeWith(CloseCode.GoingAway, 'server shutting down');
      await Promise.all(open.map((t) => t.finished));
      this.httpServer.off('upgrade', this.onUpgrade);
      this.wss.close();
    })();
    return this.closing;
  }
}

function upgradeRequest(req: IncomingMessage): UpgradeRequest {
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    header: (name) => header(req, name.toLowerCase()),
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress,
    localAddress: req.socket.localAddress,
    req,
  };
}

/**
 * Serves MCP over WebSocket on `httpServer` at `options.path` (default `/mcp`), next to the
 * Streamable HTTP listener on the same port. Returns the attachment; `close()` it on shutdown.
 */
export function attachWebSocket(
  httpServer: AnyHttpServer,
  mcpServer: McpServer,
  options: WebSocketAttachOptions = {},
): WebSocketAttachment {
  return new WebSocketAttachment(httpServer, mcpServer, options);
}
