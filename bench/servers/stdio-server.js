// One stdio server under test: newline-delimited JSON-RPC on stdin/stdout.
// Usage: node bench/servers/stdio-server.js --kind echo|mcpkit|sdk2|sdk1
import { TOOL_DESCRIPTION, TOOL_NAME, addSchema, argValue, importMcpkit } from './common.js';

const KINDS = ['echo', 'mcpkit', 'sdk2', 'sdk1'];
const kind = argValue('--kind', 'echo');
if (!KINDS.includes(kind)) {
  process.stderr.write(`unknown --kind ${kind}; one of ${KINDS.join(', ')}\n`);
  process.exit(2);
}

// The floor: split lines, parse each, answer a fixed tools/call-shaped result with the request id
// (requests only; an initialize gets the same fixed answer, notifications none).
function echo() {
  let pending = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    pending += chunk;
    let out = '';
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      const line = pending.slice(start, nl);
      start = nl + 1;
      if (line.length === 0) continue;
      const message = JSON.parse(line);
      if (message.id === undefined) continue;
      out += `${JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { content: [{ type: 'text', text: '3' }] } })}\n`;
    }
    pending = pending.slice(start);
    if (out) process.stdout.write(out);
  });
}

async function mcpkit() {
  const { McpServer } = await importMcpkit('server/server.js');
  const { StdioServerTransport } = await importMcpkit('transport/stdio/server.js');
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.tool(TOOL_NAME, { description: TOOL_DESCRIPTION, inputSchema: addSchema() }, ({ a, b }) =>
    String(a + b),
  );
  await server.connect(new StdioServerTransport());
}

// Official SDK v2, as its stdio docs do it: serveStdio(factory) picks the era from the opening message.
async function sdk2() {
  const { McpServer } = await import('@modelcontextprotocol/server');
  const { serveStdio } = await import('@modelcontextprotocol/server/stdio');
  serveStdio(() => {
    const server = new McpServer({ name: 'bench', version: '1.0.0' });
    server.registerTool(
      TOOL_NAME,
      { description: TOOL_DESCRIPTION, inputSchema: addSchema() },
      async ({ a, b }) => ({
        content: [{ type: 'text', text: String(a + b) }],
      }),
    );
    return server;
  });
}

async function sdk1() {
  const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
  const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
  const server = new McpServer({ name: 'bench', version: '1.0.0' });
  server.registerTool(
    TOOL_NAME,
    { description: TOOL_DESCRIPTION, inputSchema: addSchema().shape },
    async ({ a, b }) => ({
      content: [{ type: 'text', text: String(a + b) }],
    }),
  );
  await server.connect(new StdioServerTransport());
}

await { echo, mcpkit, sdk2, sdk1 }[kind]();
