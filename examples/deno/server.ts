/**
 * The everything server on Deno. From the package root (so `zod` resolves from node_modules):
 *
 *   deno run --allow-net --allow-env --sloppy-imports --node-modules-dir=manual examples/deno/server.ts
 *
 * `--sloppy-imports` maps the sources' `.js` specifiers to their `.ts` files; `--node-modules-dir=manual`
 * uses the npm-installed node_modules instead of Deno's own cache.
 * Env: MCP_SERVER_PORT (default 8080; 0 picks a free port), MCP_SERVER_HOST (default 127.0.0.1).
 * Prints one JSON line with the bound address on stdout once listening.
 */
import { createFetchHandler } from '../../src/transport/http/fetch.js';
import { createEverythingServer } from '../everything/server.js';

/** The slice of Deno's API used here (the project type-checks without Deno's types). */
declare const Deno: {
  env: { get(name: string): string | undefined };
  addSignalListener(signal: 'SIGINT' | 'SIGTERM', handler: () => void): void;
  exit(code: number): never;
  serve(
    options: {
      port: number;
      hostname: string;
      signal?: AbortSignal;
      onListen?(address: { hostname: string; port: number }): void;
    },
    handler: (request: Request, info: { remoteAddr: { hostname: string } }) => Promise<Response>,
  ): { finished: Promise<void> };
};

const rawPort = Deno.env.get('MCP_SERVER_PORT');
const port = Number(rawPort ?? 8080);
const hostname = Deno.env.get('MCP_SERVER_HOST') ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535)
  throw new Error(`MCP_SERVER_PORT must be a port number, got ${rawPort}`);

const mcp = createEverythingServer();
const handler = createFetchHandler(mcp);
const stop = new AbortController();
const server = Deno.serve(
  {
    port,
    hostname,
    signal: stop.signal,
    onListen(address) {
      console.log(
        JSON.stringify({
          runtime: 'deno',
          listening: `http://${address.hostname}:${address.port}/mcp`,
          port: address.port,
        }),
      );
    },
  },
  (request, info) => handler(request, { remoteAddress: info.remoteAddr.hostname }),
);

const shutdown = async () => {
  await handler.handler.close();
  await mcp.close();
  stop.abort();
  await server.finished;
  Deno.exit(0);
};
Deno.addSignalListener('SIGINT', shutdown);
Deno.addSignalListener('SIGTERM', shutdown);
