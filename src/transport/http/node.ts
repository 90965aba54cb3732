import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError } from '../../protocol/errors.js';
import type { McpServer } from '../../server/server.js';
import type { AuthInfo } from '../types.js';
import { StreamableHttpHandler, type StreamableHttpOptions } from './handler.js';
import { NodeIO } from './io.js';

export interface NodeHandlerOptions extends StreamableHttpOptions {
  /** Endpoint path, default `/mcp`. */
  path?: string;
}

export type NodeListener = ((
  req: IncomingMessage & { auth?: AuthInfo; body?: unknown },
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => void) & { readonly handler: StreamableHttpHandler; readonly path: string };

/** The path of a request URL, without the query. */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * A `node:http` request listener (also usable as express/connect middleware) serving MCP at
 * `path`. Other paths go to `next()` when given, else 404.
 */
export function createNodeListener(server: McpServer, options: NodeHandlerOptions = {}): NodeListener {
  const path = options.path ?? '/mcp';
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new InvalidOptionError('path', 'must start with "/"');
  const handler = new StreamableHttpHandler(server, options);
  const listener = (
    req: IncomingMessage & { auth?: AuthInfo; body?: unknown },
    res: ServerResponse,
    next?: (err?: unknown) => void,
  ) => {
    if (pathOf(req.url) !== path) {
      if (next) return next();
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    void handler.handle(new NodeIO(req, res));
  };
  return Object.assign(listener, { handler, path });
}
