import { InvalidOptionError } from '../../protocol/errors.js';
import type { McpServer } from '../../server/server.js';
import type { AuthInfo } from '../types.js';
import { StreamableHttpHandler, type StreamableHttpOptions } from './handler.js';
import type { HttpIO, Headers as PlainHeaders, StreamSink } from './io.js';

export interface FetchHandlerOptions extends StreamableHttpOptions {
  /** Endpoint path, default `/mcp`; other paths answer 404. */
  path?: string;
}

export interface FetchContext {
  auth?: AuthInfo;
  remoteAddress?: string;
}

const encoder = new TextEncoder();

/** Web-standard adapter: a `Request` in, a `Response` out (Bun.serve, Deno.serve, workers). */
class FetchIO implements HttpIO {
  responded = false;
  auth: AuthInfo | undefined;
  readonly remoteAddress: string | undefined;
  readonly localAddress = undefined;
  readonly headers: Record<string, string>;
  private resolve!: (response: Response) => void;
  readonly response = new Promise<Response>((r) => {
    this.resolve = r;
  });

  constructor(
    private readonly request: Request,
    context: FetchContext,
  ) {
    this.auth = context.auth;
    this.remoteAddress = context.remoteAddress;
    const headers: Record<string, string> = {};
    request.headers.forEach((value, key) => {
      headers[key] = value;
    });
    this.headers = headers;
  }

  get method(): string {
    return this.request.method;
  }
  header(name: string): string | undefined {
    return this.request.headers.get(name) ?? undefined;
  }
  get signal(): AbortSignal {
    return this.request.signal;
  }

  async readBody(limit: number): Promise<string | null> {
    const declared = Number(this.request.headers.get('content-length'));
    if (declared > limit) return null;
    const body = this.request.body;
    if (!body) return '';
    const reader = body.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel();
        return null;
      }
      chunks.push(value);
    }
    const all = new Uint8Array(size);
    let offset = 0;
    for (const chunk of chunks) {
      all.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return new TextDecoder().decode(all);
  }

  respond(status: number, headers: PlainHeaders, body?: string): void {
    if (this.responded) return;
    this.responded = true;
    this.resolve(new Response(status === 202 || status === 204 ? null : (body ?? null), { status, headers }));
  }

  startStream(status: number, headers: PlainHeaders): StreamSink {
    this.responded = true;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let closed = false;
    const closeListeners: Array<() => void> = [];
    const drainListeners: Array<() => void> = [];
    const markClosed = () => {
      if (closed) return;
      closed = true;
      for (const fn of closeListeners.splice(0)) fn();
    };
    const stream = new ReadableStream<Uint8Array>(
      {
        start(c) {
          controller = c;
        },
        pull() {
          for (const fn of drainListeners.splice(0)) fn();
        },
        cancel() {
          markClosed();
        },
      },
      { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
    );
    this.request.signal.addEventListener('abort', markClosed, { once: true });
    this.resolve(new Response(stream, { status, headers }));
    return {
      write(chunk) {
        if (closed) return false;
        controller.enqueue(encoder.encode(chunk));
        return (controller.desiredSize ?? 1) > 0;
      },
      end() {
        if (closed) return;
        try {
          controller.close();
        } catch {
          // Already closed by the consumer.
        }
        markClosed();
      },
      onDrain(fn) {
        drainListeners.push(fn);
      },
      onClose(fn) {
        if (closed) fn();
        else closeListeners.push(fn);
      },
      get closed() {
        return closed;
      },
    };
  }
}

export type FetchHandler = ((request: Request, context?: FetchContext) => Promise<Response>) & {
  readonly handler: StreamableHttpHandler;
};

/** MCP over Streamable HTTP as a fetch handler: `Bun.serve({ fetch: createFetchHandler(server) })`. */
export function createFetchHandler(server: McpServer, options: FetchHandlerOptions = {}): FetchHandler {
  const path = options.path ?? '/mcp';
  if (typeof path !== 'string' || !path.startsWith('/'))
    throw new InvalidOptionError('path', 'must start with "/"');
  // Fetch runtimes do not expose the local address, so the loopback Host default cannot apply; say so explicitly.
  const handler = new StreamableHttpHandler(server, { allowedHosts: 'any', ...options });
  const fetchHandler = async (request: Request, context: FetchContext = {}): Promise<Response> => {
    if (new URL(request.url).pathname !== path) {
      return new Response('{"error":"not found"}', {
        status: 404,
        headers: { 'content-type': 'application/json' },
      });
    }
    const io = new FetchIO(request, context);
    void handler.handle(io);
    return io.response;
  };
  return Object.assign(fetchHandler, { handler });
}
