#!/usr/bin/env node
import { createServer } from 'node:http';
import { StdioServerTransport } from '../../src/transport/stdio/server.js';
import { createNodeListener } from '../../src/transport/http/node.js';
import { createEverythingServer } from './server.js';

const server = createEverythingServer();
if (process.argv.includes('--stdio')) {
  await server.connect(new StdioServerTransport());
} else {
  const listener = createNodeListener(server);
  const http = createServer(listener);
  const port = Number(process.env.MCP_SERVER_PORT ?? 8080);
  const host = process.env.MCP_SERVER_HOST ?? '127.0.0.1';
  http.listen(port, host, () => {
    const address = http.address();
    process.stderr.write(`listening ${JSON.stringify(address)}\n`);
  });
}
