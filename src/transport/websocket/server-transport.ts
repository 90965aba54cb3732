import type { RawData, WebSocket } from 'ws';
import { ConnectionClosedError, LocalError } from '../../protocol/errors.js';
import { type JsonRpcMessage, parseJson } from '../../protocol/jsonrpc.js';
import type { AuthInfo, MessageInfo, Transport } from '../types.js';
import { CloseCode } from './policy.js';

export interface WebSocketServerTransportOptions {
  maxJsonDepth: number;
  /** Bytes queued for a peer that is not reading before the socket is closed with 1013. */
  maxBufferedBytes: number;
  /** How long a close handshake may take before the socket is destroyed. */
  closeTimeoutMs: number;
  info: MessageInfo;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** setTimeout's ceiling; longer waits are chained. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * One accepted WebSocket as an MCP message transport: one JSON-RPC message (or batch) per
 * frame. Both protocol eras run over it because the server decides the era per request.
 */
export class WebSocketServerTransport implements Transport {
  onmessage: Transport['onmessage'];
  onparseerror: Transport['onparseerror'];
  onerror: Transport['onerror'];
  onclose: Transport['onclose'];
  readonly sessionId = undefined;
  readonly info: MessageInfo;
  /** Close code and reason once the socket closed (1006 when the peer vanished or was terminated). */
  closeCode: number | undefined;
  closeReason: string | undefined;
  /** Resolves once the underlying TCP connection is gone, not just the MCP session. */
  readonly finished: Promise<void>;
  private readonly backlog: RawData[] = [];
  private started = false;
  private closed = false;
  private alive = true;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  private expiryTimer: ReturnType<typeof setTimeout> | undefined;
  private resolveFinished!: () => void;

  constructor(
    readonly ws: WebSocket,
    private readonly options: WebSocketServerTransportOptions,
  ) {
    this.info = options.info;
    this.finished = new Promise((resolve) => {
      this.resolveFinished = resolve;
    });
    // Frames that arrive before start() are held (the socket is paused meanwhile, so at most one chunk's worth).
    ws.pause();
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.alive = true;
      if (this.closed) return;
      if (!this.started) this.backlog.push(data);
      else this.receive(data, isBinary);
    });
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err: Error) => this.onerror?.(err));
    ws.on('close', (code: number, reason: Buffer) => {
      this.closeCode ??= code;
      this.closeReason ??= reason.toString('utf8');
      if (this.closeTimer) clearTimeout(this.closeTimer);
      this.finish();
      this.resolveFinished();
    });
    this.armExpiry(options.info.auth);
  }

  get auth(): AuthInfo | undefined {
    return this.info.auth;
  }
  get remoteAddress(): string | undefined {
    return this.info.remoteAddress;
  }
  /** Bytes queued in user space for this peer (what the backpressure bound applies to). */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
  get isClosed(): boolean {
    return this.closed;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const data of this.backlog.splice(0)) {
      if (this.closed) break;
      this.receive(data, false);
    }
    this.ws.resume();
  }

  private receive(data: RawData, isBinary: boolean): void {
    let text: string;
    try {
      // ws has already rejected text frames with invalid UTF-8 (close 1007); binary frames are decoded strictly here.
      text = isBinary ? utf8.decode(toBytes(data)) : toBytes(data).toString('utf8');
    } catch {
      text = '\uFFFD';
    }
    const parsed = parseJson(text, this.options.maxJsonDepth);
    try {
      if (parsed.ok) this.onmessage?.(parsed.value, this.info);
      else this.onparseerror?.(parsed.error);
    } catch (err) {
      // The layers above never throw on purpose; if they do, the connection state is unknown.
      this.onerror?.(err instanceof Error ? err : new Error(String(err)));
      this.closeWith(CloseCode.InternalError, 'internal error');
    }
  }

  async send(message: JsonRpcMessage): Promise<void> {
    if (this.closed || this.ws.readyState !== this.ws.OPEN)
      throw new ConnectionClosedError('WebSocket is closed');
    const text = JSON.stringify(message);
    const buffered = this.ws.bufferedAmount;
    // One message always fits in an empty buffer; beyond that the peer must be reading.
    if (buffered > 0 && buffered + Buffer.byteLength(text) > this.options.maxBufferedBytes) {
      this.closeWith(CloseCode.TryAgainLater, 'send buffer full: peer is not reading');
      throw new LocalError(
        'TRANSPORT',
        `WebSocket send buffer above ${this.options.maxBufferedBytes} bytes; connection closed`,
      );
    }
    this.ws.send(text, (err) => {
      if (err && !this.closed) this.onerror?.(err);
    });
  }

  async close(): Promise<void> {
    this.closeWith(CloseCode.Normal, 'normal closure');
  }

  /**
   * Closes with a code that says why. The MCP session ends now; the socket gets `closeTimeoutMs`
   * to finish the close handshake and is then destroyed (a peer that stopped reading never answers).
   */
  closeWith(code: number, reason: string): void {
    if (this.closed) return;
    this.closeCode = code;
    this.closeReason = reason;
    const state = this.ws.readyState;
    if (state === this.ws.OPEN || state === this.ws.CONNECTING) {
      this.ws.close(code, reason);
      this.closeTimer = setTimeout(() => this.ws.terminate(), this.options.closeTimeoutMs);
      this.closeTimer.unref?.();
    }
    this.finish();
  }

  /** Destroys the TCP connection without a close frame (dead peer). Both ends observe 1006. */
  terminate(reason: string): void {
    this.closeCode ??= CloseCode.Abnormal;
    this.closeReason ??= reason;
    this.ws.terminate();
    this.finish();
  }

  /**
   * One keepalive tick: a peer that has sent nothing (no pong, no message) since the last
   * tick is dead and is terminated; otherwise it is pinged again.
   */
  heartbeat(): void {
    if (this.closed) return;
    if (!this.alive) {
      this.terminate('keepalive timeout: no pong');
      return;
    }
    this.alive = false;
    try {
      this.ws.ping();
    } catch (err) {
      this.onerror?.(err as Error);
    }
  }

  /** A socket must not outlive the token that opened it (AuthInfo.expiresAt is seconds since the epoch, as in JWT `exp`). */
  private armExpiry(auth: AuthInfo | undefined): void {
    if (auth?.expiresAt === undefined || !Number.isFinite(auth.expiresAt)) return;
    const remaining = auth.expiresAt * 1000 - Date.now();
    if (remaining <= 0) {
      this.closeWith(CloseCode.PolicyViolation, 'token expired');
      return;
    }
    this.expiryTimer = setTimeout(() => this.armExpiry(auth), Math.min(remaining, MAX_TIMER_MS));
    this.expiryTimer.unref?.();
  }

  private finish(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (this.closed) return;
    this.closed = true;
    this.backlog.length = 0;
    this.onclose?.();
  }
}

function toBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
