/**
 * Runs inside Bun or Deno (spawned by core.test.ts): loads every runtime-neutral entry point,
 * runs a server and client over the in-memory transport in both eras, and, when MCP_WS_URL is
 * set, connects to a Node-hosted WebSocket endpoint with the runtime's own global WebSocket;
 * then serves attachWebSocket on the runtime's node:http compatibility layer and dials it.
 * Prints one JSON line with the outcome; never throws past main().
 */
import type { ClientHandlers, McpClient as McpClientType } from '../../src/client/client.js';

declare const Bun: { env: Record<string, string | undefined> } | undefined;
declare const Deno: { env: { get(name: string): string | undefined } } | undefined;

const env = (name: string): string | undefined =>
  typeof Deno !== 'undefined' ? Deno.env.get(name) : typeof Bun !== 'undefined' ? Bun.env[name] : undefined;
const runtime = typeof Deno !== 'undefined' ? 'deno' : typeof Bun !== 'undefined' ? 'bun' : 'other';

/** The subpath entries that must run without Node-only APIs, plus the modules the brief names. */
const ENTRIES: Array<[string, () => Promise<Record<string, unknown>>]> = [
  ['src/index.ts', () => import('../../src/index.js')],
  ['src/protocol/index.ts', () => import('../../src/protocol/index.js')],
  ['src/server/index.ts', () => import('../../src/server/index.js')],
  ['src/client/index.ts', () => import('../../src/client/index.js')],
  ['src/transport/memory.ts', () => import('../../src/transport/memory.js')],
  ['src/transport/http/fetch.ts', () => import('../../src/transport/http/fetch.js')],
  ['src/transport/http/client.ts', () => import('../../src/transport/http/client.js')],
  ['src/transport/websocket/client.ts', () => import('../../src/transport/websocket/client.js')],
];

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

async function loadEntries(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, load] of ENTRIES) {
    try {
      out[name] = `ok (${Object.keys(await load()).length} exports)`;
    } catch (err) {
      out[name] = describe(err);
    }
  }
  return out;
}

async function exercise(client: McpClientType): Promise<Record<string, unknown>> {
  const text = await client.callTool('echo', { said: runtime });
  const elicited = await client.callTool('ask');
  const who = await client.callTool('whoami');
  return {
    era: client.era,
    echo: (text.content[0] as { text?: string }).text,
    ask: (elicited.content[0] as { text?: string }).text,
    whoami: (who.content[0] as { text?: string }).text,
  };
}

async function main(): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = {
    runtime,
    globalWebSocket: typeof (globalThis as { WebSocket?: unknown }).WebSocket,
  };
  result.imports = await loadEntries();
  const { McpServer } = await import('../../src/server/server.js');
  const { McpClient } = await import('../../src/client/client.js');
  const { MemoryTransport } = await import('../../src/transport/memory.js');
  const handlers: ClientHandlers = {
    elicitation: () => ({ action: 'accept' as const, content: { name: runtime } }),
  };

  const server = new McpServer({ name: `probe-${runtime}`, version: '1.0.0' });
  server.tool('echo', { description: 'echo' }, (args) => JSON.stringify(args));
  server.tool('whoami', { description: 'auth subject' }, (_args, ctx) => ctx.auth?.subject ?? 'anonymous');
  server.tool('ask', { description: 'elicits' }, async (_args, ctx) => {
    const answer = await ctx.elicit({
      message: 'Name?',
      requestedSchema: { type: 'object', properties: { name: { type: 'string' } } },
    } as never);
    return `hello ${(answer.content as { name?: string } | undefined)?.name}`;
  });
  const memory: Record<string, unknown> = {};
  for (const protocol of ['modern', 'legacy'] as const) {
    try {
      const [clientSide, serverSide] = MemoryTransport.pair({
        serverInfo: { auth: { subject: 'memory-user', scopes: [] } },
      });
      await server.connect(serverSide, { kind: 'memory' });
      const client = new McpClient({ name: 'probe', version: '1' }, { protocol, handlers });
      await client.connect(clientSide);
      memory[protocol] = await exercise(client);
      await client.close();
    } catch (err) {
      memory[protocol] = describe(err);
    }
  }
  result.memory = memory;

  const wsUrl = env('MCP_WS_URL');
  if (wsUrl) {
    const { WebSocketClientTransport } = await import('../../src/transport/websocket/client.js');
    const websocket: Record<string, unknown> = {};
    for (const protocol of ['modern', 'legacy'] as const) {
      try {
        const transport = new WebSocketClientTransport(wsUrl, {
          headers: { authorization: `Bearer ${env('MCP_WS_TOKEN')}` },
        });
        const client = new McpClient({ name: 'probe', version: '1' }, { protocol, handlers });
        await client.connect(transport);
        websocket[protocol] = { ...(await exercise(client)), subprotocol: transport.protocol };
        await client.close();
      } catch (err) {
        websocket[protocol] = describe(err);
      }
    }
    result.websocket = websocket;
  }
  result.attach = await selfHostedWebSocket(server, McpClient, handlers);
  return result;
}

/** `attachWebSocket` on the runtime's node:http compatibility layer, dialled with its own WebSocket. */
async function selfHostedWebSocket(
  server: import('../../src/server/server.js').McpServer,
  McpClient: typeof McpClientType,
  handlers: ClientHandlers,
): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  try {
    const { createServer } = await import('node:http');
    const { attachWebSocket, WebSocketClientTransport } = await import(
      '../../src/transport/websocket/index.js'
    );
    const http = createServer();
    const attachment = attachWebSocket(http, server, {
      authenticate: () => ({ subject: `${runtime}-self`, scopes: [] }),
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
    const port = (http.address() as { port: number }).port;
    for (const protocol of ['modern', 'legacy'] as const) {
      try {
        const client = new McpClient({ name: 'probe', version: '1' }, { protocol, handlers });
        await client.connect(new WebSocketClientTransport(`ws://127.0.0.1:${port}/mcp`));
        out[protocol] = await exercise(client);
        await client.close();
      } catch (err) {
        out[protocol] = describe(err);
      }
    }
    await attachment.close();
    http.close();
  } catch (err) {
    out.fatal = describe(err);
  }
  return out;
}

main().then(
  (result) => console.log(JSON.stringify(result)),
  (err) => console.log(JSON.stringify({ runtime, fatal: describe(err) })),
);
