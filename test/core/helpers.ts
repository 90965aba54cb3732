import { McpClient, type McpClientOptions } from '../../src/client/client.js';
import type { McpServer } from '../../src/server/server.js';
import { MemoryTransport } from '../../src/transport/memory.js';

export async function connectPair(server: McpServer, clientOptions: McpClientOptions = {}) {
  const [clientTransport, serverTransport] = MemoryTransport.pair();
  const connection = await server.connect(serverTransport, { kind: 'memory' });
  const client = new McpClient({ name: 'test-client', version: '1.0.0' }, clientOptions);
  await client.connect(clientTransport);
  return { client, connection, clientTransport, serverTransport };
}

/** Sends raw JSON values through a memory transport and collects everything the server writes back. */
export async function rawPair(server: McpServer) {
  const [clientTransport, serverTransport] = MemoryTransport.pair();
  await server.connect(serverTransport, { kind: 'memory' });
  const received: unknown[] = [];
  clientTransport.onmessage = (value) => received.push(value);
  await clientTransport.start();
  return {
    received,
    send: (value: unknown) => clientTransport.send(value as never),
    async next(
      predicate: (m: Record<string, unknown>) => boolean = () => true,
      timeoutMs = 2000,
    ): Promise<Record<string, unknown>> {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const i = received.findIndex((m) => predicate(m as Record<string, unknown>));
        if (i >= 0) return received.splice(i, 1)[0] as Record<string, unknown>;
        await new Promise((r) => setTimeout(r, 5));
      }
      throw new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(received)}`);
    },
  };
}

export const modernMeta = (caps: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
  'io.modelcontextprotocol/clientCapabilities': caps,
});
