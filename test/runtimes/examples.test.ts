import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpClient } from '../../src/client/client.js';
import { StreamableHttpClientTransport } from '../../src/transport/http/client.js';
import { RUNTIMES, type Spawned, firstJsonLine, skipMessage, spawnScript, stop } from './runtimes.js';

const META = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'node-raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

const post = (url: string, body: unknown, headers: Record<string, string>) =>
  fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });

/** Reads a JSON answer, or the first JSON-RPC message of an SSE answer. */
async function answer(response: Response): Promise<Record<string, any>> {
  const text = await response.text();
  if (!(response.headers.get('content-type') ?? '').includes('text/event-stream')) return JSON.parse(text);
  const data = text
    .split('\n')
    .filter((l) => l.startsWith('data:') && l.length > 5)
    .map((l) => JSON.parse(l.slice(5)) as Record<string, any>);
  const result = data.find((m) => 'result' in m || 'error' in m);
  if (!result) throw new Error(`no JSON-RPC answer in stream: ${text}`);
  return result;
}

for (const runtime of RUNTIMES) {
  if (!runtime.present) console.warn(skipMessage(runtime));

  describe.skipIf(!runtime.present)(`examples/${runtime.name}/server.ts under ${runtime.name}`, () => {
    let server: Spawned;
    let url: string;

    beforeAll(async () => {
      server = spawnScript(runtime, `examples/${runtime.name}/server.ts`, { MCP_SERVER_PORT: '0' });
      const banner = await firstJsonLine(server, 15_000);
      expect(banner).toMatchObject({ runtime: runtime.name, port: expect.any(Number) });
      url = `http://127.0.0.1:${banner.port}/mcp`;
    }, 20_000);
    afterAll(async () => {
      if (server) await stop(server.child);
    });

    it('answers raw 2026-07-28 and legacy requests over fetch', async () => {
      const modern = await post(
        url,
        {
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'test_simple_text', arguments: {}, _meta: META },
        },
        { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'test_simple_text' },
      );
      expect(modern.status).toBe(200);
      expect(await answer(modern)).toMatchObject({
        id: 1,
        result: {
          resultType: 'complete',
          content: [{ type: 'text', text: 'This is a simple text response for testing.' }],
        },
      });

      const init = await post(
        url,
        {
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: {
            protocolVersion: '2025-11-25',
            capabilities: {},
            clientInfo: { name: 'raw', version: '1' },
          },
        },
        {},
      );
      expect(init.status).toBe(200);
      const sessionId = init.headers.get('mcp-session-id');
      expect(sessionId).toMatch(/^[\x21-\x7e]{16,}$/);
      expect(await answer(init)).toMatchObject({
        result: { protocolVersion: '2025-11-25', serverInfo: { name: 'mcpkit-everything' } },
      });
      const session = { 'mcp-session-id': sessionId!, 'mcp-protocol-version': '2025-11-25' };
      const initialized = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session);
      expect(initialized.status).toBe(202);
      const call = await post(
        url,
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'test_simple_text', arguments: {} } },
        session,
      );
      expect(call.status).toBe(200);
      const legacy = await answer(call);
      expect(legacy.result.content[0].text).toBe('This is a simple text response for testing.');
      expect(legacy.result.resultType).toBeUndefined();
    });

    it.each(['modern', 'legacy'] as const)(
      'serves the Node McpClient over Streamable HTTP (%s), elicitation included',
      async (protocol) => {
        let asked = 0;
        const client = new McpClient(
          { name: `node-${protocol}`, version: '1.0.0' },
          {
            protocol,
            handlers: {
              elicitation: () => {
                asked++;
                return {
                  action: 'accept',
                  content: { username: runtime.name, email: `${runtime.name}@example.com` },
                };
              },
            },
          },
        );
        await client.connect(new StreamableHttpClientTransport(url, { standaloneStream: false }));
        try {
          expect(client.era).toBe(protocol);
          expect(client.serverInfo?.name).toBe('mcpkit-everything');
          const text = await client.callTool('test_simple_text');
          expect(text.content[0]).toMatchObject({ text: 'This is a simple text response for testing.' });
          // Legacy: the elicitation request streams out over SSE mid-call; modern: input_required and a retry.
          const elicited = await client.callTool('test_elicitation', {
            message: `hello from ${runtime.name}`,
          });
          expect(asked).toBe(1);
          expect(elicited.content[0]).toMatchObject({
            text: `User response: action=accept, content={"username":"${runtime.name}","email":"${runtime.name}@example.com"}`,
          });
          const progress: number[] = [];
          await client.callTool(
            'test_tool_with_progress',
            {},
            { onprogress: (p) => progress.push(p.progress) },
          );
          expect(progress).toEqual([0, 50, 100]);
        } finally {
          await client.close();
        }
      },
    );

    it('shuts down cleanly on SIGTERM', async () => {
      expect(await stop(server.child)).toBe(0);
    });
  });
}
