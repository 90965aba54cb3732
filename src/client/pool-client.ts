import { InvalidOptionError } from '../protocol/errors.js';
import type { Implementation } from '../protocol/types.js';
import { type StreamableHttpClientOptions, StreamableHttpClientTransport } from '../transport/http/client.js';
import type { Transport } from '../transport/types.js';
import { McpClient, type McpClientOptions } from './client.js';
import { ConnectionPool, type ConnectionPoolOptions } from './pool.js';

export interface ClientPoolOptions extends Omit<ConnectionPoolOptions<McpClient>, 'factory'> {
  /** Streamable HTTP endpoint; or give `transport` for any other transport (stdio child, WebSocket). */
  url?: string | URL;
  /** Builds a fresh transport per pooled connection. */
  transport?: () => Transport;
  httpOptions?: StreamableHttpClientOptions;
  clientInfo?: Implementation;
  clientOptions?: McpClientOptions;
}

/**
 * A pool of connected McpClients (the guide's ConnectionPool): each pooled connection is one
 * client with its own transport (an HTTP session in the legacy era, a child process on stdio).
 */
export function createClientPool(options: ClientPoolOptions): ConnectionPool<McpClient> {
  const { url, transport, httpOptions, clientInfo, clientOptions, ...poolOptions } = options;
  if ((url === undefined) === (transport === undefined))
    throw new InvalidOptionError('url', 'give exactly one of `url` or `transport`');
  if (transport !== undefined && typeof transport !== 'function')
    throw new InvalidOptionError('transport', 'must be a function returning a Transport');
  const makeTransport =
    transport ?? (() => new StreamableHttpClientTransport(url as string | URL, httpOptions));
  const info = clientInfo ?? { name: 'mcpkit-pool', version: '0.1.0' };
  return new ConnectionPool<McpClient>({
    ...poolOptions,
    factory: async (signal) => {
      const client = new McpClient(info, clientOptions);
      try {
        await client.connect(makeTransport(), { signal });
      } catch (err) {
        await client.close().catch(() => {});
        throw err;
      }
      return client;
    },
  });
}
