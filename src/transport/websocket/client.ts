import { ConnectionClosedError, ErrorCode, InvalidOptionError, LocalError } from '../../protocol/errors.js';
import {
  DEFAULT_MAX_JSON_DEPTH,
  type JsonRpcMessage,
  errorResponse,
  parseJson,
} from '../../protocol/jsonrpc.js';
import type { Transport } from '../types.js';

/** The slice of the WHATWG `WebSocket` API this transport uses; `ws`, undici, Bun and Deno all provide it. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void): void;
}

/** A `WebSocket` constructor: the global one, or `ws`'s (which takes options as the third argument). */
export type WebSocketConstructor = new (url: string, protocols?: any, options?: any) => WebSocketLike;

export interface WebSocketClientTransportOptions {
  /**
   * Extra handshake headers (e.g. `authorization`). Browsers cannot send them; Node 22+ (undici),
   * Bun, Deno and `ws` can.
   */
  headers?: Record<string, string>;
  /** Offered subprotocols, default `['mcp']`. */
  protocols?: readonly string[];
  /** Implementation to use; default the global `WebSocket`, else the `ws` package (Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Handshake timeout, default 10 s. */
  connectTimeoutMs?: number;
  /** Largest accepted incoming message, default 16 MiB; a bigger one closes the socket with 1009. */
  maxPayload?: number;
  maxJsonDepth?: number;
  /** Bytes queued for a server that stopped reading before `send` fails, default 4 MiB. */
  maxBufferedBytes?: number;
}

const OPEN = 1;
/** Close codes `ws` sends when it fails a connection, by its error code. */
const WS_ERROR_CLOSE_CODES: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
  WS_ERR_EXPECTED_MASK: 1002,
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_INVALID_CLOSE_CODE: 1002,
  WS_ERR_INVALID_OPCODE: 1002,
  WS_ERR_UNEXPECTED_MASK: 1002,
  WS_ERR_EXPECTED_FIN: 1002,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: 1002,
};
const CLOSED = 3;
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * The client end of MCP over WebSocket. One transport is one socket: after it closes (see
 * `closeCode`/`closeReason`), reconnecting is the caller's job, with a new transport and a new
 * `McpClient`, because a legacy session does not survive the socket:
 *
 * ```ts
 * client.onClose(async () => {
 *   if (transport.closeCode === 1008) return; // policy: retrying will not help
 *   await sleep(backoff);
 *   const next = new McpClient(info, options);
 *   await next.connect(new WebSocketClientTransport(url, transportOptions));
 * });
 * ```
 */
export class WebSocketClientTransport implements Transport {
  onmessage: Transport['onmessage'];
  onparseerror: Transport['onparseerror'];
  onerror: Transport['onerror'];
  onclose: Transport['onclose'];
  readonly sessionId = undefined;
  readonly url: URL;
  /** Close code and reason once closed (1006: the connection dropped without a close frame). */
  closeCode: number | undefined;
  closeReason: string | undefined;
  private socket: WebSocketLike | undefined;
  private closed = false;
  private readonly protocols: string[];
  private readonly connectTimeoutMs: number;
  private readonly maxPayload: number;
  private readonly maxJsonDepth: number;
  private readonly maxBufferedBytes: number;

