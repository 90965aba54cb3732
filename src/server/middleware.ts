import type { RequestId } from '../protocol/jsonrpc.js';
import type { Implementation } from '../protocol/types.js';
import type { AuthInfo } from '../transport/types.js';
import type { Logger } from '../util/logger.js';

export type Era = 'modern' | 'legacy';
export type TransportKind = 'http' | 'stdio' | 'memory' | 'websocket' | 'sse';

/**
 * What a middleware sees of one incoming request, in either protocol era and on any
 * transport. Built once per request on the hot path: plain fields, no getters.
 */
export interface CallContext {
  readonly requestId: RequestId;
  readonly method: string;
  readonly params: Record<string, unknown>;
  /** Tool or prompt name, resource URI (or completion ref) when the method has one. */
  readonly target: string | undefined;
  readonly era: Era;
  readonly protocolVersion: string;
  readonly clientInfo: Implementation | undefined;
  readonly auth: AuthInfo | undefined;
  readonly remoteAddress: string | undefined;
  readonly sessionId: string | undefined;
  readonly transport: TransportKind;
  readonly headers: Readonly<Record<string, string | string[] | undefined>> | undefined;
  readonly signal: AbortSignal;
  readonly logger: Logger;
  /** Per-request scratch space for middleware (span handles, timings, rate-limit info). */
  readonly state: Map<string | symbol, unknown>;
}

export type Result = Record<string, unknown>;

/** Koa/hono-style: call `next()` to run the rest of the chain and the handler; throw an McpError to answer with an error. */
export type Middleware = (ctx: CallContext, next: () => Promise<Result>) => Promise<Result>;

/** Composes middleware once, at registration time, so a request pays one closure call per layer. */
export function compose(
  middleware: readonly Middleware[],
  handler: (ctx: CallContext) => Promise<Result>,
): (ctx: CallContext) => Promise<Result> {
  let run = handler;
  for (let i = middleware.length - 1; i >= 0; i--) {
    const layer = middleware[i] as Middleware;
    const inner = run;
    run = (ctx) => layer(ctx, () => inner(ctx));
  }
  return run;
}
