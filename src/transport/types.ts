import type { JsonRpcErrorResponse, JsonRpcMessage, RequestId } from '../protocol/jsonrpc.js';

/** Per-message facts a transport knows and the layers above may need. */
export interface MessageInfo {
  /** Authenticated principal, when the transport ran auth (HTTP, WebSocket). */
  auth?: AuthInfo;
  remoteAddress?: string;
  headers?: Readonly<Record<string, string | string[] | undefined>>;
}

export interface AuthInfo {
  /** Subject (user or client) the token was issued for. */
  subject?: string;
  clientId?: string;
  scopes: readonly string[];
  token?: string;
  expiresAt?: number;
  claims?: Readonly<Record<string, unknown>>;
}

export interface SendOptions {
  /** The request this message answers or belongs to (routes it onto that request's stream). */
  relatedRequestId?: RequestId;
}

/**
 * A bidirectional message channel (stdio, in-memory, WebSocket, the HTTP client).
 * Transports frame and parse; they deliver decoded JSON values and leave JSON-RPC
 * shape checks to the engine, so every transport gets the same error answers.
 */
export interface Transport {
  start(): Promise<void>;
  send(message: JsonRpcMessage, options?: SendOptions): Promise<void>;
  close(): Promise<void>;
  /** A decoded JSON value (object, or array for a batch). */
  onmessage?: ((value: unknown, info?: MessageInfo) => void) | undefined;
  /** Bytes that did not decode; the receiver answers with this error where it answers at all. */
  onparseerror?: ((error: JsonRpcErrorResponse) => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onclose?: (() => void) | undefined;
  /** Protocol version the transport should stamp on requests (HTTP header), set by the client. */
  setProtocolVersion?(version: string): void;
  /** Legacy HTTP session, if any. */
  readonly sessionId?: string | undefined;
}
