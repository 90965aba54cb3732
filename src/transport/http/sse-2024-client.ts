import { InvalidOptionError } from '../../protocol/errors.js';
import { DEFAULT_MAX_JSON_DEPTH, type JsonRpcMessage, parseJson } from '../../protocol/jsonrpc.js';
import type { Transport } from '../types.js';
import { SseParser } from './sse-parser.js';

/** Client for 2024-11-05 HTTP+SSE servers: reads the event stream, POSTs to the announced endpoint. */
export class LegacySseClientTransport implements Transport {
  onmessage: Transport['onmessage'];
  onparseerror: Transport['onparseerror'];
  onerror: Transport['onerror'];
  onclose: Transport['onclose'];
  private endpoint: URL | undefined;
  private readonly controller = new AbortController();
  private closed = false;
  private readonly url: URL;

  constructor(
    url: string | URL,
    private readonly options: {
      headers?: Record<string, string>;
      fetch?: typeof fetch;
      connectTimeoutMs?: number;
    } = {},
  ) {
    try {
      this.url = new URL(url);
    } catch {
      throw new InvalidOptionError('url', `"${String(url)}" is not a valid URL`);
    }
  }

  async start(): Promise<void> {
    const fetchImpl = this.options.fetch ?? fetch;
    const response = await fetchImpl(this.url, {
      headers: { accept: 'text/event-stream', ...this.options.headers },
      signal: this.controller.signal,
    });
    if (!response.ok || !response.body) throw new Error(`SSE connection failed: HTTP ${response.status}`);
    let resolveEndpoint!: () => void;
    const endpointReady = new Promise<void>((resolve) => {
      resolveEndpoint = resolve;
    });
    const parser = new SseParser((event) => {
      if (event.event === 'endpoint') {
        const endpoint = new URL(event.data, this.url);
        // The endpoint must stay on the server's origin, or a hostile server could redirect our POSTs.
        if (endpoint.origin !== this.url.origin) {
          this.onerror?.(new Error(`endpoint ${endpoint.href} is not on ${this.url.origin}`));
          void this.close();
          return;
        }
        this.endpoint = endpoint;
        resolveEndpoint();
        return;
      }
      if (event.event !== 'message') return;
      const parsed = parseJson(event.data, DEFAULT_MAX_JSON_DEPTH);
      if (parsed.ok) this.onmessage?.(parsed.value);
      else this.onparseerror?.(parsed.error);
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.push(value);
        }
      } catch {
        // Aborted on close.
      }
      await this.close();
    })();
    const timeout = this.options.connectTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      endpointReady,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no endpoint event within ${timeout} ms`)), timeout);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  async send(message: JsonRpcMessage): Promise<void> {
    if (this.closed || !this.endpoint) throw new Error('SSE transport is not connected');
    const fetchImpl = this.options.fetch ?? fetch;
    const response = await fetchImpl(this.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.options.headers },
      body: JSON.stringify(message),
      signal: this.controller.signal,
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`POST ${this.endpoint.pathname} failed: HTTP ${response.status}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.controller.abort();
    this.onclose?.();
  }
}
