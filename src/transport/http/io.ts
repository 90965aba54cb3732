import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { AuthInfo } from '../types.js';

export type Headers = Record<string, string>;

/** The writable end of a streamed (SSE) response. */
export interface StreamSink {
  /** Returns false when the client is not keeping up (backpressure). */
  write(chunk: string): boolean;
  end(): void;
  /** Tears the connection down without a graceful end (a reader that stopped reading would hold it forever). */
  destroy?(): void;
  onDrain(fn: () => void): void;
  onClose(fn: () => void): void;
  readonly closed: boolean;
}

/**
 * One HTTP exchange as the MCP handler sees it, whatever the server underneath
 * (`node:http` or a web-standard fetch runtime). Header names are lower-case.
 */
export interface HttpIO {
  readonly method: string;
  header(name: string): string | undefined;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly remoteAddress: string | undefined;
  /** Address the request arrived on (undefined where the runtime does not say). */
  readonly localAddress: string | undefined;
  auth: AuthInfo | undefined;
  /** Resolves with the body text, or null when it exceeds `limit` bytes (the caller answers 413). */
  readBody(limit: number): Promise<string | null>;
  respond(status: number, headers: Headers, body?: string): void;
  startStream(status: number, headers: Headers): StreamSink;
  /** Aborted when the client goes away before the response finished. */
  readonly signal: AbortSignal;
  readonly responded: boolean;
}

/** `node:http` implementation: writes straight to the socket, no web Request/Response bridging. */
export class NodeIO implements HttpIO {
  auth: AuthInfo | undefined;
  responded = false;
  private controller: AbortController | undefined;

  constructor(
    readonly req: IncomingMessage & { auth?: AuthInfo; body?: unknown },
    readonly res: ServerResponse,
  ) {
    this.auth = req.auth;
  }

  get method(): string {
    return this.req.method ?? 'GET';
  }
  header(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }
  get headers() {
    return this.req.headers;
  }
  get remoteAddress(): string | undefined {
    return this.req.socket.remoteAddress;
  }
  get localAddress(): string | undefined {
    return this.req.socket.localAddress;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      // 'close' on the response fires after a normal end too; only an unfinished one is an abort.
      this.res.once('close', () => {
        if (!this.res.writableFinished) controller.abort(new Error('client disconnected'));
      });
    }
    return this.controller.signal;
  }

  readBody(limit: number): Promise<string | null> {
    const pre = this.req.body;
    // Mounted behind express.json() or similar: the body was already read.
    if (pre !== undefined) return Promise.resolve(typeof pre === 'string' ? pre : JSON.stringify(pre));
    const declared = Number(this.req.headers['content-length']);
    // Far too large: refuse without reading. Slightly too large: read and discard it (below) so the
    // client is not reset before it can read its 413.
    if (declared > limit * 2) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const req = this.req;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          done = true;
          cleanup();
          chunks.length = 0;
          // Closing while the client is still sending makes the kernel reset the connection, and the
          // client never reads its 413. Discard the rest first, bounded in bytes and time, then answer.
          let drained = 0;
          const budget = limit;
          const finish = () => {
            clearTimeout(timer);
            req.off('data', discard);
            req.off('end', finish);
            req.off('error', finish);
            resolve(null);
          };
          const discard = (more: Buffer) => {
            drained += more.length;
            if (drained > budget) finish();
          };
          const timer = setTimeout(finish, 1000);
          req.on('data', discard);
          req.once('end', finish);
          req.once('error', finish);
          return;
        }
        chunks.push(chunk);
      };
      const onEnd = () => {
        if (done) return;
        done = true;
        cleanup();
        resolve(
          chunks.length === 1
            ? (chunks[0] as Buffer).toString('utf8')
            : Buffer.concat(chunks, size).toString('utf8'),
        );
      };
      const onError = (err: Error) => {
        if (done) return;
        done = true;
        cleanup();
        reject(err);
      };
      const cleanup = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('aborted', onAborted);
      };
      const onAborted = () => onError(new Error('request aborted'));
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('aborted', onAborted);
    });
  }

  respond(status: number, headers: Headers, body?: string): void {
    if (this.responded || this.res.headersSent) return;
    this.responded = true;
    const out: OutgoingHttpHeaders = headers;
    if (body !== undefined) out['content-length'] = Buffer.byteLength(body);
    this.res.writeHead(status, out);
    this.res.end(body);
  }

  startStream(status: number, headers: Headers): StreamSink {
    this.responded = true;
    const res = this.res;
    res.writeHead(status, headers);
    res.flushHeaders();
    const socket = res.socket;
    // SSE wants each event on the wire now: disable Nagle for this socket.
    res.socket?.setNoDelay(true);
    let closed = false;
    const closeListeners: Array<() => void> = [];
    res.once('close', () => {
      closed = true;
      for (const fn of closeListeners.splice(0)) fn();
    });
    return {
      write: (chunk) => (closed ? false : res.write(chunk)),
      end: () => {
        if (!closed) res.end();
      },
      destroy: () => {
        if (closed) return;
        res.destroy();
        // An ended response may already be detached from its socket: tear the socket down too.
        socket?.destroy();
      },
      onDrain: (fn) => res.once('drain', fn),
      onClose: (fn) => {
        if (closed) fn();
        else closeListeners.push(fn);
      },
      get closed() {
        return closed;
      },
    };
  }
}
