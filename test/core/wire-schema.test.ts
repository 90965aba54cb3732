import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { createEverythingServer } from '../../examples/everything/server.js';
import { McpClient } from '../../src/client/client.js';
import type { JsonRpcMessage } from '../../src/protocol/jsonrpc.js';
import { MemoryTransport } from '../../src/transport/memory.js';

/**
 * Everything mcpkit puts on the wire, in each of the five protocol versions, validated against
 * that version's official JSON schema (vendored in test/fixtures/spec-schema/).
 */
const SPEC = new URL('../fixtures/spec-schema/', import.meta.url);

const RESULT_FOR: Record<string, string> = {
  initialize: 'InitializeResult',
  ping: 'EmptyResult',
  'server/discover': 'DiscoverResult',
  'tools/list': 'ListToolsResult',
  'tools/call': 'CallToolResult',
  'resources/list': 'ListResourcesResult',
  'resources/templates/list': 'ListResourceTemplatesResult',
  'resources/read': 'ReadResourceResult',
  'prompts/list': 'ListPromptsResult',
  'prompts/get': 'GetPromptResult',
  'completion/complete': 'CompleteResult',
  'logging/setLevel': 'EmptyResult',
  'resources/subscribe': 'EmptyResult',
};

function validatorFor(version: string) {
  const schema = JSON.parse(readFileSync(new URL(`${version}/schema.json`, SPEC), 'utf8')) as Record<
    string,
    unknown
  >;
  const modern = version >= '2025-11-25';
  const ajv = modern
    ? new Ajv2020({ strict: false, allErrors: true })
    : new Ajv({ strict: false, allErrors: true });
  ajv.addSchema(schema, 'mcp');
  const defs = modern ? '$defs' : 'definitions';
  return (def: string, value: unknown) => {
    const validate = ajv.getSchema(`mcp#/${defs}/${def}`);
    if (!validate) throw new Error(`${version} has no ${def}`);
    return validate(value) ? null : JSON.stringify(validate.errors?.slice(0, 3));
  };
}

async function record(version: string) {
  const server = createEverythingServer();
  const [clientT, serverT] = MemoryTransport.pair();
  const sent: JsonRpcMessage[] = [];
  const originalSend = serverT.send.bind(serverT);
  serverT.send = async (message) => {
    sent.push(message);
    return originalSend(message);
  };
  await server.connect(serverT, { kind: 'memory' });
  const modern = version === '2026-07-28';
  const client = new McpClient(
    { name: 'schema-test', version: '1.0.0' },
    {
      protocol: modern ? 'modern' : 'legacy',
      legacyVersion: version,
      logLevel: 'debug',
      handlers: {
        elicitation: async () => ({
          action: 'accept',
          content: { name: 'Ada', username: 'ada', email: 'a@b.c' },
        }),
        sampling: async () => ({
          role: 'assistant',
          content: { type: 'text', text: 'Paris' },
          model: 'm',
          stopReason: 'endTurn',
        }),
        roots: async () => ({ roots: [{ uri: 'file:///tmp', name: 'tmp' }] }),
      },
    },
  );
  const methods = new Map<string | number, string>();
  const originalClientSend = clientT.send.bind(clientT);
  clientT.send = async (message) => {
    if ('method' in message && 'id' in message) methods.set(message.id, message.method);
    return originalClientSend(message);
  };
  await client.connect(clientT);
  await client.ping().catch(() => {});
  await client.listAll('tools/list', 'tools');
  for (const tool of [
    'test_simple_text',
    'test_image_content',
    'test_embedded_resource',
    'test_multiple_content_types',
    'test_error_handling',
    'test_tool_with_progress',
  ]) {
    await client.callTool(tool, {}, { onprogress: () => {} });
  }
  if (version >= '2025-06-18') await client.callTool('test_input_required_result_elicitation');
  // Elicitation does not exist before 2025-06-18: the server refuses rather than send an unknown request.
  else await expect(client.callTool('test_input_required_result_elicitation')).rejects.toThrow(/2025-06-18/);
  if (version >= '2025-03-26') await client.callTool('test_audio_content');
  await client.callTool('test_sampling', { prompt: 'capital?' });
  if (version >= '2025-06-18') await client.callTool('test_elicitation', { message: 'who?' });
  await client.callTool('test_tool_with_logging');
  await client.listResources();
  await client.listResourceTemplates();
  await client.readResource('test://static-text');
  await client.readResource('test://static-binary');
  await client.readResource('test://template/7/data');
  await client.listPrompts();
  await client.getPrompt('test_prompt_with_arguments', { arg1: 'a', arg2: 'b' });
  await client.getPrompt('test_prompt_with_image');
  await client.complete(
    { type: 'ref/prompt', name: 'test_prompt_with_arguments' },
    { name: 'arg1', value: 't' },
  );
  if (!modern) {
    await client.setLogLevel('info');
    await client.subscribeResource('test://watched-resource');
  }
  await client.close();
  return { sent, methods };
}

describe.each(['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25', '2026-07-28'])(
  'wire messages match the %s JSON schema',
  (version) => {
    it('every result, notification and server request validates', async () => {
      const check = validatorFor(version);
      const { sent, methods } = await record(version);
      const problems: string[] = [];
      let checked = 0;
      for (const message of sent) {
        if ('result' in message) {
          const method = methods.get(message.id);
          const def =
            message.result.resultType === 'input_required'
              ? 'InputRequiredResult'
              : method
                ? RESULT_FOR[method]
                : undefined;
          if (!def) continue;
          const error = check(def, message.result);
          if (error) problems.push(`${method}: ${error} ${JSON.stringify(message.result).slice(0, 300)}`);
          checked++;
        } else if ('method' in message && !('id' in message)) {
          const error = check('ServerNotification', message);
          if (error) problems.push(`${message.method}: ${error}`);
          checked++;
        } else if ('method' in message) {
          const error = check('ServerRequest', message);
          if (error) problems.push(`${message.method}: ${error}`);
          checked++;
        }
      }
      expect(problems).toEqual([]);
      expect(checked).toBeGreaterThan(20);
    });
  },
);
