import { ErrorCode, type McpError } from './errors.js';

export type RequestId = string | number;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}
export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: Record<string, unknown>;
}
export interface JsonRpcResultResponse {
  jsonrpc: '2.0';
  id: RequestId;
  result: Record<string, unknown>;
}
export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}
export interface JsonRpcErrorResponse {
  jsonrpc: '2.0';
  id?: RequestId | null;
  error: JsonRpcErrorObject;
}
export type JsonRpcResponse = JsonRpcResultResponse | JsonRpcErrorResponse;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export function isRequest(m: JsonRpcMessage): m is JsonRpcRequest {
  return 'method' in m && 'id' in m;
}
export function isNotification(m: JsonRpcMessage): m is JsonRpcNotification {
  return 'method' in m && !('id' in m);
}
export function isResponse(m: JsonRpcMessage): m is JsonRpcResponse {
  return !('method' in m) && ('result' in m || 'error' in m);
}
export function isErrorResponse(m: JsonRpcMessage): m is JsonRpcErrorResponse {
  return 'error' in m && !('method' in m);
}

/** Default bound on JSON nesting: deep enough for any real schema, shallow enough for the stack. */
export const DEFAULT_MAX_JSON_DEPTH = 64;

/**
 * Rejects JSON text nested deeper than `maxDepth` before it reaches `JSON.parse`,
 * which would otherwise build (and later recurse over) attacker-sized structures.
 * One pass over the bytes, strings skipped, no allocation.
 */
export function exceedsJsonDepth(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > maxDepth) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: JsonRpcErrorResponse };

/** Parses one JSON text; failures come back as the JSON-RPC error to send. */
export function parseJson(text: string, maxDepth = DEFAULT_MAX_JSON_DEPTH): Parsed {
  if (exceedsJsonDepth(text, maxDepth)) {
    return {
      ok: false,
      error: errorResponse(null, ErrorCode.ParseError, `JSON nested deeper than ${maxDepth}`),
    };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, error: errorResponse(null, ErrorCode.ParseError, 'Parse error: invalid JSON') };
  }
}

function isId(id: unknown): id is RequestId {
  return (
    (typeof id === 'string' && id.length <= 1024) || (typeof id === 'number' && Number.isSafeInteger(id))
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks one decoded value against the JSON-RPC 2.0 shapes MCP allows.
 * Returns the message, or the error response to send (null id when the id is unreadable).
 */
export function validateMessage(
  value: unknown,
): { ok: true; message: JsonRpcMessage } | { ok: false; error: JsonRpcErrorResponse } {
  if (!isPlainObject(value)) {
    return {
      ok: false,
      error: errorResponse(null, ErrorCode.InvalidRequest, 'Invalid Request: not an object'),
    };
  }
  const id = value.id;
  const idForError = isId(id) ? id : null;
  if (value.jsonrpc !== '2.0') {
    return {
      ok: false,
      error: errorResponse(idForError, ErrorCode.InvalidRequest, 'Invalid Request: jsonrpc must be "2.0"'),
    };
  }
  if ('method' in value) {
    if (typeof value.method !== 'string' || value.method.length === 0) {
      return {
        ok: false,
        error: errorResponse(
          idForError,
          ErrorCode.InvalidRequest,
          'Invalid Request: method must be a string',
        ),
      };
    }
    if (value.params !== undefined && !isPlainObject(value.params)) {
      return {
        ok: false,
        error: errorResponse(
          idForError,
          ErrorCode.InvalidRequest,
          'Invalid Request: params must be an object',
        ),
      };
    }
    if ('id' in value) {
      if (!isId(id)) {
        return {
          ok: false,
          error: errorResponse(
            null,
            ErrorCode.InvalidRequest,
            'Invalid Request: id must be a string or integer',
          ),
        };
      }
    }
    return { ok: true, message: value as unknown as JsonRpcMessage };
  }
  if ('result' in value || 'error' in value) {
    // JSON-RPC 2.0 section 5: exactly one of result and error; a result answers a request id,
    // an error carries that id or null (absent tolerated: null is what it means); codes are integers.
    if ('result' in value && 'error' in value) {
      return {
        ok: false,
        error: errorResponse(
          idForError,
          ErrorCode.InvalidRequest,
          'Invalid Request: response has both result and error',
        ),
      };
    }
    if ('result' in value) {
      if (!isPlainObject(value.result)) {
        return {
          ok: false,
          error: errorResponse(
            idForError,
            ErrorCode.InvalidRequest,
            'Invalid Request: result must be an object',
          ),
        };
      }
      if (!isId(id)) {
        return {
          ok: false,
          error: errorResponse(
            null,
            ErrorCode.InvalidRequest,
            'Invalid Request: result response id must be a string or integer',
          ),
        };
      }
      return { ok: true, message: value as unknown as JsonRpcMessage };
    }
    const e = value.error;
    if (!isPlainObject(e) || !Number.isInteger(e.code) || typeof e.message !== 'string') {
      return {
        ok: false,
        error: errorResponse(idForError, ErrorCode.InvalidRequest, 'Invalid Request: malformed error object'),
      };
    }
    if (id !== undefined && id !== null && !isId(id)) {
      return {
        ok: false,
        error: errorResponse(
          null,
          ErrorCode.InvalidRequest,
          'Invalid Request: error response id must be a string, integer or null',
        ),
      };
    }
    return { ok: true, message: value as unknown as JsonRpcMessage };
  }
  return {
    ok: false,
    error: errorResponse(idForError, ErrorCode.InvalidRequest, 'Invalid Request: no method, result or error'),
  };
}

export function errorResponse(
  id: RequestId | null,
  code: number,
  message: string,
  data?: unknown,
): JsonRpcErrorResponse {
  const error: JsonRpcErrorObject = data === undefined ? { code, message } : { code, message, data };
  return { jsonrpc: '2.0', id, error };
}

export function errorResponseFrom(id: RequestId | null, err: McpError): JsonRpcErrorResponse {
  return { jsonrpc: '2.0', id, error: err.toJSON() };
}

export function resultResponse(id: RequestId, result: Record<string, unknown>): JsonRpcResultResponse {
  return { jsonrpc: '2.0', id, result };
}
