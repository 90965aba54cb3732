import type { CallContext, Result } from '../../src/server/middleware.js';
import type { Logger } from '../../src/util/logger.js';

export interface LogLine {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  obj: object;
  msg: string | undefined;
}

/** A pino-shaped logger that keeps what it is given. */
export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at =
    (level: LogLine['level']) =>
    (obj: object, msg?: string): void => {
      lines.push({ level, obj, msg });
    };
  const logger: Logger & { lines: LogLine[] } = {
    lines,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

let nextId = 1;

/** A CallContext as the server builds one, with overridable fields. */
export function callContext(over: Partial<CallContext> = {}): CallContext {
  const method = over.method ?? 'tools/call';
  return {
    requestId: nextId++,
    method,
    params: {},
    target: undefined,
    era: 'legacy',
    protocolVersion: '2025-11-25',
    clientInfo: { name: 'test-client', version: '1.0.0' },
    auth: undefined,
    remoteAddress: undefined,
    sessionId: undefined,
    transport: 'memory',
    headers: undefined,
    signal: new AbortController().signal,
    logger: recordingLogger(),
    state: new Map(),
    ...over,
  };
}

export const handlerResult: Result = { content: [{ type: 'text', text: 'ok' }] };
export const okNext = async (): Promise<Result> => handlerResult;
