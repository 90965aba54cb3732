import {
  ConnectionClosedError,
  ErrorCode,
  LocalError,
  McpError,
  RequestCancelledError,
  RequestTimeoutError,
  toWireError,
} from '../protocol/errors.js';
import {
  type JsonRpcErrorResponse,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type RequestId,
  errorResponse,
  errorResponseFrom,
  isRequest,
  isResponse,
  validateMessage,
} from '../protocol/jsonrpc.js';
import type { MessageInfo, SendOptions, Transport } from '../transport/types.js';

export interface RequestOptions {
  /** Per-request timeout; default from the peer options (60 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called for each `notifications/progress` for this request; opts the request into progress. */
  onprogress?: (progress: { progress: number; total?: number; message?: string }) => void;
  /** Progress resets the timeout (long jobs that report progress stay alive). */
  resetTimeoutOnProgress?: boolean;
  /** Hard ceiling even when progress resets the timeout. */
  maxTotalTimeoutMs?: number;
  /** Put onto the outgoing message's transport send (e.g. route to a request stream). */
  relatedRequestId?: RequestId;
}

export interface IncomingRequestContext {
  /** Aborted when the peer cancels the request or the connection closes. */
  signal: AbortSignal;
  info: MessageInfo | undefined;
  /** Sends a message on behalf of this request (routed to its stream where the transport has streams). */
  send(message: JsonRpcMessage): Promise<void>;
}

export interface PeerHandlers {
  /** Returns the result object, or throws an McpError. Never called for responses. */
  onRequest(request: JsonRpcRequest, ctx: IncomingRequestContext): Promise<Record<string, unknown>>;
  onNotification?(notification: JsonRpcNotification, info: MessageInfo | undefined): void;
  /** Whether a JSON-RPC batch is acceptable right now (only in 2025-03-26). */
  allowBatch?(): boolean;
  /** Answer requests that fail before dispatch (parse errors). Servers do, clients do not. */
  answerMalformed?: boolean;
  onclose?(): void;
  onerror?(error: Error): void;
}

export interface PeerOptions {
  defaultTimeoutMs?: number;
  /** Bound on requests this side serves at once; past it, requests get an error rather than queueing. */
  maxInFlight?: number;
}

interface Pending {
  method: string;
  resolve: (value: Record<string, unknown>) => void;
  reject: (reason: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  onprogress: RequestOptions['onprogress'];
  cleanup: () => void;
}

/**
 * The JSON-RPC engine both sides share: outgoing ids and the pending table, timeouts,
 * cancellation both ways, progress routing, and dispatch of incoming requests with a
 * per-request AbortSignal. It knows nothing about MCP methods beyond the two
 * notifications JSON-RPC plumbing needs (cancelled, progress).
 */
export class Peer {
  private nextId = 1;
  private readonly pending = new Map<RequestId, Pending>();
  private readonly progressTokens = new Map<string | number, RequestId>();
  private readonly inFlight = new Map<RequestId, AbortController>();
  private closed = false;
  private readonly defaultTimeoutMs: number;
  private readonly maxInFlight: number;

