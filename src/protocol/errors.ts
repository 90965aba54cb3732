/**
 * One error hierarchy. `McpError` travels on the wire as a JSON-RPC error; `LocalError`
 * never does (timeouts, closed connections, bad options). Both extend `McpkitError`
 * and carry a stable `code` so callers can switch on it.
 */

export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Legacy (2025-11-25 and earlier) resource-not-found code. */
  ResourceNotFoundLegacy: -32002,
  /** Legacy URL elicitation required (2025-11-25 only). */
  UrlElicitationRequired: -32042,
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
  /** Implementation-defined, outside the MCP-reserved sub-range. */
  RequestCancelled: -32800,
  RateLimited: -32029,
  Unauthorized: -32040,
  Forbidden: -32041,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class McpkitError extends Error {
  override name = 'McpkitError';
}

/** A JSON-RPC error, sent or received. */
export class McpError extends McpkitError {
  override name = 'McpError';
  readonly code: number;
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.code = code;
    this.data = data;
  }

  toJSON(): { code: number; message: string; data?: unknown } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }

  static fromWire(error: { code: number; message: string; data?: unknown }): McpError {
    return new McpError(error.code, error.message, error.data);
  }
}

export class ParseError extends McpError {
  override name = 'ParseError';
  constructor(message = 'Parse error', data?: unknown) {
    super(ErrorCode.ParseError, message, data);
  }
}
export class InvalidRequestError extends McpError {
  override name = 'InvalidRequestError';
  constructor(message = 'Invalid Request', data?: unknown) {
    super(ErrorCode.InvalidRequest, message, data);
  }
}
export class MethodNotFoundError extends McpError {
  override name = 'MethodNotFoundError';
  constructor(method: string) {
    super(ErrorCode.MethodNotFound, `Method not found: ${method}`);
  }
}
export class InvalidParamsError extends McpError {
  override name = 'InvalidParamsError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.InvalidParams, message, data);
  }
}
export class InternalError extends McpError {
  override name = 'InternalError';
  constructor(message = 'Internal error', data?: unknown) {
    super(ErrorCode.InternalError, message, data);
  }
}
export class HeaderMismatchError extends McpError {
  override name = 'HeaderMismatchError';
  constructor(message: string, data?: unknown) {
    super(ErrorCode.HeaderMismatch, message, data);
  }
}
export class MissingClientCapabilityError extends McpError {
  override name = 'MissingClientCapabilityError';
  constructor(requiredCapabilities: Record<string, unknown>, message?: string) {
    super(
      ErrorCode.MissingRequiredClientCapability,
      message ?? `Missing required client capability: ${Object.keys(requiredCapabilities).join(', ')}`,
      { requiredCapabilities },
    );
  }
}
export class UnsupportedProtocolVersionError extends McpError {
  override name = 'UnsupportedProtocolVersionError';
  constructor(supported: readonly string[], requested: unknown) {
    super(ErrorCode.UnsupportedProtocolVersion, 'Unsupported protocol version', {
      supported: [...supported],
      requested,
    });
  }
}

/** Errors that never leave the process: they describe what happened locally. */
export type LocalErrorCode =
  | 'TIMEOUT'
  | 'CONNECTION_CLOSED'
  | 'CANCELLED'
  | 'INVALID_OPTION'
  | 'NOT_CONNECTED'
  | 'TRANSPORT'
  | 'PROTOCOL'
  | 'CAPABILITY'
  | 'POOL_CLOSED'
  | 'POOL_TIMEOUT'
  | 'POOL_FULL';

export class LocalError extends McpkitError {
  override name = 'LocalError';
  readonly code: LocalErrorCode;
  constructor(code: LocalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export class RequestTimeoutError extends LocalError {
  override name = 'RequestTimeoutError';
  constructor(method: string, timeoutMs: number) {
    super('TIMEOUT', `Request ${method} timed out after ${timeoutMs} ms`);
  }
}
export class ConnectionClosedError extends LocalError {
  override name = 'ConnectionClosedError';
  constructor(message = 'Connection closed') {
    super('CONNECTION_CLOSED', message);
  }
}
export class RequestCancelledError extends LocalError {
  override name = 'RequestCancelledError';
  constructor(reason?: unknown) {
    super('CANCELLED', `Request cancelled${typeof reason === 'string' ? `: ${reason}` : ''}`);
  }
}
/** Thrown at construction when an option is wrong; the message names the option. */
export class InvalidOptionError extends LocalError {
  override name = 'InvalidOptionError';
  readonly option: string;
  constructor(option: string, message: string) {
    super('INVALID_OPTION', `Invalid option "${option}": ${message}`);
    this.option = option;
  }
}

/** The HTTP status a JSON-RPC error maps to, in one place. */
export function httpStatusForError(code: number): number {
  switch (code) {
    case ErrorCode.ParseError:
    case ErrorCode.InvalidRequest:
    case ErrorCode.InvalidParams:
    case ErrorCode.HeaderMismatch:
    case ErrorCode.MissingRequiredClientCapability:
    case ErrorCode.UnsupportedProtocolVersion:
      return 400;
    case ErrorCode.MethodNotFound:
      return 404;
    case ErrorCode.RateLimited:
      return 429;
    case ErrorCode.Unauthorized:
      return 401;
    case ErrorCode.Forbidden:
      return 403;
    default:
      return 500;
  }
}

/** Turns anything thrown by a handler into a wire error, without leaking internals. */
export function toWireError(err: unknown, exposeInternal = false): McpError {
  if (err instanceof McpError) return err;
  const message = exposeInternal && err instanceof Error ? err.message : 'Internal error';
  return new InternalError(message);
}

export interface RateLimitInfo {
  /** Milliseconds until a retry can succeed. */
  retryAfterMs: number;
  limit: number;
  remaining: number;
  /** Milliseconds until the window (or bucket) is fully reset. */
  resetMs: number;
  /** Which limit tripped: `global`, `tool:<name>`, `resource:<uri>`, `prompt:<name>`. */
  scope: string;
}

/** Inbound rate limit exceeded. Over HTTP this becomes 429 with Retry-After and RateLimit-* headers. */
export class RateLimitedError extends McpError {
  override name = 'RateLimitedError';
  declare readonly data: RateLimitInfo;
  constructor(info: RateLimitInfo) {
    super(
      ErrorCode.RateLimited,
      `Rate limit exceeded (${info.scope}); retry after ${Math.ceil(info.retryAfterMs / 1000)} s`,
      info,
    );
  }
}
