/**
 * The everything server on Bun: `bun run examples/bun/server.ts`.
 * Bun runs the TypeScript sources directly and resolves their `.js` specifiers to `.ts`.
 * Env: MCP_SERVER_PORT (default 8080; 0 picks a free port), MCP_SERVER_HOST (default 127.0.0.1).
 * Prints one JSON line with the bound address on stdout once listening.
 */
import { createFetchHandler } from '../../src/transport/http/fetch.js';
import { createEverythingServer } from '../everything/server.js';

/** The slice of Bun's API used here (the project type-checks without bun-types). */
declare const Bun: {
  env: Record<string, string | undefined>;
  serve(options: {
    port: number;
    hostname: string;
    idleTimeout?: number;
    fetch(
      request: Request,
      server: { requestIP(request: Request): { address: string } | null },
    ): Promise<Response>;
  }): { port: number; hostname: string; stop(closeActiveConnections?: boolean): Promise<void> };
};

const port = Number(Bun.env.MCP_SERVER_PORT ?? 8080);
const hostname = Bun.env.MCP_SERVER_HOST ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535)
  throw new Error(`MCP_SERVER_PORT must be a port number, got ${Bun.env.MCP_SERVER_PORT}`);

const mcp = createEverythingServer();
const handler = createFetchHandler(mcp);
const server = Bun.serve({
  port,
  hostname,
  // Seconds; above the SSE keep-alive interval (15 s) so idle event streams are not cut.
  idleTimeout: 60,
  fetch(request, bun) {
    const ip = bun.requestIP(request)?.address;
    return handler(request, ip === undefined ? {} : { remoteAddress: ip });
  },
});
console.log(
  JSON.stringify({
    runtime: 'bun',
    listening: `http://${server.hostname}:${server.port}/mcp`,
    port: server.port,
  }),
);

const shutdown = async () => {
  await handler.handler.close();
  await mcp.close();
  await server.stop(true);
  process.exit(0);
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
