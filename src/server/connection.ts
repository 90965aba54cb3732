import { Peer } from '../engine/peer.js';
import type { JsonRpcRequest } from '../protocol/jsonrpc.js';
import { allowsBatch } from '../protocol/versions.js';
import type { Transport } from '../transport/types.js';
import type { Exchange, LegacySession } from './context.js';
import type { TransportKind } from './middleware.js';
import type { McpServer } from './server.js';

export interface ConnectOptions {
  /** Label for metrics and middleware (`ctx.transport`); default 'stdio'. */
  kind?: TransportKind;
  /** Timeout for server-to-client requests (sampling, elicitation) in legacy sessions. */
  requestTimeoutMs?: number;
  maxInFlight?: number;
}

/**
 * A server bound to one message transport (stdio, in-memory, WebSocket). The connection
 * is a legacy session once the client sends `initialize`; until then, and for clients
 * that never do, each request is served in the 2026-07-28 era from its own `_meta`.
 */
export class ServerConnection {
  readonly peer: Peer;
  readonly session: LegacySession;
  private readonly detach: () => void;
  private closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  constructor(
    readonly server: McpServer,
    readonly transport: Transport,
    options: ConnectOptions = {},
  ) {
    const kind = options.kind ?? 'stdio';
    this.closedPromise = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    const peerOptions: { defaultTimeoutMs?: number; maxInFlight?: number } = {};
    if (options.requestTimeoutMs !== undefined) peerOptions.defaultTimeoutMs = options.requestTimeoutMs;
    if (options.maxInFlight !== undefined) peerOptions.maxInFlight = options.maxInFlight;
    const session: LegacySession = {
      id: transport.sessionId,
      protocolVersion: undefined,
      initialized: false,
      clientInfo: undefined,
      clientCapabilities: {},
      logLevel: undefined,
      subscriptions: new Set(),
      notify: (method, params) => {
        if (!this.peer.isClosed) void this.peer.notify(method, params).catch(() => {});
      },
    };
    this.session = session;
    this.peer = new Peer(
      transport,
      {
        answerMalformed: true,
        allowBatch: () => allowsBatch(session.protocolVersion),
        onRequest: (request: JsonRpcRequest, ctx) => {
          const exchange: Exchange = {
            transport: kind,
            signal: ctx.signal,
            info: ctx.info,
            session,
            notify: (method, params) => ctx.send({ jsonrpc: '2.0', method, params }),
            request: (method, params, signal) =>
              this.peer.request(method, params, { signal, relatedRequestId: request.id }),
          };
          return server.handle(request, exchange);
        },
        onNotification: (notification, info) => {
          server.handleNotification(notification, {
            transport: kind,
            signal: new AbortController().signal,
            info,
            session,
            notify: async () => {},
          });
        },
        onerror: (error) => server.logger.warn({ err: error }, 'connection error'),
        onclose: () => {
          this.detach();
          this.resolveClosed();
        },
      },
      peerOptions,
    );
    this.detach = server.attachSession(session);
  }

  async start(): Promise<void> {
    await this.peer.start();
  }

  /** Resolves when the transport closes (client went away, or close() was called). */
  get closed(): Promise<void> {
    return this.closedPromise;
  }

  async close(): Promise<void> {
    await this.peer.close();
  }
}
