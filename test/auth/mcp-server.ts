import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEverythingServer } from '../../examples/everything/server.js';
import type { BearerAuthenticator } from '../../src/auth/bearer.js';
import { protectedResourceMetadataHandler } from '../../src/auth/metadata.js';
import type { McpServer } from '../../src/server/server.js';
import { createNodeListener } from '../../src/transport/http/node.js';

export interface McpUnderTest {
  /** The MCP endpoint, also the resource's canonical URI (`audience`). */
  resource: string;
  origin: string;
  server: McpServer;
  auth: BearerAuthenticator;
  call(method: string, params: Record<string, unknown>, token?: string): Promise<RpcAnswer>;
  close(): Promise<void>;
}

export interface RpcAnswer {
  status: number;
  headers: Headers;
  body: { result?: Record<string, unknown>; error?: { code: number; message: string; data?: unknown } };
}

/**
 * The everything example served over real HTTP with `authenticate: bearerAuth(...)` and RFC 9728
 * metadata, plus tools that show the principal (`whoami`) and declare scopes (`write_note`, `admin_only`).
 */
export async function startMcpServer(
  makeAuth: (resource: string) => BearerAuthenticator,
  metadata?: { authorizationServers: string[]; scopesSupported?: string[] },
): Promise<McpUnderTest> {
  const http: Server = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const resource = `${origin}/mcp`;
  const auth = makeAuth(resource);
  const server = createEverythingServer();
  server.tool('whoami', { description: 'Returns the authenticated principal' }, (_args, ctx) => ({
    structuredContent: {
      subject: ctx.auth?.subject ?? null,
      clientId: ctx.auth?.clientId ?? null,
      scopes: ctx.auth?.scopes ?? null,
      expiresAt: ctx.auth?.expiresAt ?? null,
    },
  }));
  server.tool('write_note', { description: 'Needs mcp:write', scopes: ['mcp:write'] }, () => 'written');
  server.tool('admin_only', { description: 'Needs mcp:admin', scopes: ['mcp:admin'] }, () => 'admin');
  const listener = createNodeListener(server, { authenticate: auth, errorChallenge: auth.errorChallenge });
  const prm = metadata ? protectedResourceMetadataHandler({ resource, ...metadata }) : undefined;
  http.on('request', (req, res) => {
    if (prm?.(req, res)) return;
    listener(req, res);
  });
  let id = 0;
  return {
    resource,
    origin,
    server,
    auth,
    async call(method, params, token) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': method,
      };
      if (typeof params.name === 'string') headers['mcp-name'] = params.name;
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      const body = {
        jsonrpc: '2.0',
        id: ++id,
        method,
        params: {
          ...params,
          _meta: {
            'io.modelcontextprotocol/protocolVersion': '2026-07-28',
            'io.modelcontextprotocol/clientInfo': { name: 'auth-test', version: '1' },
            'io.modelcontextprotocol/clientCapabilities': {},
          },
        },
      };
      const response = await fetch(resource, { method: 'POST', headers, body: JSON.stringify(body) });
      return {
        status: response.status,
        headers: response.headers,
        body: (await response.json()) as RpcAnswer['body'],
      };
    },
    async close() {
      await listener.handler.close();
      await server.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

/** Pulls `key="value"` parameters out of a Bearer challenge. */
export function challengeParams(header: string | null): Record<string, string> {
  if (header === null) throw new Error('no WWW-Authenticate header');
  if (!header.startsWith('Bearer')) throw new Error(`not a Bearer challenge: ${header}`);
  const out: Record<string, string> = {};
  for (const m of header.matchAll(/([a-z_]+)="([^"]*)"/g)) out[m[1] as string] = m[2] as string;
  return out;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
