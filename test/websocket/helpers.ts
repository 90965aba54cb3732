import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { McpClient, type McpClientOptions } from '../../src/client/client.js';
import type { McpServer } from '../../src/server/server.js';
import { createNodeListener } from '../../src/transport/http/node.js';
import {
  type WebSocketAttachOptions,
  type WebSocketAttachment,
  WebSocketClientTransport,
  type WebSocketClientTransportOptions,
  attachWebSocket,
} from '../../src/transport/websocket/index.js';

export interface Harness {
  http: Server;
  attachment: WebSocketAttachment;
  port: number;
  wsUrl: string;
  httpUrl: string;
  close(): Promise<void>;
}

/** Streamable HTTP and WebSocket on one port and path, as a deployment would run them. */
export async function startServer(
  mcp: McpServer,
  options: WebSocketAttachOptions = {},
  port = 0,
): Promise<Harness> {
  const http = createServer(createNodeListener(mcp));
  const attachment = attachWebSocket(http, mcp, options);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (http.address() as AddressInfo).port;
  return {
    http,
    attachment,
    port: bound,
    wsUrl: `ws://127.0.0.1:${bound}${options.path ?? '/mcp'}`,
    httpUrl: `http://127.0.0.1:${bound}${options.path ?? '/mcp'}`,
    async close() {
      await attachment.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

export async function connectClient(
  url: string,
  clientOptions: McpClientOptions = {},
  transportOptions: WebSocketClientTransportOptions = {},
) {
  const transport = new WebSocketClientTransport(url, transportOptions);
  const client = new McpClient({ name: 'ws-test', version: '1.0.0' }, clientOptions);
  await client.connect(transport);
  return { client, transport };
}

/** A raw `ws` socket that records every text frame it receives, parsed. */
export async function rawSocket(
  url: string,
  options: WebSocket.ClientOptions & { protocols?: string[] } = {},
) {
  const { protocols = ['mcp'], ...rest } = options;
  const ws = new WebSocket(url, protocols, rest);
  const received: Record<string, unknown>[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  ws.on('message', (data) => received.push(JSON.parse(data.toString()) as Record<string, unknown>));
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return {
    ws,
    received,
    closed,
    send: (value: unknown) => ws.send(typeof value === 'string' ? value : JSON.stringify(value)),
    async next(predicate: (m: Record<string, unknown>) => boolean = () => true, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const i = received.findIndex(predicate);
        if (i >= 0) return received.splice(i, 1)[0] as Record<string, unknown>;
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(
        `no matching message within ${timeoutMs} ms; got ${JSON.stringify(received).slice(0, 500)}`,
      );
    },
  };
}

/** The HTTP answer to a refused upgrade: status, headers and body. */
export function refusedUpgrade(
  url: string,
  options: WebSocket.ClientOptions & { protocols?: string[] } = {},
) {
  const { protocols = ['mcp'], ...rest } = options;
  return new Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
  }>((resolve, reject) => {
    const ws = new WebSocket(url, protocols, rest);
    ws.on('error', () => {});
    ws.once('open', () => {
      ws.close();
      reject(new Error('upgrade unexpectedly accepted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
  });
}

export const modernMeta = (caps: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': caps,
});

export const waitFor = async (check: () => boolean, timeoutMs = 3000, what = 'condition') => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};
