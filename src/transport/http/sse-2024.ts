import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, InvalidOptionError } from '../../protocol/errors.js';
import {
  DEFAULT_MAX_JSON_DEPTH,
  type JsonRpcMessage,
  errorResponse,
  parseJson,
} from '../../protocol/jsonrpc.js';
import type { ServerConnection } from '../../server/connection.js';
import type { McpServer } from '../../server/server.js';
import type { MessageInfo, Transport } from '../types.js';
import { NodeIO } from './io.js';
import { SSE_HEADERS, SseStream } from './sse.js';

export interface LegacySseOptions {
  /** GET endpoint that opens the event stream, default `/sse`. */
  ssePath?: string;
  /** POST endpoint for client messages, default `/messages`. */
  messagesPath?: string;
  maxConnections?: number;
  maxBodyBytes?: number;
  keepAliveMs?: number;
}

/** One 2024-11-05 HTTP+SSE connection: messages out as SSE events, in as POSTs to the endpoint. */
class SseConnectionTransport implements Transport {
  onmessage: Transport['onmessage'];
  onparseerror: Transport['onparseerror'];
  onerror: Transport['onerror'];
  onclose: Transport['onclose'];
  private closed = false;

  constructor(
    readonly sessionId: string,
    private readonly stream: SseStream,
  ) {
    stream.onClose(() => this.finish());
  }

  async start(): Promise<void> {}

  async send(message: JsonRpcMessage): Promise<void> {
    if (this.closed || !this.stream.send(message)) throw new Error('SSE connection closed');
  }

  deliver(value: unknown, info: MessageInfo): void {
    this.onmessage?.(value, info);
  }

  async close(): Promise<void> {
    this.stream.close();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}

/**
 * The deprecated HTTP+SSE transport of protocol 2024-11-05, for old clients: GET /sse opens
 * the stream and announces the POST endpoint (`event: endpoint`); each POST /messages is
 * answered 202 and its response travels on the stream. Off unless you mount it.
 */
export function createLegacySseListener(server: McpServer, options: LegacySseOptions = {}) {
  const ssePath = options.ssePath ?? '/sse';
  const messagesPath = options.messagesPath ?? '/messages';
  const maxConnections = options.maxConnections ?? 1000;
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  if (!ssePath.startsWith('/') || !messagesPath.startsWith('/'))
    throw new InvalidOptionError('ssePath', 'paths must start with "/"');
  if (!Number.isSafeInteger(maxConnections) || maxConnections < 1)
    throw new InvalidOptionError('maxConnections', 'must be a positive integer');
  const connections = new Map<string, { transport: SseConnectionTransport; connection: ServerConnection }>();

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

  const listener = (req: IncomingMessage, res: ServerResponse, next?: () => void): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === ssePath && req.method === 'GET') {
      if (connections.size >= maxConnections) {
        json(res, 503, errorResponse(null, ErrorCode.InternalError, 'Too many SSE connections'));
        return;
      }
      const io = new NodeIO(req, res);
      const stream = new SseStream(io.startStream(200, { ...SSE_HEADERS }), {
        keepAliveMs: options.keepAliveMs ?? 15_000,
      });
      const sessionId = randomBytes(16).toString('hex');
      const transport = new SseConnectionTransport(sessionId, stream);
      // The endpoint event is plain text, not JSON: old clients POST to this (relative) URI.
      stream.sendEvent('endpoint', `${messagesPath}?sessionId=${sessionId}`);
      void server.connect(transport, { kind: 'sse' }).then((connection) => {
        connections.set(sessionId, { transport, connection });
        void connection.closed.then(() => connections.delete(sessionId));
      });
      return;
    }
    if (url.pathname === messagesPath && req.method === 'POST') {
      const sessionId = url.searchParams.get('sessionId') ?? '';
      const entry = connections.get(sessionId);
      if (!entry) {
        json(res, 404, errorResponse(null, -32001, 'Session not found'));
        return;
      }
      const io = new NodeIO(req, res);
      void io.readBody(maxBodyBytes).then(
        (text) => {
          if (text === null)
            return json(res, 413, errorResponse(null, ErrorCode.InvalidRequest, 'Payload Too Large'));
          const parsed = parseJson(text, DEFAULT_MAX_JSON_DEPTH);
          if (!parsed.ok) return json(res, 400, parsed.error);
          res.writeHead(202).end('Accepted');
          const info: MessageInfo = { headers: req.headers };
          if (req.socket.remoteAddress) info.remoteAddress = req.socket.remoteAddress;
          entry.transport.deliver(parsed.value, info);
        },
        () => json(res, 400, errorResponse(null, ErrorCode.InvalidRequest, 'Could not read body')),
      );
      return;
    }
    if (next) {
      next();
      return;
    }
    json(res, 404, { error: 'not found' });
  };
  const api = Object.assign(listener, {
    /** Open SSE connections. */
    connections: 0,
    async close() {
      await Promise.all([...connections.values()].map((c) => c.connection.close()));
    },
  });
  // A live count (Object.assign would have copied a getter's value once).
  Object.defineProperty(api, 'connections', { get: () => connections.size });
  return api;
}
