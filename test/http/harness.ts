import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEverythingServer } from '../../examples/everything/server.js';
import { McpClient, type McpClientOptions } from '../../src/client/client.js';
import type { McpServer } from '../../src/server/server.js';
import { StreamableHttpClientTransport } from '../../src/transport/http/client.js';
import { type NodeHandlerOptions, createNodeListener } from '../../src/transport/http/node.js';

export interface Harness {
  url: string;
  port: number;
  server: McpServer;
  http: Server;
  listener: ReturnType<typeof createNodeListener>;
  close(): Promise<void>;
}

export async function startHttp(
  options: NodeHandlerOptions = {},
  server: McpServer = createEverythingServer(),
): Promise<Harness> {
  const listener = createNodeListener(server, options);
  const http = createServer(listener);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    server,
    http,
    listener,
    async close() {
      await listener.handler.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await server.close();
    },
  };
}

export async function httpClient(url: string, options: McpClientOptions = {}) {
  const client = new McpClient({ name: 'http-test', version: '1.0.0' }, options);
  const transport = new StreamableHttpClientTransport(url);
  await client.connect(transport);
  return { client, transport };
}

export const modernHeaders = (method: string, name?: string): Record<string, string> => {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
  };
  if (name !== undefined) h['mcp-name'] = name;
  return h;
};

export const meta = (caps: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': caps,
});

export async function post(url: string, body: unknown, headers: Record<string, string>) {
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}
