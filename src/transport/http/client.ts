import { ErrorCode, InvalidOptionError } from '../../protocol/errors.js';
import {
  DEFAULT_MAX_JSON_DEPTH,
  type JsonRpcMessage,
  type RequestId,
  errorResponse,
  parseJson,
} from '../../protocol/jsonrpc.js';
import { HEADER_TOKEN_RE } from '../../protocol/meta.js';
import { LATEST_PROTOCOL_VERSION } from '../../protocol/versions.js';
import type { Transport } from '../types.js';
import { NAMED, encodeHeaderValue } from './headers.js';
import { SseParser } from './sse-parser.js';

export interface StreamableHttpClientOptions {
  headers?: Record<string, string>;
  fetch?: typeof fetch;
  /** Called before each request for an `Authorization` header value (OAuth client plugs in here). */
  authorization?: () => Promise<string | undefined> | string | undefined;
  /** Called on 401/403 with the response; return true to retry the request once (after refreshing a token). */
  onAuthError?: (response: Response) => Promise<boolean> | boolean;
  /** Open the legacy standalone GET stream for server-initiated messages (default true). */
  standaloneStream?: boolean;
  /** Reconnect delay when the server gave no `retry:` hint (ms). */
  reconnectDelayMs?: number;
  maxReconnects?: number;
}

/**
 * The client end of Streamable HTTP for both eras: POSTs each message, reads JSON or SSE
 * answers, keeps the legacy session id, resumes dropped legacy streams with Last-Event-ID,
 * and in 2026-07-28 mirrors method, name and `x-mcp-header` parameters into headers.
 */
export class StreamableHttpClientTransport implements Transport {
  onmessage: Transport['onmessage'];
  onparseerror: Transport['onparseerror'];
  onerror: Transport['onerror'];
  onclose: Transport['onclose'];
  sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private readonly url: URL;
  private readonly fetchImpl: typeof fetch;
  private readonly controllers = new Set<AbortController>();
  private closed = false;
  /** Tool name -> mirrored parameters, learned from tools/list results. */
  private readonly headerParams = new Map<string, Array<{ argument: string; header: string }>>();
  private readonly pendingToolLists = new Set<RequestId>();
  private standaloneOpen = false;

  constructor(
    url: string | URL,
    private readonly options: StreamableHttpClientOptions = {},
  ) {
    try {
      this.url = new URL(url);
    } catch {
      throw new InvalidOptionError('url', `"${String(url)}" is not a valid URL`);
    }
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:')
      throw new InvalidOptionError('url', 'must be http: or https:');
    this.fetchImpl = options.fetch ?? globalThis.fetch;
  }