  constructor(
    readonly transport: Transport,
    private readonly handlers: PeerHandlers,
    options: PeerOptions = {},
  ) {
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
    this.maxInFlight = options.maxInFlight ?? 1024;
    transport.onmessage = (value, info) => this.receive(value, info);
    transport.onparseerror = (error) => {
      if (this.handlers.answerMalformed) void this.safeSend(error);
    };
    transport.onclose = () => this.handleClose();
    transport.onerror = (error) => this.handlers.onerror?.(error);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  async start(): Promise<void> {
    await this.transport.start();
  }

  request(
    method: string,
    params?: Record<string, unknown>,
    options: RequestOptions = {},
  ): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new ConnectionClosedError());
    const id = this.nextId++;
    let outParams = params;
    if (options.onprogress) {
      const meta = (params?._meta as Record<string, unknown> | undefined) ?? {};
      outParams = { ...params, _meta: { ...meta, progressToken: id } };
      this.progressTokens.set(id, id);
    }
    const message: JsonRpcRequest = outParams
      ? { jsonrpc: '2.0', id, method, params: outParams }
      : { jsonrpc: '2.0', id, method };
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
      const started = Date.now();
      const signal = options.signal;
      const onAbort = () => {
        this.cancelOutgoing(id, signal?.reason);
        reject(
          new RequestCancelledError(signal?.reason instanceof Error ? signal.reason.message : signal?.reason),
        );
      };
      const entry: Pending = {
        method,
        resolve,
        reject,
        timer: undefined,
        onprogress: options.onprogress,
        cleanup: () => {
          if (entry.timer) clearTimeout(entry.timer);
          signal?.removeEventListener('abort', onAbort);
          this.pending.delete(id);
          this.progressTokens.delete(id);
        },
      };
      const arm = () => {
        if (entry.timer) clearTimeout(entry.timer);
        if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) return;
        entry.timer = setTimeout(() => {
          this.cancelOutgoing(id, 'timeout');
          reject(new RequestTimeoutError(method, timeoutMs));
        }, timeoutMs);
      };
      if (options.resetTimeoutOnProgress && options.onprogress) {
        const user = options.onprogress;
        entry.onprogress = (p) => {
          if (options.maxTotalTimeoutMs === undefined || Date.now() - started < options.maxTotalTimeoutMs)
            arm();
          user(p);
        };
      }
      if (signal?.aborted) {
        reject(new RequestCancelledError(signal.reason));
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, entry);
      arm();
      const sendOptions: SendOptions | undefined =
        options.relatedRequestId === undefined ? undefined : { relatedRequestId: options.relatedRequestId };
      this.transport.send(message, sendOptions).catch((err: unknown) => {
        entry.cleanup();
        reject(err instanceof Error ? new LocalError('TRANSPORT', err.message, { cause: err }) : err);
      });
    });
  }

  async notify(method: string, params?: Record<string, unknown>, options?: SendOptions): Promise<void> {
    if (this.closed) throw new ConnectionClosedError();
    const message: JsonRpcNotification = params
      ? { jsonrpc: '2.0', method, params }
      : { jsonrpc: '2.0', method };
    await this.transport.send(message, options);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.transport.close();
    this.handleClose();
  }

  private cancelOutgoing(id: RequestId, reason: unknown): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    entry.cleanup();
    const params: Record<string, unknown> = { requestId: id };
    if (typeof reason === 'string') params.reason = reason;
    else if (reason instanceof Error) params.reason = reason.message;
    if (!this.closed) void this.notify('notifications/cancelled', params).catch(() => {});
  }

  private receive(value: unknown, info: MessageInfo | undefined): void {
    if (Array.isArray(value)) {
      this.receiveBatch(value, info);
      return;
    }
    const checked = validateMessage(value);
    if (!checked.ok) {
      // A malformed response cannot be answered; a malformed request can.
      if (this.handlers.answerMalformed) void this.safeSend(checked.error);
      return;
    }
    this.route(checked.message, info, (m) => this.safeSend(m));
  }

  private receiveBatch(values: unknown[], info: MessageInfo | undefined): void {
    if (!this.handlers.allowBatch?.() || values.length === 0) {
      if (this.handlers.answerMalformed) {
        void this.safeSend(
          errorResponse(null, ErrorCode.InvalidRequest, 'Invalid Request: batches are not supported'),
        );
      }
      return;
    }
    const replies: JsonRpcMessage[] = [];
    let outstanding = 0;
    let finished = false;
    const flush = () => {
      if (outstanding === 0 && finished && replies.length > 0) void this.safeSendRaw(replies);
    };
    for (const value of values) {
      const checked = validateMessage(value);
      if (!checked.ok) {
        replies.push(checked.error);
        continue;
      }
      if (isRequest(checked.message)) {
        outstanding++;
        this.route(checked.message, info, async (m) => {
          if (isResponse(m) && (m as JsonRpcResponse).id === (checked.message as JsonRpcRequest).id) {
            replies.push(m);
            outstanding--;
            flush();
          } else {
            await this.safeSend(m);
          }
        });
      } else {
        this.route(checked.message, info, (m) => this.safeSend(m));
      }
    }
    finished = true;
    flush();
  }

  private route(
    message: JsonRpcMessage,
    info: MessageInfo | undefined,
    reply: (m: JsonRpcMessage) => Promise<void>,
  ): void {
    if ('method' in message) {
      if ('id' in message) this.handleRequest(message as JsonRpcRequest, info, reply);
      else this.handleNotification(message as JsonRpcNotification, info);
      return;
    }
    this.handleResponse(message as JsonRpcResponse);
  }

  private handleRequest(
    request: JsonRpcRequest,
    info: MessageInfo | undefined,
    reply: (m: JsonRpcMessage) => Promise<void>,
  ): void {
    const id = request.id;
    if (this.inFlight.has(id)) {
      void reply(
        errorResponse(
          id,
          ErrorCode.InvalidRequest,
          `Invalid Request: id ${JSON.stringify(id)} is already in use`,
        ),
      );
      return;
    }
    if (this.inFlight.size >= this.maxInFlight) {
      void reply(errorResponse(id, ErrorCode.InternalError, 'Server busy: too many requests in flight'));
      return;
    }
    const controller = new AbortController();
    this.inFlight.set(id, controller);
    const ctx: IncomingRequestContext = {
      signal: controller.signal,
      info,
      send: (m) =>
        controller.signal.aborted ? Promise.resolve() : this.transport.send(m, { relatedRequestId: id }),
    };
    let result: Promise<Record<string, unknown>>;
    try {
      result = this.handlers.onRequest(request, ctx);
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (value) => {
        if (this.inFlight.get(id) !== controller) return;
        this.inFlight.delete(id);
        // A cancelled request gets no response (spec: cancellation).
        if (!controller.signal.aborted) void reply({ jsonrpc: '2.0', id, result: value });
      },
      (err: unknown) => {
        if (this.inFlight.get(id) !== controller) return;
        this.inFlight.delete(id);
        if (controller.signal.aborted) return;
        const wire = toWireError(err);
        if (!(err instanceof McpError))
          this.handlers.onerror?.(err instanceof Error ? err : new Error(String(err)));
        void reply(errorResponseFrom(id, wire));
      },
    );
  }

  private handleNotification(notification: JsonRpcNotification, info: MessageInfo | undefined): void {
    if (notification.method === 'notifications/cancelled') {
      const requestId = notification.params?.requestId;
      if (typeof requestId === 'string' || typeof requestId === 'number') {
        const controller = this.inFlight.get(requestId);
        if (controller) {
          this.inFlight.delete(requestId);
          controller.abort(notification.params?.reason ?? 'cancelled');
        }
      }
    } else if (notification.method === 'notifications/progress') {
      const token = notification.params?.progressToken;
      if (typeof token === 'string' || typeof token === 'number') {
        const id = this.progressTokens.get(token);
        const entry = id === undefined ? undefined : this.pending.get(id);
        if (entry?.onprogress) {
          const p = notification.params as { progress: number; total?: number; message?: string };
          try {
            entry.onprogress(p);
          } catch (err) {
            this.handlers.onerror?.(err as Error);
          }
        }
      }
    }
    try {
      this.handlers.onNotification?.(notification, info);
    } catch (err) {
      this.handlers.onerror?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private handleResponse(response: JsonRpcResponse): void {
    const id = response.id;
    if (id === null || id === undefined) {
      // An error about something we sent that the peer could not parse.
      const err = (response as JsonRpcErrorResponse).error;
      this.handlers.onerror?.(new McpError(err.code, err.message, err.data));
      return;
    }
    const entry = this.pending.get(id);
    if (!entry) return; // Unknown or already settled (timed out, cancelled): ignore, per JSON-RPC.
    entry.cleanup();
    if ('error' in response) entry.reject(McpError.fromWire(response.error));
    else entry.resolve(response.result);
  }

  private handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new ConnectionClosedError();
    for (const entry of [...this.pending.values()]) {
      entry.cleanup();
      entry.reject(err);
    }
    for (const controller of this.inFlight.values()) controller.abort(err);
    this.inFlight.clear();
    this.handlers.onclose?.();
  }

  private async safeSend(message: JsonRpcMessage): Promise<void> {
    if (this.closed) return;
    try {
      await this.transport.send(message);
    } catch (err) {
      this.handlers.onerror?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async safeSendRaw(messages: JsonRpcMessage[]): Promise<void> {
    // Batches answer as one array; transports accept arrays where they accept batches.
    await this.safeSend(messages as unknown as JsonRpcMessage);
  }
}
