import type { RequestId } from '../../src/protocol/jsonrpc.js';
import { validateMessage } from '../../src/protocol/jsonrpc.js';
import type { Headers, HttpIO, StreamSink } from '../../src/transport/http/io.js';
import type { AuthInfo } from '../../src/transport/types.js';

/**
 * The in-process side of the HTTP transport fuzzer: a fake HttpIO that records what the
 * handler answers, and the checks every answer must pass.
 */

export function fail(message: string): never {
  throw new Error(message);
}

// ------------------------------------------------------------------ fake HttpIO

export interface Captured {
  status: number;
  headers: Headers;
  body: string | undefined;
  stream: { chunks: string[]; ended: boolean } | undefined;
}

export class FakeIO implements HttpIO {
  auth: AuthInfo | undefined;
  responded = false;
  readonly outputs: Captured[] = [];
  readonly headers: Record<string, string | undefined>;
  private readonly controller = new AbortController();
  private readonly closers: Array<() => void> = [];
  private sinkClosed = false;

  constructor(
    readonly method: string,
    headers: Record<string, string | undefined>,
    private readonly body: string,
    readonly localAddress: string | undefined = '127.0.0.1',
    readonly remoteAddress: string | undefined = '127.0.0.1',
  ) {
    this.headers = headers;
  }

  header(name: string): string | undefined {
    return Object.hasOwn(this.headers, name) ? this.headers[name] : undefined;
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  readBody(limit: number): Promise<string | null> {
    return Promise.resolve(Buffer.byteLength(this.body) > limit ? null : this.body);
  }
  respond(status: number, headers: Headers, body?: string): void {
    this.responded = true;
    this.outputs.push({ status, headers, body, stream: undefined });
  }
  startStream(status: number, headers: Headers): StreamSink {
    this.responded = true;
    const stream = { chunks: [] as string[], ended: false };
    this.outputs.push({ status, headers, body: undefined, stream });
    const io = this;
    return {
      write: (chunk) => {
        if (!io.sinkClosed) stream.chunks.push(chunk);
        return !io.sinkClosed;
      },
      end: () => {
        stream.ended = true;
        io.hangUp();
      },
      destroy: () => io.hangUp(),
      onDrain: () => {},
      onClose: (fn) => {
        if (io.sinkClosed) fn();
        else io.closers.push(fn);
      },
      get closed() {
        return io.sinkClosed;
      },
    };
  }
  /** The client goes away: closes an open stream (a standalone GET stream never ends by itself). */
  hangUp(): void {
    if (this.sinkClosed) return;
    this.sinkClosed = true;
    if (!this.outputs.every((o) => o.stream?.ended !== false))
      this.controller.abort(new Error('client disconnected'));
    for (const fn of this.closers.splice(0)) fn();
  }
}

// ------------------------------------------------------------------ checks

const isRequestId = (id: unknown): id is RequestId =>
  (typeof id === 'string' && id.length <= 1024) || (typeof id === 'number' && Number.isSafeInteger(id));

interface BodyIds {
  single: boolean;
  /** Ids of well-formed requests: the only ids a result may carry. */
  requests: RequestId[];
  /** Every valid id in the body: an error for an invalid message may echo its id too. */
  any: RequestId[];
}

function bodyIds(body: string): BodyIds | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  const messages = Array.isArray(value) ? value : [value];
  const out: BodyIds = { single: !Array.isArray(value), requests: [], any: [] };
  for (const m of messages) {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) continue;
    const { id, method } = m as { id?: unknown; method?: unknown };
    if (!isRequestId(id)) continue;
    out.any.push(id);
    if (typeof method === 'string') out.requests.push(id);
  }
  return out;
}

/** A JSON-RPC response (result or error) that passes the library's own validator, with an echoed id. */
function checkResponse(m: unknown, ids: BodyIds | undefined, where: string): void {
  const checked = validateMessage(m);
  if (!checked.ok) fail(`${where}: invalid JSON-RPC ${JSON.stringify(m).slice(0, 300)}`);
  const r = m as { id?: unknown; result?: unknown; error?: unknown };
  if (!('result' in r) && !('error' in r))
    fail(`${where}: not a response ${JSON.stringify(m).slice(0, 300)}`);
  // A result answers a real request; an error carries a body id, or null when it came before the id was read.
  const idOk =
    'result' in r
      ? (ids?.requests ?? []).some((id) => id === r.id)
      : r.id === null || (ids?.any ?? []).some((id) => id === r.id);
  if (!idOk) fail(`${where}: id ${JSON.stringify(r.id)} does not echo the request (${JSON.stringify(ids)})`);
}

function sseData(text: string): unknown[] {
  const out: unknown[] = [];
  for (const block of text.split('\n\n')) {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(l.startsWith('data: ') ? 6 : 5))
      .join('\n');
    if (data.trim() !== '') out.push(JSON.parse(data));
  }
  return out;
}

/** What the runs reached, so a generator that never gets past the first check fails the test. */
export const reached = { results: 0, errors: 0, streams: 0, batches: 0, accepted: 0 };

export function checkExchange(io: FakeIO, requestBody: string): void {
  if (io.outputs.length !== 1) fail(`${io.outputs.length} responses to one request`);
  const out = io.outputs[0] as Captured;
  if (out.stream) reached.streams++;
  else if (out.status === 202) reached.accepted++;
  else if (out.body?.startsWith('[')) reached.batches++;
  else if (out.body?.includes('"result"')) reached.results++;
  else reached.errors++;
  if (!Number.isInteger(out.status) || out.status < 200 || out.status > 599) fail(`status ${out.status}`);
  if (out.status === 500) fail('500: the handler failed internally');
  const ids = io.method === 'POST' ? bodyIds(requestBody) : undefined;
  if (out.stream) {
    if (out.status !== 200 || out.headers['content-type'] !== 'text/event-stream')
      fail('stream without SSE headers');
    const events = sseData(out.stream.chunks.join(''));
    for (const e of events) {
      if (validateMessage(e).ok !== true) fail(`invalid SSE message ${JSON.stringify(e).slice(0, 300)}`);
      if (typeof e === 'object' && e !== null && !('method' in e)) checkResponse(e, ids, 'SSE');
    }
    return;
  }
  if (out.body === undefined || out.body === '') {
    if (out.status !== 202 && out.status !== 200) fail(`empty body with status ${out.status}`);
    return;
  }
  if (!String(out.headers['content-type']).startsWith('application/json'))
    fail('body without JSON content-type');
  let value: unknown;
  try {
    value = JSON.parse(out.body);
  } catch {
    fail(`body is not JSON: ${out.body.slice(0, 200)}`);
  }
  if (Array.isArray(value)) {
    if (ids?.single !== false) fail('array answer to a non-batch request');
    if (value.length === 0) fail('empty batch answer');
    for (const m of value) checkResponse(m, ids, 'batch');
  } else {
    checkResponse(value, ids?.single ? ids : undefined, `status ${out.status}`);
  }
  if (out.status >= 300 && !('error' in (value as object)) && !Array.isArray(value))
    fail('error status with a result');
}