  async start(): Promise<void> {}

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
    if (
      version !== LATEST_PROTOCOL_VERSION &&
      this.sessionId !== undefined &&
      this.options.standaloneStream !== false
    ) {
      void this.openStandalone();
    }
  }

  private async headers(message?: JsonRpcMessage): Promise<Record<string, string>> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...this.options.headers,
    };
    const auth = await this.options.authorization?.();
    if (auth) headers.authorization = auth;
    if (this.sessionId !== undefined) headers['mcp-session-id'] = this.sessionId;
    const meta =
      message && 'method' in message
        ? (message.params?._meta as Record<string, unknown> | undefined)
        : undefined;
    const version =
      (meta?.['io.modelcontextprotocol/protocolVersion'] as string | undefined) ?? this.protocolVersion;
    if (version !== undefined) headers['mcp-protocol-version'] = version;
    if (message && 'method' in message && version === LATEST_PROTOCOL_VERSION) {
      headers['mcp-method'] = message.method;
      const field = Object.hasOwn(NAMED, message.method) ? NAMED[message.method] : undefined;
      const value = field ? message.params?.[field] : undefined;
      if (typeof value === 'string') headers['mcp-name'] = encodeHeaderValue(value);
      if (message.method === 'tools/call' && typeof value === 'string') {
        const args = (message.params?.arguments ?? {}) as Record<string, unknown>;
        for (const { argument, header } of this.headerParams.get(value) ?? []) {
          const v = args[argument];
          if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
            headers[`mcp-param-${header.toLowerCase()}`] = encodeHeaderValue(v);
        }
      }
    }
    return headers;
  }

  async send(message: JsonRpcMessage): Promise<void> {
    if (this.closed) throw new Error('transport closed');
    const requestId = 'method' in message && 'id' in message ? message.id : undefined;
    if (requestId !== undefined && 'method' in message && message.method === 'tools/list')
      this.pendingToolLists.add(requestId);
    const controller = new AbortController();
    this.controllers.add(controller);
    let response: Response;
    try {
      response = await this.post(message, controller.signal);
    } catch (err) {
      this.controllers.delete(controller);
      if (this.closed) return;
      throw err;
    }
    const sid = response.headers.get('mcp-session-id');
    if (sid) this.sessionId = sid;
    if (
      response.status === 202 ||
      (response.status === 200 && response.headers.get('content-length') === '0')
    ) {
      this.controllers.delete(controller);
      await response.body?.cancel();
      return;
    }
    // Read the body in the background: the request's answer arrives through onmessage.
    void this.consume(response, requestId, controller)
      .catch((err: unknown) => {
        if (!this.closed && !controller.signal.aborted)
          this.onerror?.(err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => this.controllers.delete(controller));
  }

  private async post(message: JsonRpcMessage, signal: AbortSignal, retried = false): Promise<Response> {
    const response = await this.fetchImpl(this.url, {
      method: 'POST',
      headers: await this.headers(message),
      body: JSON.stringify(message),
      signal,
    });
    if ((response.status === 401 || response.status === 403) && !retried && this.options.onAuthError) {
      if (await this.options.onAuthError(response)) {
        await response.body?.cancel();
        return this.post(message, signal, true);
      }
    }
    return response;
  }

  private async consume(
    response: Response,
    requestId: RequestId | undefined,
    controller: AbortController,
  ): Promise<void> {
    if (response.status === 404 && this.sessionId !== undefined) {
      // The server no longer knows our session (expired, deleted, replica lost without shared state):
      // the spec says to start a new one, so this transport is done.
      if (requestId !== undefined)
        this.deliver(
          errorResponse(requestId, ErrorCode.InvalidRequest, 'Session terminated by the server (HTTP 404)'),
        );
      await response.body?.cancel();
      this.terminate();
      return;
    }
    const type = response.headers.get('content-type') ?? '';
    if (type.includes('text/event-stream')) {
      await this.readStream(response, requestId, controller);
      return;
    }
    const text = await response.text();
    const parsed = text.length > 0 ? parseJson(text, DEFAULT_MAX_JSON_DEPTH) : undefined;
    const value = parsed?.ok ? (parsed.value as Record<string, unknown> | null) : undefined;
    // A JSON-RPC body (even on an error status) is the answer; any other JSON (`{"error":"invalid_token"}`) is not.
    if (value && typeof value === 'object' && (Array.isArray(value) || value.jsonrpc === '2.0')) {
      this.deliver(value);
      return;
    }
    if (!response.ok && requestId !== undefined) {
      // Not a JSON-RPC body (a proxy, or a server from another era): turn the status into an error for the caller.
      const code =
        response.status === 401
          ? ErrorCode.Unauthorized
          : response.status === 403
            ? ErrorCode.Forbidden
            : response.status === 404
              ? ErrorCode.MethodNotFound
              : ErrorCode.InternalError;
      this.deliver(
        errorResponse(requestId, code, `HTTP ${response.status} ${response.statusText}`.trim(), {
          status: response.status,
        }),
      );
    }
  }

  private async readStream(
    response: Response,
    requestId: RequestId | undefined,
    controller: AbortController,
    attempt = 0,
  ): Promise<void> {
    let answered = false;
    let retryMs = this.options.reconnectDelayMs ?? 1000;
    const parser = new SseParser((event) => {
      if (event.retry !== undefined) retryMs = event.retry;
      if (event.data === '') return;
      const parsed = parseJson(event.data, DEFAULT_MAX_JSON_DEPTH);
      if (!parsed.ok) return this.onparseerror?.(parsed.error);
      const value = parsed.value as { id?: RequestId; method?: string };
      if (requestId !== undefined && value.id === requestId && value.method === undefined) answered = true;
      this.deliver(parsed.value);
    });
    const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
    if (!reader) return;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(value);
      }
    } catch (err) {
      if (this.closed || controller.signal.aborted) return;
      if (!(err instanceof Error && err.name === 'AbortError')) this.onerror?.(err as Error);
    }
    // A legacy stream that ended before its answer can be resumed from the last event id.
    const lastEventId = parser.lastEventId;
    const maxReconnects = this.options.maxReconnects ?? 5;
    if (
      !answered &&
      requestId !== undefined &&
      lastEventId !== undefined &&
      this.sessionId !== undefined &&
      !this.closed &&
      attempt < maxReconnects
    ) {
      await new Promise((r) => setTimeout(r, retryMs));
      if (this.closed) return;
      const resumed = await this.fetchImpl(this.url, {
        method: 'GET',
        headers: { ...(await this.headers()), accept: 'text/event-stream', 'last-event-id': lastEventId },
        signal: controller.signal,
      }).catch(() => undefined);
      if (resumed?.ok) await this.readStream(resumed, requestId, controller, attempt + 1);
    }
  }

  private async openStandalone(): Promise<void> {
    if (this.standaloneOpen || this.closed) return;
    this.standaloneOpen = true;
    const controller = new AbortController();
    this.controllers.add(controller);
    try {
      const response = await this.fetchImpl(this.url, {
        method: 'GET',
        headers: { ...(await this.headers()), accept: 'text/event-stream' },
        signal: controller.signal,
      });
      if (!response.ok || !(response.headers.get('content-type') ?? '').includes('text/event-stream')) {
        await response.body?.cancel();
        return; // 405: the server offers no standalone stream; that is allowed.
      }
      await this.readStream(response, undefined, controller);
    } catch {
      // Closed or unreachable: server-initiated messages are best effort.
    } finally {
      this.controllers.delete(controller);
      this.standaloneOpen = false;
    }
  }

  /** Learns `x-mcp-header` mirrors from tools/list and drops tools whose annotations are invalid (spec MUST). */
  private deliver(value: unknown): void {
    const message = value as { id?: RequestId; result?: { tools?: unknown } };
    if (
      message.id !== undefined &&
      this.pendingToolLists.delete(message.id) &&
      Array.isArray(message.result?.tools)
    ) {
      message.result.tools = (message.result.tools as Array<Record<string, unknown>>).filter((tool) =>
        this.learnTool(tool),
      );
    }
    this.onmessage?.(value);
  }

  private learnTool(tool: Record<string, unknown>): boolean {
    const props = ((tool.inputSchema as { properties?: Record<string, Record<string, unknown>> } | undefined)
      ?.properties ?? {}) as Record<string, Record<string, unknown>>;
    const params: Array<{ argument: string; header: string }> = [];
    const seen = new Set<string>();
    for (const [argument, schema] of Object.entries(props)) {
      if (typeof schema !== 'object' || schema === null || !('x-mcp-header' in schema)) continue;
      const header = schema['x-mcp-header'];
      const valid =
        typeof header === 'string' &&
        HEADER_TOKEN_RE.test(header) &&
        ['string', 'integer', 'boolean'].includes(schema.type as string) &&
        !seen.has(header.toLowerCase());
      if (!valid) return false;
      seen.add((header as string).toLowerCase());
      params.push({ argument, header: header as string });
    }
    if (typeof tool.name === 'string') this.headerParams.set(tool.name, params);
    return true;
  }

  /** Ends without DELETE: the session is already gone on the server. */
  private terminate(): void {
    if (this.closed) return;
    this.closed = true;
    for (const controller of this.controllers) controller.abort();
    this.controllers.clear();
    this.sessionId = undefined;
    this.onclose?.();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const controller of this.controllers) controller.abort();
    this.controllers.clear();
    if (this.sessionId !== undefined) {
      // Ending the session tells the server it can free it now rather than at the idle timeout.
      await this.fetchImpl(this.url, {
        method: 'DELETE',
        headers: await this.headers(),
        signal: AbortSignal.timeout(2000),
      })
        .then((r) => r.body?.cancel())
        .catch(() => {});
    }
    this.onclose?.();
  }
}
