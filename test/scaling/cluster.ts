// In-process replicas sharing one Redis: each has its own McpServer, RedisScaling (its own
// connection set, as a separate process would) and HTTP listener on a loopback port.
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEverythingServer } from '../../examples/everything/server.js';
import { RedisScaling } from '../../src/redis/index.js';
import type { McpServer } from '../../src/server/server.js';
import { type NodeHandlerOptions, createNodeListener } from '../../src/transport/http/node.js';
import { SseParser } from '../../src/transport/http/sse-parser.js';

export const SECRET = 'scaling-test-request-state-secret-0123456789';

export interface Replica {
  readonly name: string;
  readonly url: string;
  readonly server: McpServer;
  readonly scaling: RedisScaling;
  readonly listener: ReturnType<typeof createNodeListener>;
  readonly http: Server;
  close(): Promise<void>;
}

/** The everything server plus a tool that raises resources/updated on the replica that runs it. */
export function scalingServer(): McpServer {
  const server = createEverythingServer({ requestStateSecret: SECRET });
  server.tool(
    'touch_resource',
    {
      description: 'Announces that a resource changed',
      inputSchema: { type: 'object', properties: { uri: { type: 'string' } }, required: ['uri'] },
    },
    (args) => {
      server.resourceUpdated(String(args.uri));
      return 'touched';
    },
  );
  return server;
}

export async function startReplica(
  name: string,
  redisUrl: string,
  options: NodeHandlerOptions = {},
): Promise<Replica> {
  const server = scalingServer();
  const scaling = new RedisScaling({ url: redisUrl, replicaId: name, timeoutMs: 500 });
  scaling.install(server);
  await scaling.bus.ready;
  const listener = createNodeListener(server, { keepAliveMs: 0, sseRetryMs: 50, ...options });
  const http = createServer(listener);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    name,
    url: `http://127.0.0.1:${port}/mcp`,
    server,
    scaling,
    listener,
    http,
    async close() {
      await listener.handler.close();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await server.close();
      await scaling.close();
    },
  };
}

export const LEGACY_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

export interface Posted {
  status: number;
  headers: Headers;
  /** The JSON body, or every SSE event's parsed data. */
  messages: Array<Record<string, unknown>>;
}

/** POSTs one JSON-RPC message and reads the whole answer (JSON or SSE). */
export async function rpc(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Posted> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { ...LEGACY_HEADERS, ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  const messages: Array<Record<string, unknown>> = [];
  if ((response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    new SseParser((event) => {
      if (event.data !== '') messages.push(JSON.parse(event.data) as Record<string, unknown>);
    }).push(text);
  } else if (text.length > 0) {
    messages.push(JSON.parse(text) as Record<string, unknown>);
  }
  return { status: response.status, headers: response.headers, messages };
}

/** Starts a legacy session on `url` (initialize + initialized); returns its id. */
export async function initialize(
  url: string,
  capabilities: Record<string, unknown> = {},
  version = '2025-11-25',
): Promise<string> {
  const init = await rpc(url, {
    jsonrpc: '2.0',
    id: 'init',
    method: 'initialize',
    params: {
      protocolVersion: version,
      capabilities,
      clientInfo: { name: 'scaling-test', version: '1.0.0' },
    },
  });
  if (init.status !== 200)
    throw new Error(`initialize answered ${init.status}: ${JSON.stringify(init.messages)}`);
  const sid = init.headers.get('mcp-session-id');
  if (!sid) throw new Error('initialize gave no session id');
  const done = await rpc(
    url,
    { jsonrpc: '2.0', method: 'notifications/initialized' },
    sessionHeaders(sid, version),
  );
  if (done.status !== 202) throw new Error(`initialized answered ${done.status}`);
  return sid;
}

export const sessionHeaders = (sid: string, version = '2025-11-25') => ({
  'mcp-session-id': sid,
  'mcp-protocol-version': version,
});

export interface SseEventLine {
  id: string | undefined;
  data: Record<string, unknown> | undefined;
}

export interface SseReader {
  readonly status: number;
  readonly events: SseEventLine[];
  /** Events with data (priming events left out). */
  messages(): Array<Record<string, unknown>>;
  lastEventId(): string | undefined;
  waitFor(
    predicate: (messages: Array<Record<string, unknown>>) => boolean,
    timeoutMs?: number,
  ): Promise<void>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

/** Opens a GET (or any) SSE stream and collects its events in the background. */
export async function openSse(
  url: string,
  headers: Record<string, string>,
  init: RequestInit = {},
): Promise<SseReader> {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: 'GET',
    ...init,
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  const events: SseEventLine[] = [];
  const parser = new SseParser((event) =>
    events.push({
      id: event.id,
      data: event.data === '' ? undefined : (JSON.parse(event.data) as Record<string, unknown>),
    }),
  );
  const ended = (async () => {
    if (!response.body || !(response.headers.get('content-type') ?? '').includes('text/event-stream')) {
      await response.body?.cancel().catch(() => {});
      return;
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        parser.push(value);
      }
    } catch {
      // Aborted by close(), or the connection died: the caller looks at what arrived.
    }
  })();
  const messages = () => events.flatMap((e) => (e.data ? [e.data] : []));
  return {
    status: response.status,
    events,
    messages,
    lastEventId: () => events.filter((e) => e.id !== undefined).at(-1)?.id,
    async waitFor(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(messages())) {
        if (Date.now() > deadline)
          throw new Error(`SSE condition not met in ${timeoutMs} ms; got ${JSON.stringify(messages())}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    ended,
    close: () => controller.abort(),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` holds (bounded). */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}
