import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { type Socket, connect } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENTRY = fileURLToPath(new URL('./server-entry.mjs', import.meta.url));
export const PROTOCOL = '2026-07-28';
export const LEGACY_PROTOCOL = '2025-11-25';
const MiB = 1024 * 1024;

/** The server child and the stdio tests run the build; say so plainly when it is missing. */
export function requireBuild(): void {
  for (const file of [
    'dist/examples/everything/server.js',
    'dist/examples/everything/main.js',
    'dist/src/runtime/serve.js',
  ]) {
    if (!existsSync(`${ROOT}${file}`))
      throw new Error(`${file} is missing: run \`npm run build\` first (npm test does it in pretest)`);
  }
}

export interface ServerStats {
  memory: NodeJS.MemoryUsage;
  maxRss: number;
  sessions: number;
  streams: number;
  liveRequests: number;
  busListeners: number;
  eventStreams: number;
  connections: number;
  counters: Record<
    | 'reapCalls'
    | 'reapScanned'
    | 'reaped'
    | 'hangStarted'
    | 'hangAborted'
    | 'rejectedAfterCancel'
    | 'streamAborted'
    | 'lateWrites'
    | 'floodSent',
    number
  >;
  pollution: { polluted: boolean; objectKeys: number; arrayKeys: number; functionKeys: number };
}

export interface HostileServer {
  readonly url: string;
  readonly port: number;
  /** A string the fault tools put in their error messages: it must never reach a client. */
  readonly secret: string;
  readonly child: ChildProcess;
  /** Memory after two forced GCs, plus handler state (sessions, open streams, connections). */
  stats(): Promise<ServerStats>;
  stderr(): string;
  /** The runtime's JSON log lines (stdout). */
  logs(): Record<string, unknown>[];
  alive(): boolean;
  close(): Promise<void>;
}

/**
 * Starts test/hostile/server-entry.mjs (serve() + the everything server + fault tools) in its own
 * process with --expose-gc, so its heap and RSS can be measured apart from the test's.
 */