  constructor(
    url: string | URL,
    private readonly options: WebSocketClientTransportOptions = {},
  ) {
    try {
      this.url = new URL(url);
    } catch {
      throw new InvalidOptionError('url', `"${String(url)}" is not a valid URL`);
    }
    if (this.url.protocol === 'http:') this.url.protocol = 'ws:';
    else if (this.url.protocol === 'https:') this.url.protocol = 'wss:';
    if (this.url.protocol !== 'ws:' && this.url.protocol !== 'wss:')
      throw new InvalidOptionError('url', 'must be ws:, wss:, http: or https:');
    const protocols = options.protocols ?? ['mcp'];
    if (!Array.isArray(protocols) || !protocols.every((p) => typeof p === 'string' && TOKEN_RE.test(p))) {
      throw new InvalidOptionError('protocols', 'must be an array of subprotocol tokens');
    }
    this.protocols = [...protocols];
    if (options.headers !== undefined) {
      if (typeof options.headers !== 'object' || options.headers === null)
        throw new InvalidOptionError('headers', 'must be an object');
      for (const [name, value] of Object.entries(options.headers)) {
        if (!TOKEN_RE.test(name) || typeof value !== 'string' || /[\r\n\0]/.test(value)) {
          throw new InvalidOptionError('headers', `invalid header ${JSON.stringify(name)}`);
        }
      }
    }
    if (options.WebSocket !== undefined && typeof options.WebSocket !== 'function') {
      throw new InvalidOptionError('WebSocket', 'must be a WebSocket constructor');
    }
    const positive = (name: string, value: number | undefined, fallback: number) => {
      const v = value ?? fallback;
      if (typeof v !== 'number' || !(v > 0)) throw new InvalidOptionError(name, 'must be a positive number');
      return v;
    };
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs, 10_000);
    this.maxPayload = positive('maxPayload', options.maxPayload, 16 * 1024 * 1024);
    this.maxJsonDepth = positive('maxJsonDepth', options.maxJsonDepth, DEFAULT_MAX_JSON_DEPTH);
    this.maxBufferedBytes = positive('maxBufferedBytes', options.maxBufferedBytes, 4 * 1024 * 1024);
  }

  /** The subprotocol the server selected ('' when none). */
  get protocol(): string {
    return this.socket?.protocol ?? '';
  }

  async start(): Promise<void> {
    if (this.socket)
      throw new LocalError(
        'TRANSPORT',
        'WebSocketClientTransport is single-use: create a new one to reconnect',
      );
    const socket = await this.open();
    this.socket = socket;
    socket.addEventListener('message', (event: { data: unknown }) => this.receive(event.data));
    socket.addEventListener('error', (event: { error?: unknown; message?: string }) => {
      const err = event.error instanceof Error ? event.error : new Error(event.message ?? 'WebSocket error');
      // `ws` fails the connection itself on a protocol error but then reports 1006; keep the code it sent.
      const code = WS_ERROR_CLOSE_CODES[(err as { code?: string }).code ?? ''];
      if (code !== undefined && !this.closed) {
        this.closeCode ??= code;
        this.closeReason ??= err.message;
      }
      this.onerror?.(err);
    });
    socket.addEventListener('close', (event: { code: number; reason: string }) => {
      this.closeCode ??= event.code;
      this.closeReason ??= event.reason;
      this.finish();
    });
  }

  private async open(): Promise<WebSocketLike> {
    const { impl, isWs } = await this.implementation();
    const url = this.url.toString();
    const headers = this.options.headers;
    let socket: WebSocketLike;
    if (isWs) {
      socket = new impl(url, this.protocols, {
        headers,
        maxPayload: this.maxPayload,
        handshakeTimeout: this.connectTimeoutMs,
      });
    } else if (headers && Object.keys(headers).length > 0) {
      // Non-standard second argument understood by undici (Node 22+), Bun and Deno.
      socket = new impl(url, { protocols: this.protocols, headers });
    } else {
      socket = new impl(url, this.protocols);
    }
    socket.binaryType = 'arraybuffer';
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          socket.close();
        } catch {
          // Closing a socket that never opened may throw in some runtimes.
        }
        reject(new LocalError('TRANSPORT', `WebSocket connection to ${url} failed: ${message}`));
      };
      const timer = setTimeout(
        () => fail(`no handshake within ${this.connectTimeoutMs} ms`),
        this.connectTimeoutMs,
      );
      // `ws` reports the HTTP status of a refused upgrade (401, 403, 400) through this event.
      (socket as { once?: (e: string, fn: (...args: any[]) => void) => void }).once?.(
        'unexpected-response',
        (_req: unknown, res: { statusCode?: number; resume?: () => void }) => {
          res.resume?.();
          fail(`server answered HTTP ${res.statusCode ?? '?'}`);
        },
      );
      socket.addEventListener('open', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      });
      socket.addEventListener('error', (event: { error?: unknown; message?: string }) =>
        fail(event.error instanceof Error ? event.error.message : (event.message ?? 'error')),
      );
      socket.addEventListener('close', (event: { code: number }) =>
        fail(`closed during handshake (${event.code})`),
      );
    });
    return socket;
  }

  private async implementation(): Promise<{ impl: WebSocketConstructor; isWs: boolean }> {
    if (this.options.WebSocket) {
      const impl = this.options.WebSocket;
      return { impl, isWs: isWsClass(impl) };
    }
    const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (global) return { impl: global, isWs: false };
    try {
      // Only loaded where the runtime has no WebSocket of its own (Node 20).
      const mod = (await import('ws')) as unknown as {
        default?: WebSocketConstructor;
        WebSocket?: WebSocketConstructor;
      };
      const impl = mod.WebSocket ?? mod.default;
      if (impl) return { impl, isWs: true };
    } catch (err) {
      throw new LocalError(
        'TRANSPORT',
        'No WebSocket implementation: this runtime has no global WebSocket; install the "ws" package',
        {
          cause: err,
        },
      );
    }
    throw new LocalError(
      'TRANSPORT',
      'No WebSocket implementation: the "ws" package exports no WebSocket class',
    );
  }

  private receive(data: unknown): void {
    if (this.closed) return;
    let text: string;
    if (typeof data === 'string') text = data;
    else if (data instanceof ArrayBuffer) text = new TextDecoder().decode(data);
    else if (ArrayBuffer.isView(data)) text = new TextDecoder().decode(data);
    else {
      this.onparseerror?.(errorResponse(null, ErrorCode.ParseError, 'Parse error: unsupported frame type'));
      return;
    }
    // A string of n UTF-16 units is at least n UTF-8 bytes, so this never rejects a message within the limit.
    if (text.length > this.maxPayload) {
      this.closeWith(1009, 'message too big');
      return;
    }
    const parsed = parseJson(text, this.maxJsonDepth);
    if (parsed.ok) this.onmessage?.(parsed.value);
    else this.onparseerror?.(parsed.error);
  }

  async send(message: JsonRpcMessage): Promise<void> {
    const socket = this.socket;
    if (this.closed || !socket || socket.readyState !== OPEN)
      throw new ConnectionClosedError('WebSocket is closed');
    const text = JSON.stringify(message);
    if (socket.bufferedAmount > 0 && socket.bufferedAmount + text.length > this.maxBufferedBytes) {
      throw new LocalError(
        'TRANSPORT',
        `WebSocket send buffer above ${this.maxBufferedBytes} bytes: the server is not reading`,
      );
    }
    socket.send(text);
  }

  async close(): Promise<void> {
    this.closeWith(1000, 'normal closure');
  }

  /** Closes with a specific code (1000 normal, 1001 going away, 4000-4999 application-defined). */
  closeWith(code: number, reason: string): void {
    if (this.closed) return;
    this.closeCode = code;
    this.closeReason = reason;
    const socket = this.socket;
    if (socket && socket.readyState !== CLOSED) {
      try {
        socket.close(code, reason);
      } catch (err) {
        this.onerror?.(err as Error);
      }
    }
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onclose?.();
  }
}

/** `ws`'s class has the Node-only `terminate`; the WHATWG one does not. */
function isWsClass(impl: WebSocketConstructor): boolean {
  return typeof (impl.prototype as { terminate?: unknown }).terminate === 'function';
}
