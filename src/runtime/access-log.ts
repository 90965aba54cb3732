import { randomBytes } from 'node:crypto';
import { McpError } from '../protocol/errors.js';
import type { Middleware } from '../server/middleware.js';
import type { Logger } from '../util/logger.js';

const PREFIX = randomBytes(4).toString('hex');
let counter = 0;

/** Process-unique, sortable request ids without a syscall per request. */
export function nextRequestId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${PREFIX}-${counter.toString(36)}`;
}

export interface AccessLogOptions {
  logger: Logger;
  /** Tool calls (who called what, with which outcome) also go here, e.g. a separate file. */
  audit?: Logger | undefined;
}

/**
 * One structured line per request: request_id, method, target, client_id, session_id,
 * duration_ms and outcome. The request id is taken from `x-request-id` when a proxy set one.
 */
export function accessLog(options: AccessLogOptions): Middleware {
  const { logger, audit } = options;
  return async (ctx, next) => {
    const started = performance.now();
    const header = ctx.headers?.['x-request-id'];
    const requestId = typeof header === 'string' && header.length <= 128 ? header : nextRequestId();
    ctx.state.set('mcpkit.requestId', requestId);
    let outcome = 'ok';
    let code: number | undefined;
    try {
      const result = await next();
      if (result.isError === true) outcome = 'tool_error';
      else if (result.resultType === 'input_required') outcome = 'input_required';
      else if (result.resultType === 'task') outcome = 'task';
      return result;
    } catch (err) {
      outcome = 'error';
      code = err instanceof McpError ? err.code : -32603;
      throw err;
    } finally {
      const clientId =
        ctx.auth?.clientId ??
        ctx.auth?.subject ??
        (ctx.clientInfo ? `${ctx.clientInfo.name}/${ctx.clientInfo.version}` : undefined);
      const line: Record<string, unknown> = {
        request_id: requestId,
        method: ctx.method,
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
        outcome,
        era: ctx.era,
        transport: ctx.transport,
      };
      if (ctx.target !== undefined) line.target = ctx.target;
      if (clientId !== undefined) line.client_id = clientId;
      if (ctx.sessionId !== undefined) line.session_id = ctx.sessionId;
      if (code !== undefined) line.error_code = code;
      if (ctx.remoteAddress !== undefined) line.remote_address = ctx.remoteAddress;
      logger.info(line, 'request');
      if (audit && ctx.method === 'tools/call') {
        const entry: Record<string, unknown> = {
          event: 'tool_call',
          request_id: requestId,
          tool: ctx.target,
          outcome,
        };
        if (ctx.auth?.subject !== undefined) entry.subject = ctx.auth.subject;
        if (clientId !== undefined) entry.client_id = clientId;
        if (ctx.remoteAddress !== undefined) entry.remote_address = ctx.remoteAddress;
        audit.info(entry, 'audit');
      }
    }
  };
}