export async function startServer(
  env: Record<string, string> = {},
  http: Record<string, unknown> = {},
): Promise<HostileServer> {
  requireBuild();
  const child = spawn(process.execPath, ['--expose-gc', ENTRY], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      MCP_SERVER_HOST: '127.0.0.1',
      MCP_SERVER_PORT: '0',
      MCP_LOG_LEVEL: 'warn',
      HOSTILE_HTTP: JSON.stringify(http),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stderr = '';
  let partial = '';
  const lines: Record<string, unknown>[] = [];
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  child.stdout?.on('data', (d: Buffer) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ unparsed: line });
      }
    }
  });
  const ready = await new Promise<{ url: string; port: number; secret: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start in 20 s; stderr:\n${stderr}`)),
      20_000,
    );
    child.on('message', (message: { type?: string; url: string; port: number; secret: string }) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      resolve(message);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });
  let nextId = 0;
  return {
    ...ready,
    child,
    stats() {
      const id = ++nextId;
      return new Promise<ServerStats>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.off('message', onMessage);
          reject(new Error('no stats from the server in 15 s'));
        }, 15_000);
        const onMessage = (message: { type?: string; id?: number; value: ServerStats }) => {
          if (message.type !== 'stats' || message.id !== id) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(message.value);
        };
        child.on('message', onMessage);
        child.send({ type: 'stats', id });
      });
    },
    stderr: () => stderr,
    logs: () => lines,
    alive: () => child.exitCode === null && child.signalCode === null,
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (child.connected) child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Lines on the server's stderr that mean a crash path or a leak warning (see server-entry.mjs). */
export function fatalLines(server: HostileServer): string[] {
  return server
    .stderr()
    .split('\n')
    .filter((line) =>
      /HOSTILE-(FATAL|WARNING)|unhandledRejection|uncaughtException|FATAL ERROR|heap out of memory/i.test(
        line,
      ),
    );
}

/**
 * The error line logged today whenever a 2026 subscriptions/listen client disconnects (the normal
 * end of a subscription): a finding pinned in streams.test.ts. Other suites tolerate it.
 */
export const LISTEN_DISCONNECT_LOGGED = /^request failed .*client disconnected/;

/** Runtime log lines at error level or above, other than those `expected` matches (msg + err JSON). */
export function unexpectedErrors(server: HostileServer, expected: RegExp = /^$/): Record<string, unknown>[] {
  return server.logs().filter((line) => {
    if ('unparsed' in line) return true;
    if (line.level !== 'error' && line.level !== 'fatal') return false;
    return !expected.test(`${String(line.msg)} ${JSON.stringify(line.err ?? '')}`);
  });
}

export const heapMiB = (s: ServerStats) => s.memory.heapUsed / MiB;
export const rssMiB = (s: ServerStats) => s.memory.rss / MiB;

// ------------------------------------------------------------------ JSON-RPC over HTTP

export const meta = (caps: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': PROTOCOL,
  'io.modelcontextprotocol/clientCapabilities': caps,
});

export function modernHeaders(method: string, name?: string): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL,
    'mcp-method': method,
  };
  if (name !== undefined) headers['mcp-name'] = name;
  return headers;
}

export const legacyHeaders = (sessionId?: string): Record<string, string> => {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  if (sessionId !== undefined) {
    headers['mcp-session-id'] = sessionId;
    headers['mcp-protocol-version'] = LEGACY_PROTOCOL;
  }
  return headers;
};

/** A 2026-07-28 tools/call body and its headers. */
export function modernCall(
  id: number | string,
  name: string,
  args: Record<string, unknown> = {},
  extraMeta: Record<string, unknown> = {},
) {
  return {
    body: {
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name, arguments: args, _meta: { ...meta(), ...extraMeta } },
    },
    headers: modernHeaders('tools/call', name),
  };
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request on a pooled keep-alive connection; the whole response body is read. */
export function send(
  port: number,
  body: unknown,
  headers: Record<string, string>,
  options: { method?: string; timeoutMs?: number; agent?: Agent | false } = {},
): Promise<Reply> {
  const payload =
    body === undefined
      ? undefined
      : typeof body === 'string' || Buffer.isBuffer(body)
        ? body
        : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mcp',
        method: options.method ?? 'POST',
        headers,
        agent: options.agent ?? agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 15_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Starts a legacy session (initialize + notifications/initialized) and returns its id. */
export async function openSession(port: number): Promise<string> {
  // Fresh connections (agent: false): a pooled keep-alive socket would linger in the server's connection count.
  const init = await send(
    port,
    {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: LEGACY_PROTOCOL,
        capabilities: {},
        clientInfo: { name: 'hostile', version: '1' },
      },
    },
    legacyHeaders(),
    { agent: false },
  );
  const sid = init.headers['mcp-session-id'];
  if (init.status !== 200 || typeof sid !== 'string')
    throw new Error(`initialize failed: ${init.status} ${init.text}`);
  const ack = await send(port, { jsonrpc: '2.0', method: 'notifications/initialized' }, legacyHeaders(sid), {
    agent: false,
  });
  if (ack.status !== 202) throw new Error(`notifications/initialized got ${ack.status}`);
  return sid;
}

/** The data of every SSE `message` event in a body. */
export function sseMessages(text: string): any[] {
  const out: unknown[] = [];
  for (const block of text.split('\n\n')) {
    const data = block
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => line.slice(6))
      .join('\n');
    if (data.trim().length > 0) out.push(JSON.parse(data));
  }
  return out;
}

/** A JSON-RPC 2.0 error response as the spec shapes it. */
export function isJsonRpcError(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as {
    jsonrpc?: unknown;
    id?: unknown;
    error?: { code?: unknown; message?: unknown };
    result?: unknown;
  };
  return (
    v.jsonrpc === '2.0' &&
    (v.id === null || typeof v.id === 'string' || (typeof v.id === 'number' && Number.isSafeInteger(v.id))) &&
    typeof v.error === 'object' &&
    v.error !== null &&
    Number.isInteger(v.error.code) &&
    typeof v.error.message === 'string' &&
    !('result' in v)
  );
}

/** A normal request the server must still answer after each attack. */
export async function stillServes(port: number): Promise<void> {
  const { body, headers } = modernCall('after', 'greet', { name: 'still here' });
  const reply = await send(port, body, headers, { agent: false });
  if (reply.status !== 200 || reply.json?.result?.content?.[0]?.text !== 'Hello, still here!') {
    throw new Error(`server no longer serves: ${reply.status} ${reply.text.slice(0, 300)}`);
  }
}

// ------------------------------------------------------------------ raw sockets

export interface RawConnection {
  readonly socket: Socket;
  /** Everything received so far, as latin1 text (byte-exact). */
  received(): string;
  /** Resolves when the server closed (end or reset), with the elapsed ms since connect. */
  readonly closed: Promise<number>;
  waitFor(predicate: (text: string) => boolean, timeoutMs?: number): Promise<string>;
}

/** A TCP connection for hand-written HTTP: dribbled headers, invalid bytes, clients that never read. */
export async function rawConnect(port: number): Promise<RawConnection> {
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const started = Date.now();
  let text = '';
  socket.on('data', (d: Buffer) => {
    text += d.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
  return {
    socket,
    received: () => text,
    closed,
    async waitFor(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(text)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting; received:\n${text.slice(0, 2000)}`);
        if (socket.destroyed && !predicate(text))
          throw new Error(`connection closed; received:\n${text.slice(0, 2000)}`);
        await sleep(10);
      }
      return text;
    },
  };
}

