import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidOptionError } from '../../protocol/errors.js';
import { errorResponse } from '../../protocol/jsonrpc.js';

/**
 * Close codes this transport sends, each saying why (RFC 6455 section 7.4.1, IANA registry).
 * A dead peer is never sent a frame: it is terminated, and both ends observe 1006.
 */
export const CloseCode = {
  /** The server or client closed the connection on purpose. */
  Normal: 1000,
  /** The server is shutting down (or the attachment closed). Reconnect, possibly elsewhere. */
  GoingAway: 1001,
  /** Observed, never sent: the TCP connection ended without a close frame (keepalive timeout, crash). */
  Abnormal: 1006,
  /** Text frame that is not valid UTF-8 (sent by `ws` itself). */
  InvalidPayload: 1007,
  /** Policy: the bearer token expired while the socket was open. */
  PolicyViolation: 1008,
  /** A message above `maxPayload`. */
  MessageTooBig: 1009,
  /** The server failed internally while setting up or serving the socket. */
  InternalError: 1011,
  /** The peer stopped reading and the send buffer passed its bound: transient, reconnect later. */
  TryAgainLater: 1013,
} as const;

export const MCP_SUBPROTOCOL = 'mcp';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export const isLoopbackAddress = (a: string | undefined): boolean =>
  a !== undefined && (a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.'));

function hostnameOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1).toLowerCase();
  const colon = hostHeader.indexOf(':');
  return (colon < 0 ? hostHeader : hostHeader.slice(0, colon)).toLowerCase();
}

export type AllowList = Set<string> | 'any' | undefined;

export function allowList(name: string, value: readonly string[] | 'any' | undefined): AllowList {
  if (value === undefined || value === 'any') return value;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new InvalidOptionError(name, 'must be an array of strings or "any"');
  }
  return new Set(value.map((v) => v.toLowerCase()));
}

/**
 * Host check against DNS rebinding, the same policy as the Streamable HTTP handler: with no
 * allow-list, a server bound to loopback answers only loopback host names.
 */
export function hostAllowed(
  host: string | undefined,
  localAddress: string | undefined,
  allowed: AllowList,
): boolean {
  if (allowed === 'any') return true;
  const name = host === undefined ? undefined : hostnameOf(host);
  if (allowed !== undefined) return name !== undefined && allowed.has(name);
  return !isLoopbackAddress(localAddress) || (name !== undefined && LOOPBACK_HOSTS.has(name));
}

/**
 * Origin check, the same policy as the Streamable HTTP handler: no Origin (not a browser) passes;
 * otherwise the allow-list, or by default the same host as the Host header, or loopback.
 * Browsers do not apply CORS to WebSocket, so this check is the only thing stopping a page on
 * another site from opening a socket with the user's cookies or network position.
 */
export function originAllowed(
  origin: string | undefined,
  host: string | undefined,
  allowed: AllowList,
): boolean {
  if (origin === undefined || allowed === 'any') return true;
  if (allowed !== undefined) return allowed.has(origin.toLowerCase());
  try {
    const originHost = new URL(origin).hostname.toLowerCase();
    const hostName = host === undefined ? undefined : hostnameOf(host).replace(/^\[|\]$/g, '');
    return originHost === hostName || LOOPBACK_HOSTS.has(originHost) || LOOPBACK_HOSTS.has(`[${originHost}]`);
  } catch {
    return false;
  }
}

/** Parses `Sec-WebSocket-Protocol` (comma-separated tokens); undefined when the client offered none. */
export function offeredSubprotocols(header: string | string[] | undefined): string[] | undefined {
  if (header === undefined) return undefined;
  const joined = Array.isArray(header) ? header.join(',') : header;
  const list = joined
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  return list.length === 0 ? undefined : list;
}

/**
 * Answers an upgrade request with a plain HTTP error and closes the socket, before any
 * WebSocket handshake. The body is a JSON-RPC error so MCP clients can show the reason.
 */
export function rejectUpgrade(
  socket: Duplex,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(errorResponse(null, code, message));
  const all: Record<string, string> = {
    connection: 'close',
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  };
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`];
  for (const [name, value] of Object.entries(all)) {
    // A header value with CR/LF would split the response; such a value is a caller bug, so drop it.
    if (!/[\r\n]/.test(value) && !/[\r\n:]/.test(name)) lines.push(`${name}: ${value}`);
  }
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
