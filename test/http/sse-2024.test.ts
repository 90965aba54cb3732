import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEverythingServer } from '../../examples/everything/server.js';
import { McpClient } from '../../src/client/client.js';
import { LegacySseClientTransport } from '../../src/transport/http/sse-2024-client.js';
import { createLegacySseListener } from '../../src/transport/http/sse-2024.js';

let http: Server;
let base: string;
let listener: ReturnType<typeof createLegacySseListener>;
beforeAll(async () => {
  listener = createLegacySseListener(createEverythingServer(), { keepAliveMs: 0 });
  http = createServer(listener);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await listener.close();
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
});

describe('2024-11-05 HTTP+SSE transport', () => {
  it('serves an old client: initialize, tools, server-to-client sampling', async () => {
    const client = new McpClient(
      { name: 'old', version: '1' },
      {
        protocol: 'legacy',
        legacyVersion: '2024-11-05',
        handlers: {
          sampling: async () => ({ role: 'assistant', content: { type: 'text', text: 'hi' }, model: 'm' }),
        },
      },
    );
    await client.connect(new LegacySseClientTransport(`${base}/sse`));
    expect(client.protocolVersion).toBe('2024-11-05');
    expect(listener.connections).toBe(1);
    expect((await client.callTool('test_simple_text')).content[0]).toMatchObject({ type: 'text' });
    expect((await client.callTool('test_sampling', { prompt: 'p' })).content[0]).toMatchObject({
      text: 'LLM response: hi',
    });
    await client.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(listener.connections).toBe(0);
  });

  it('rejects unknown sessions and malformed bodies', async () => {
    const unknown = await fetch(`${base}/messages?sessionId=nope`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(unknown.status).toBe(404);
    expect((await fetch(`${base}/elsewhere`)).status).toBe(404);
  });
});