/** Serialises a request by hand (header values may hold any bytes). */
export function rawRequest(
  port: number,
  method: string,
  headers: Record<string, string | Buffer>,
  body: Buffer | string = '',
): Buffer {
  const bodyBytes = typeof body === 'string' ? Buffer.from(body) : body;
  const lines: Buffer[] = [Buffer.from(`${method} /mcp HTTP/1.1\r\n`)];
  if (!('host' in headers)) lines.push(Buffer.from(`host: 127.0.0.1:${port}\r\n`));
  for (const [name, value] of Object.entries(headers))
    lines.push(Buffer.concat([Buffer.from(`${name}: `), Buffer.from(value), Buffer.from('\r\n')]));
  if (method !== 'GET') lines.push(Buffer.from(`content-length: ${bodyBytes.length}\r\n`));
  lines.push(Buffer.from('\r\n'), bodyBytes);
  return Buffer.concat(lines);
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends `requests` pipelined on one connection (HTTP/1.1 answers them in order) and parses the
 * responses as they come: cheap enough on the client side that the server is what gets measured.
 * Responses must carry content-length (every JSON answer does).
 */
export async function pipelined(
  port: number,
  requests: Buffer[],
  timeoutMs = 60_000,
): Promise<RawResponse[]> {
  const c = await rawConnect(port);
  const out: RawResponse[] = [];
  let pending: Buffer = Buffer.alloc(0);
  return new Promise<RawResponse[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      c.socket.destroy();
      reject(new Error(`pipelined: ${out.length}/${requests.length} responses in ${timeoutMs} ms`));
    }, timeoutMs);
    c.socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) break;
        const lines = pending.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (pending.length < end + 4 + length) break;
        out.push({
          status: statusOf(lines[0] ?? '') ?? 0,
          headers,
          body: pending.subarray(end + 4, end + 4 + length).toString('utf8'),
        });
        pending = pending.subarray(end + 4 + length);
      }
      if (out.length >= requests.length) {
        clearTimeout(timer);
        c.socket.destroy();
        resolve(out);
      }
    });
    c.socket.once('close', () => {
      clearTimeout(timer);
      if (out.length < requests.length)
        reject(new Error(`pipelined: connection closed after ${out.length}/${requests.length} responses`));
    });
    c.socket.write(Buffer.concat(requests));
  });
}

/** Status code of the first response in raw text, or undefined. */
export const statusOf = (text: string): number | undefined => {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
  return m ? Number(m[1]) : undefined;
};

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitUntil<T>(
  probe: () => Promise<T> | T,
  ok: (value: T) => boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) return value;
    await sleep(intervalMs);
  }
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0
    ? Number.NaN
    : sorted.length % 2
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
