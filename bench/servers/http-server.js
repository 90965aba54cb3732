// One HTTP server under test, in its own process (the harness pins it to a core with taskset).
// Usage: node bench/servers/http-server.js --kind <kind> [--max-sessions N]
// Prints {"port":N,"pid":P} on stdout once listening. Debug route (all kinds, same cost):
//   GET /__bench/mem  -> {count, nowUs, memory}  (count = requests served; nowUs = monotonic clock in µs,
//   the time base of --cpu-prof profiles; memory after GC when run with --expose-gc)
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { TOOL_DESCRIPTION, TOOL_NAME, addSchema, argValue, importMcpkit, memorySnapshot } from './common.js';

const KINDS = [
  'bare',
  'mcpkit',
  'sdk2-modern',
  'sdk2-legacy-session',
  'sdk2-legacy-stateless',
  'sdk1-stateless',
];
const kind = argValue('--kind', 'bare');
if (!KINDS.includes(kind)) {
  process.stderr.write(`unknown --kind ${kind}; one of ${KINDS.join(', ')}\n`);
  process.exit(2);
}

let count = 0;
const DEBUG_PATH = '/__bench/mem';

function debugRoute(req, res) {
  const nowUs = Number(process.hrtime.bigint() / 1000n);
  const body = JSON.stringify({ count, nowUs, memory: memorySnapshot() });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
}

/** Wraps the server's listener with the request counter and the debug route. */
function withDebug(listener) {
  return (req, res) => {
    if (req.url === DEBUG_PATH) return debugRoute(req, res);
    count++;
    return listener(req, res);
  };
}

async function bare() {
  // The floor: read the body, parse it, answer a fixed tools/call-shaped result with the request id.
  return (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let id = null;
      try {
        id =
          JSON.parse(
            chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'),
          ).id ?? null;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
        return;
      }
      const body = JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: '3' }] } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  };
}

async function mcpkit() {
  const { McpServer } = await importMcpkit('server/server.js');
  const { createNodeListener } = await importMcpkit('transport/http/node.js');
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.tool(TOOL_NAME, { description: TOOL_DESCRIPTION, inputSchema: addSchema() }, ({ a, b }) =>
    String(a + b),
  );
  const options = { path: '/mcp' };
  const max = argValue('--max-sessions');
  if (max !== undefined) options.maxSessions = Number(max);
  return createNodeListener(server, options);
}

async function sdk2Server() {
  const { McpServer } = await import('@modelcontextprotocol/server');
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.registerTool(
    TOOL_NAME,
    { description: TOOL_DESCRIPTION, inputSchema: addSchema() },
    async ({ a, b }) => ({
      content: [{ type: 'text', text: String(a + b) }],
    }),
  );
  return server;
}

// Official SDK v2, following its README: createMcpHandler(factory) (a fresh server per request),
// wrapped once with toNodeHandler, Host/Origin guards in front as the node adapter's README does.
async function sdk2Modern() {
  const { createMcpHandler } = await import('@modelcontextprotocol/server');
  const { toNodeHandler, localhostHostValidation, localhostOriginValidation } = await import(
    '@modelcontextprotocol/node'
  );
  const handler = toNodeHandler(createMcpHandler(() => sdk2Server()));
  const validateHost = localhostHostValidation();
  const validateOrigin = localhostOriginValidation();
  return (req, res) => {
    if (!validateHost(req, res) || !validateOrigin(req, res)) return;
    void handler(req, res);
  };
}

// The same createMcpHandler endpoint serving 2025-era traffic through its stateless legacy fallback.
const sdk2LegacyStateless = sdk2Modern;

// Official SDK v2, sessionful legacy wiring: one server + NodeStreamableHTTPServerTransport per
// session, looked up by Mcp-Session-Id; JSON responses (enableJsonResponse) to match mcpkit's rows.
async function sdk2LegacySession() {
  const { NodeStreamableHTTPServerTransport, localhostHostValidation, localhostOriginValidation } =
    await import('@modelcontextprotocol/node');
  const validateHost = localhostHostValidation();
  const validateOrigin = localhostOriginValidation();
  const transports = new Map();
  return async (req, res) => {
    if (!validateHost(req, res) || !validateOrigin(req, res)) return;
    const sid = req.headers['mcp-session-id'];
    let transport = typeof sid === 'string' ? transports.get(sid) : undefined;
    if (!transport) {
      if (sid !== undefined) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}');
        return;
      }
      transport = new NodeStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: true,
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      const server = await sdk2Server();
      await server.connect(transport);
    }
    await transport.handleRequest(req, res);
  };
}

// Official SDK v1 stateless, following its README: new server + transport per request.
async function sdk1Stateless() {
  const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
  const { StreamableHTTPServerTransport } = await import(
    '@modelcontextprotocol/sdk/server/streamableHttp.js'
  );
  return async (req, res) => {
    const server = new McpServer({ name: 'bench', version: '1.0.0' });
    server.registerTool(
      TOOL_NAME,
      { description: TOOL_DESCRIPTION, inputSchema: addSchema().shape },
      async ({ a, b }) => ({
        content: [{ type: 'text', text: String(a + b) }],
      }),
    );
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  };
}

const factories = {
  bare,
  mcpkit,
  'sdk2-modern': sdk2Modern,
  'sdk2-legacy-session': sdk2LegacySession,
  'sdk2-legacy-stateless': sdk2LegacyStateless,
  'sdk1-stateless': sdk1Stateless,
};

const listener = await factories[kind]();
const http = createServer(withDebug(listener));
http.keepAliveTimeout = 60_000;
http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: http.address().port, pid: process.pid })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
