import type { ClientCapabilities, Implementation, LoggingLevel } from './types.js';

/** Reserved `_meta` keys of the 2026-07-28 revision. */
export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
  progressToken: 'progressToken',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  relatedTask: 'io.modelcontextprotocol/related-task',
} as const;

export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

/** RFC 9110 token: what an `x-mcp-header` annotation must be (it becomes `Mcp-Param-<token>`). */
export const HEADER_TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export interface RequestMeta {
  protocolVersion?: unknown;
  clientInfo?: Implementation;
  clientCapabilities?: ClientCapabilities;
  logLevel?: LoggingLevel;
  progressToken?: string | number;
}

export function getMeta(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const meta = params?._meta;
  return typeof meta === 'object' && meta !== null && !Array.isArray(meta)
    ? (meta as Record<string, unknown>)
    : undefined;
}

export function readRequestMeta(params: Record<string, unknown> | undefined): RequestMeta {
  const meta = getMeta(params);
  if (!meta) return {};
  const out: RequestMeta = {};
  if (META.protocolVersion in meta) out.protocolVersion = meta[META.protocolVersion];
  const info = meta[META.clientInfo];
  if (typeof info === 'object' && info !== null) out.clientInfo = info as Implementation;
  const caps = meta[META.clientCapabilities];
  if (typeof caps === 'object' && caps !== null && !Array.isArray(caps))
    out.clientCapabilities = caps as ClientCapabilities;
  const level = meta[META.logLevel];
  if (typeof level === 'string') out.logLevel = level as LoggingLevel;
  const token = meta[META.progressToken];
  if (typeof token === 'string' || typeof token === 'number') out.progressToken = token;
  return out;
}
