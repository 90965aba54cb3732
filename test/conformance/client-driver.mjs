#!/usr/bin/env node
// Client driver for the official conformance suite's client scenarios (non-auth).
// The suite runs: <this command> <serverUrl>; the scenario is in MCP_CONFORMANCE_SCENARIO.
import { McpClient } from '../../dist/src/client/client.js';
import { StreamableHttpClientTransport } from '../../dist/src/transport/http/client.js';

const url = process.argv[process.argv.length - 1];
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}');
const version = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION;

/** Fills an elicitation form with each property's default (SEP-1034), else a type-appropriate value. */
function fillForm(schema) {
  const content = {};
  for (const [name, prop] of Object.entries(schema?.properties ?? {})) {
    if (prop.default !== undefined) content[name] = prop.default;
    else if (prop.enum) content[name] = prop.enum[0];
    else if (prop.type === 'boolean') content[name] = true;
    else if (prop.type === 'number' || prop.type === 'integer') content[name] = 1;
    else content[name] = 'test';
  }
  return content;
}

/** Arguments for a tool from its schema: required properties get simple values. */
function argsFor(tool) {
  const schema = tool.inputSchema ?? {};
  const args = {};
  for (const name of schema.required ?? []) {
    const prop = schema.properties?.[name] ?? {};
    args[name] =
      prop.type === 'number' || prop.type === 'integer' ? 1 : prop.type === 'boolean' ? false : 'test';
  }
  return args;
}

const client = new McpClient(
  { name: 'mcpkit-conformance-client', version: '0.1.0' },
  {
    // 0.1.16 sets no version and only has pre-2026 scenarios; 0.2 says which era each scenario speaks.
    protocol: version === '2026-07-28' ? 'modern' : 'legacy',
    handlers: {
      elicitation: async (params) => ({ action: 'accept', content: fillForm(params.requestedSchema) }),
      sampling: async () => ({
        role: 'assistant',
        content: { type: 'text', text: 'ok' },
        model: 'mcpkit-test',
        stopReason: 'endTurn',
      }),
      roots: async () => ({ roots: [{ uri: 'file:///tmp', name: 'tmp' }] }),
    },
  },
);

await client.connect(new StreamableHttpClientTransport(url));
try {
  switch (scenario) {
    case 'initialize':
      break;
    case 'tools_call':
      await client.listTools();
      await client.callTool('add_numbers', { a: 5, b: 3 });
      break;
    case 'elicitation-sep1034-client-defaults':
      await client.listTools();
      await client.callTool('test_client_elicitation_defaults', {});
      break;
    case 'sse-retry':
      await client.listTools();
      await client.callTool('test_reconnection', {});
      break;
    case 'http-custom-headers': {
      await client.listTools();
      for (const call of context.toolCalls ?? []) await client.callTool(call.name, call.arguments);
      break;
    }
    case 'http-standard-headers': {
      const tools = (await client.listTools()).tools ?? [];
      if (tools[0]) await client.callTool(tools[0].name, argsFor(tools[0]));
      const resources = (await client.listResources().catch(() => ({ resources: [] }))).resources ?? [];
      for (const r of resources) await client.readResource(r.uri).catch(() => {});
      const prompts = (await client.listPrompts().catch(() => ({ prompts: [] }))).prompts ?? [];
      if (prompts[0]) await client.getPrompt(prompts[0].name, {}).catch(() => {});
      break;
    }
    case 'json-schema-2020-12-preservation': {
      const tools = (await client.listTools()).tools ?? [];
      const source = tools.find((t) => t.name === 'json_schema_2020_12_tool');
      await client.callTool('json_schema_echo', { schema: source?.inputSchema ?? {} });
      break;
    }
    default: {
      // Generic: list the tools and call each (request-metadata, sep-2322, invalid headers, ref-no-deref...).
      const tools = (await client.listTools()).tools ?? [];
      for (const tool of tools) await client.callTool(tool.name, argsFor(tool)).catch(() => {});
    }
  }
} finally {
  await client.close();
}
