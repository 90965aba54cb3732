import type { JsonRpcMessage } from '../protocol/jsonrpc.js';
import type { MessageInfo, Transport } from './types.js';

/**
 * Two linked in-process transports. Messages are copied through JSON so neither side can
 * mutate what the other holds, and delivered on a later microtask so ordering and
 * re-entrancy match a real wire.
 */
export class MemoryTransport implements Transport {
  onmessage: Transport['onmessage'];
  onparseerror: Transport['onparseerror'];
  onerror: Transport['onerror'];
  onclose: Transport['onclose'];
  private other: MemoryTransport | undefined;
  private closed = false;
  private readonly backlog: unknown[] = [];
  private started = false;

  constructor(private readonly info?: MessageInfo) {}

  static pair(
    options: { serverInfo?: MessageInfo } = {},
  ): [client: MemoryTransport, server: MemoryTransport] {
    const client = new MemoryTransport();
    const server = new MemoryTransport(options.serverInfo);
    client.other = server;
    server.other = client;
    return [client, server];
  }

  async start(): Promise<void> {
    this.started = true;
    for (const value of this.backlog.splice(0)) this.onmessage?.(value, this.info);
  }

  async send(message: JsonRpcMessage): Promise<void> {
    if (this.closed || !this.other) throw new Error('MemoryTransport is closed');
    const copy = JSON.parse(JSON.stringify(message)) as unknown;
    const target = this.other;
    queueMicrotask(() => target.deliver(copy));
  }

  private deliver(value: unknown): void {
    if (this.closed) return;
    if (!this.started) this.backlog.push(value);
    else this.onmessage?.(value, this.info);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const other = this.other;
    this.onclose?.();
    if (other && !other.closed) queueMicrotask(() => void other.close());
  }
}
