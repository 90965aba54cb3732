import { Peer, type RequestOptions } from '../engine/peer.js';
import {
  ErrorCode,
  InvalidOptionError,
  LocalError,
  McpError,
  MethodNotFoundError,
} from '../protocol/errors.js';
import type { JsonRpcNotification, JsonRpcRequest } from '../protocol/jsonrpc.js';
import { META, TASKS_EXTENSION } from '../protocol/meta.js';
import type {
  CallToolResult,
  ClientCapabilities,
  CreateMessageParams,
  CreateMessageResult,
  ElicitParams,
  ElicitResult,
  GetPromptResult,
  Implementation,
  ListRootsResult,
  LoggingLevel,
  ReadResourceResult,
  ServerCapabilities,
  SubscriptionFilter,
} from '../protocol/types.js';
import { LATEST_LEGACY_VERSION, LATEST_PROTOCOL_VERSION, isSupportedVersion } from '../protocol/versions.js';
import type { Transport } from '../transport/types.js';

export interface ClientHandlers {
  elicitation?: (params: ElicitParams, ctx: { signal: AbortSignal }) => Promise<ElicitResult> | ElicitResult;
  sampling?: (
    params: CreateMessageParams,
    ctx: { signal: AbortSignal },
  ) => Promise<CreateMessageResult> | CreateMessageResult;
  roots?: () => Promise<ListRootsResult> | ListRootsResult;
}

export interface McpClientOptions {
  /** 'auto' (default) tries 2026-07-28 and falls back to the initialize handshake. */
  protocol?: 'auto' | 'modern' | 'legacy';
  /** Legacy version to ask for in initialize (default 2025-11-25). */
  legacyVersion?: string;
  capabilities?: ClientCapabilities;
  handlers?: ClientHandlers;
  requestTimeoutMs?: number;
  /** 2026-07-28: log level requested on every request (no logs when unset). */
  logLevel?: LoggingLevel;
  /** Bound on `input_required` rounds per call (default 10). */
  maxInputRounds?: number;
  /** How long 'auto' waits for the server/discover probe before falling back to initialize (default 10 s). */
  probeTimeoutMs?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  onprogress?: RequestOptions['onprogress'];
  resetTimeoutOnProgress?: boolean;
  meta?: Record<string, unknown>;
}

type NotificationListener = (params: Record<string, unknown>) => void;

/**
 * An MCP client for both protocol eras over any message transport. Era is negotiated at
 * connect(); afterwards the API is the same: input_required rounds (2026-07-28) and
 * server-to-client requests (legacy) both land in the same `handlers`.
 */
export class McpClient {
  readonly info: Implementation;
  private readonly options: McpClientOptions;
  private peer: Peer | undefined;
  private listeners = new Map<string, Set<NotificationListener>>();
  era: 'modern' | 'legacy' | undefined;
  protocolVersion: string | undefined;
  serverInfo: Implementation | undefined;
  serverCapabilities: ServerCapabilities | undefined;
  instructions: string | undefined;
  supportedVersions: string[] | undefined;
  private closedFlag = false;
  private readonly closeWaiters: Array<() => void> = [];

  constructor(info: Implementation, options: McpClientOptions = {}) {
    if (typeof info?.name !== 'string' || typeof info.version !== 'string') {
      throw new InvalidOptionError('info', 'must be { name: string, version: string }');
    }
    const protocol = options.protocol ?? 'auto';
    if (!['auto', 'modern', 'legacy'].includes(protocol))
      throw new InvalidOptionError('protocol', 'must be auto, modern or legacy');
    if (options.legacyVersion !== undefined && !isSupportedVersion(options.legacyVersion)) {
      throw new InvalidOptionError('legacyVersion', `unsupported version ${options.legacyVersion}`);
    }
    const rounds = options.maxInputRounds ?? 10;
    if (!Number.isSafeInteger(rounds) || rounds < 1)
      throw new InvalidOptionError('maxInputRounds', 'must be a positive integer');
    this.info = info;
    this.options = options;
  }

  /** Capabilities derived from the handlers supplied, merged with explicit ones. */
  get capabilities(): ClientCapabilities {
    const caps: ClientCapabilities = { ...this.options.capabilities };
    const h = this.options.handlers;
    if (h?.elicitation && !caps.elicitation) caps.elicitation = { form: {}, url: {} };
    if (h?.sampling && !caps.sampling) caps.sampling = {};
    if (h?.roots && !caps.roots) caps.roots = { listChanged: true };
    return caps;
  }

  get isConnected(): boolean {
    return this.peer !== undefined && !this.peer.isClosed;
  }

  /** True once the transport closed or close() ran; pools use it to discard dead clients. */
  get closed(): boolean {
    return this.closedFlag;
  }

  onClose(fn: () => void): void {
    if (this.closedFlag) fn();
    else this.closeWaiters.push(fn);
  }

  async connect(transport: Transport, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.peer) throw new LocalError('PROTOCOL', 'Client is already connected');
    const peerOptions: { defaultTimeoutMs?: number } = {};
    if (this.options.requestTimeoutMs !== undefined)
      peerOptions.defaultTimeoutMs = this.options.requestTimeoutMs;
    this.peer = new Peer(
      transport,
      {
        onRequest: (request, ctx) => this.serveRequest(request, ctx.signal),
        onNotification: (n) => this.dispatchNotification(n),
        onclose: () => {
          this.closedFlag = true;
          for (const fn of this.closeWaiters.splice(0)) fn();
        },
      },
      peerOptions,
    );
    await this.peer.start();
    const protocol = this.options.protocol ?? 'auto';
    if (protocol !== 'legacy') {
      try {
        try {
          await this.discover(options.signal);
        } catch (err) {
          // A modern server that lists our version among `supported` wants a clean retry, not a fallback.
          const supported = (err as McpError).data as { supported?: unknown } | undefined;
          if (
            !(
              err instanceof McpError &&
              err.code === ErrorCode.UnsupportedProtocolVersion &&
              Array.isArray(supported?.supported) &&
              supported.supported.includes(LATEST_PROTOCOL_VERSION)
            )
          )
            throw err;
          await this.discover(options.signal);
        }
        return;
      } catch (err) {
        // A legacy server answers server/discover with an error (unknown method, not initialized); some never answer.
        const probeTimedOut = err instanceof LocalError && err.code === 'TIMEOUT';
        if (protocol === 'modern' || !(err instanceof McpError || probeTimedOut)) throw err;
      }
    }
    await this.initialize(options.signal);
  }

  private async discover(signal?: AbortSignal): Promise<void> {
    const result = await this.peer!.request(
      'server/discover',
      { _meta: this.modernMeta() },
      signal ? { signal } : {},
    );
    const versions = Array.isArray(result.supportedVersions) ? (result.supportedVersions as string[]) : [];
    if (!versions.includes(LATEST_PROTOCOL_VERSION)) {
      throw new McpError(ErrorCode.UnsupportedProtocolVersion, 'Server does not support 2026-07-28', {
        supported: versions,
      });
    }
    this.era = 'modern';
    this.protocolVersion = LATEST_PROTOCOL_VERSION;
    this.supportedVersions = versions;
    this.serverCapabilities = (result.capabilities ?? {}) as ServerCapabilities;
    this.serverInfo = (result._meta as Record<string, unknown> | undefined)?.[META.serverInfo] as
      | Implementation
      | undefined;
    this.instructions = result.instructions as string | undefined;
    this.peer!.transport.setProtocolVersion?.(LATEST_PROTOCOL_VERSION);
  }

  private async initialize(signal?: AbortSignal): Promise<void> {
    const requested = this.options.legacyVersion ?? LATEST_LEGACY_VERSION;
    const result = await this.peer!.request(
      'initialize',
      { protocolVersion: requested, capabilities: this.capabilities, clientInfo: this.info },
      signal ? { signal } : {},
    );
    const version = result.protocolVersion;
    if (!isSupportedVersion(version)) {
      await this.close();
      throw new McpError(
        ErrorCode.UnsupportedProtocolVersion,
        `Server chose unsupported protocol version ${String(version)}`,
      );
    }
    this.era = 'legacy';
    this.protocolVersion = version;
    this.serverCapabilities = (result.capabilities ?? {}) as ServerCapabilities;
    this.serverInfo = result.serverInfo as Implementation | undefined;
    this.instructions = result.instructions as string | undefined;
    this.peer!.transport.setProtocolVersion?.(version);
    await this.peer!.notify('notifications/initialized');
  }

  private modernMeta(extra?: Record<string, unknown>): Record<string, unknown> {
    const meta: Record<string, unknown> = {
      [META.protocolVersion]: LATEST_PROTOCOL_VERSION,
      [META.clientInfo]: this.info,
      [META.clientCapabilities]: this.capabilities,
    };
    if (this.options.logLevel !== undefined) meta[META.logLevel] = this.options.logLevel;
    return extra ? { ...meta, ...extra } : meta;
  }

  /**
   * Sends any request. In 2026-07-28 it adds the per-request `_meta` and answers
   * `input_required` rounds with the configured handlers until the result is complete.
   */
  async request(
    method: string,
    params: Record<string, unknown> = {},
    options: CallOptions = {},
  ): Promise<Record<string, unknown>> {
    const peer = this.peer;
    if (!peer) throw new LocalError('NOT_CONNECTED', 'Client is not connected');
    const requestOptions: RequestOptions = {};
    if (options.signal) requestOptions.signal = options.signal;
    if (options.timeoutMs !== undefined) requestOptions.timeoutMs = options.timeoutMs;
    if (options.onprogress) requestOptions.onprogress = options.onprogress;
    if (options.resetTimeoutOnProgress !== undefined)
      requestOptions.resetTimeoutOnProgress = options.resetTimeoutOnProgress;
    if (this.era !== 'modern') {
      const out = options.meta
        ? { ...params, _meta: { ...(params._meta as object), ...options.meta } }
        : params;
      return peer.request(method, out, requestOptions);
    }
    let current: Record<string, unknown> = {
      ...params,
      _meta: this.modernMeta({ ...(params._meta as object), ...options.meta }),
    };
    const maxRounds = this.options.maxInputRounds ?? 10;
    for (let round = 0; ; round++) {
      const result = await peer.request(method, current, requestOptions);
      if (result.resultType !== 'input_required') return result;
      if (round >= maxRounds)
        throw new LocalError('PROTOCOL', `${method}: gave up after ${maxRounds} input_required rounds`);
      const inputResponses = await this.answerInputs(result.inputRequests, options.signal);
      current = { ...current };
      delete current.inputResponses;
      delete current.requestState;
      if (inputResponses) current.inputResponses = inputResponses;
      if (typeof result.requestState === 'string') current.requestState = result.requestState;
    }
  }

  private async answerInputs(
    requests: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Record<string, unknown> | undefined> {
    if (typeof requests !== 'object' || requests === null) return undefined;
    const entries = Object.entries(
      requests as Record<string, { method: string; params?: Record<string, unknown> }>,
    );
    const answers = await Promise.all(
      entries.map(([, spec]) =>
        this.serveRequest(
          { jsonrpc: '2.0', id: 0, method: spec.method, params: spec.params ?? {} },
          signal ?? new AbortController().signal,
        ),
      ),
    );
    return Object.fromEntries(entries.map(([key], i) => [key, answers[i]]));
  }

  /** Server-to-client requests (legacy) and input requests (2026-07-28) share these handlers. */
  private async serveRequest(request: JsonRpcRequest, signal: AbortSignal): Promise<Record<string, unknown>> {
    const h = this.options.handlers;
    const params = (request.params ?? {}) as Record<string, unknown>;
    switch (request.method) {
      case 'ping':
        return {};
      case 'elicitation/create':
        if (!h?.elicitation) throw new MethodNotFoundError(request.method);
        return (await h.elicitation(params as unknown as ElicitParams, { signal })) as unknown as Record<
          string,
          unknown
        >;
      case 'sampling/createMessage':
        if (!h?.sampling) throw new MethodNotFoundError(request.method);
        return (await h.sampling(params as unknown as CreateMessageParams, { signal })) as unknown as Record<
          string,
          unknown
        >;
      case 'roots/list':
        if (!h?.roots) throw new MethodNotFoundError(request.method);
        return (await h.roots()) as unknown as Record<string, unknown>;
      default:
        throw new MethodNotFoundError(request.method);
    }
  }

  // ------------------------------------------------------------ notifications

  /** Listens for a notification method ('*' for all). Returns an unsubscribe function. */
  on(method: string, listener: NotificationListener): () => void {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  private dispatchNotification(notification: JsonRpcNotification): void {
    const params = notification.params ?? {};
    for (const key of [notification.method, '*']) {
      const set = this.listeners.get(key);
      if (!set) continue;
      for (const fn of set) {
        try {
          fn(key === '*' ? { method: notification.method, params } : params);
        } catch {
          // A listener's bug is not the connection's problem.
        }
      }
    }
  }

  // ------------------------------------------------------------ convenience API

  ping(options?: CallOptions): Promise<Record<string, unknown>> {
    return this.request('ping', {}, options);
  }

  listTools(cursor?: string, options?: CallOptions) {
    return this.request('tools/list', cursor === undefined ? {} : { cursor }, options);
  }

  /** Follows nextCursor to the end (bounded to 1000 pages). */
  async listAll(
    method: 'tools/list' | 'prompts/list' | 'resources/list' | 'resources/templates/list',
    key: string,
  ): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 1000; pages++) {
      const result = await this.request(method, cursor === undefined ? {} : { cursor });
      items.push(...((result[key] as Record<string, unknown>[]) ?? []));
      cursor = typeof result.nextCursor === 'string' ? result.nextCursor : undefined;
      if (cursor === undefined) return items;
    }
    throw new LocalError('PROTOCOL', `${method}: more than 1000 pages`);
  }

  async callTool(
    name: string,
    args: Record<string, unknown> = {},
    options?: CallOptions,
  ): Promise<CallToolResult> {
    return (await this.request(
      'tools/call',
      { name, arguments: args },
      options,
    )) as unknown as CallToolResult;
  }

  /**
   * Calls a tool with the tasks extension declared (2026-07-28): if the server answers with a
   * task, polls `tasks/get` (honouring `pollIntervalMs`), answers the task's input requests
   * with the configured handlers through `tasks/update`, and resolves with the final result.
   * `onTask` sees the task id (persist it to resume after a crash); aborting `signal` cancels the task.
   */
  async callToolAsTask(
    name: string,
    args: Record<string, unknown> = {},
    options: CallOptions & {
      onTask?: (task: { taskId: string; status: string }) => void;
      maxWaitMs?: number;
    } = {},
  ): Promise<CallToolResult> {
    if (this.era !== 'modern') return this.callTool(name, args, options);
    const taskMeta = {
      [META.clientCapabilities]: {
        ...this.capabilities,
        extensions: { ...(this.capabilities.extensions as object), [TASKS_EXTENSION]: {} },
      },
    };
    const first = await this.request(
      'tools/call',
      { name, arguments: args },
      { ...options, meta: { ...options.meta, ...taskMeta } },
    );
    if (first.resultType !== 'task') return first as unknown as CallToolResult;
    const taskId = first.taskId as string;
    options.onTask?.({ taskId, status: first.status as string });
    const deadline = Date.now() + (options.maxWaitMs ?? 3_600_000);
    let interval = typeof first.pollIntervalMs === 'number' ? Math.max(50, first.pollIntervalMs) : 500;
    const answered = new Set<string>();
    for (;;) {
      if (options.signal?.aborted) {
        await this.request('tasks/cancel', { taskId }, { meta: taskMeta }).catch(() => {});
        throw new LocalError('CANCELLED', `Task ${taskId} cancelled`);
      }
      const task = await this.request('tasks/get', { taskId }, { meta: taskMeta });
      const status = task.status as string;
      if (status === 'completed') return task.result as CallToolResult;
      if (status === 'failed') {
        const error = (task.error ?? {}) as { code?: number; message?: string; data?: unknown };
        throw new McpError(
          error.code ?? ErrorCode.InternalError,
          error.message ?? `Task ${taskId} failed`,
          error.data,
        );
      }
      if (status === 'cancelled') throw new LocalError('CANCELLED', `Task ${taskId} was cancelled`);
      if (status === 'input_required' && task.inputRequests) {
        const pending = Object.fromEntries(
          Object.entries(task.inputRequests as Record<string, unknown>).filter(([key]) => !answered.has(key)),
        );
        if (Object.keys(pending).length > 0) {
          const inputResponses = await this.answerInputs(pending, options.signal);
          for (const key of Object.keys(pending)) answered.add(key);
          await this.request('tasks/update', { taskId, inputResponses }, { meta: taskMeta });
          continue;
        }
      }
      if (Date.now() > deadline)
        throw new LocalError(
          'TIMEOUT',
          `Task ${taskId} did not finish within ${options.maxWaitMs ?? 3_600_000} ms`,
        );
      await new Promise((r) => setTimeout(r, interval));
      interval = Math.min(interval * 1.5, 5000);
    }
  }

  listResources(cursor?: string, options?: CallOptions) {
    return this.request('resources/list', cursor === undefined ? {} : { cursor }, options);
  }
  listResourceTemplates(cursor?: string, options?: CallOptions) {
    return this.request('resources/templates/list', cursor === undefined ? {} : { cursor }, options);
  }
  async readResource(uri: string, options?: CallOptions): Promise<ReadResourceResult> {
    return (await this.request('resources/read', { uri }, options)) as unknown as ReadResourceResult;
  }
  listPrompts(cursor?: string, options?: CallOptions) {
    return this.request('prompts/list', cursor === undefined ? {} : { cursor }, options);
  }
  async getPrompt(
    name: string,
    args: Record<string, string> = {},
    options?: CallOptions,
  ): Promise<GetPromptResult> {
    return (await this.request(
      'prompts/get',
      { name, arguments: args },
      options,
    )) as unknown as GetPromptResult;
  }
  complete(
    ref: { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string },
    argument: { name: string; value: string },
    context?: Record<string, string>,
  ) {
    const params: Record<string, unknown> = { ref, argument };
    if (context) params.context = { arguments: context };
    return this.request('completion/complete', params);
  }
  /** Legacy sessions only; in 2026-07-28 set `logLevel` in the client options instead. */
  setLogLevel(level: LoggingLevel) {
    return this.request('logging/setLevel', { level });
  }
  subscribeResource(uri: string) {
    return this.request('resources/subscribe', { uri });
  }
  unsubscribeResource(uri: string) {
    return this.request('resources/unsubscribe', { uri });
  }

  /**
   * 2026-07-28 `subscriptions/listen`: resolves once the server acknowledged, with the
   * agreed filter and a `close()` that cancels the stream.
   */
  async listen(
    filter: SubscriptionFilter,
  ): Promise<{ acknowledged: SubscriptionFilter; done: Promise<unknown>; close(): void }> {
    if (this.era !== 'modern')
      throw new LocalError('PROTOCOL', 'subscriptions/listen needs protocol 2026-07-28');
    const controller = new AbortController();
    let resolveAck!: (f: SubscriptionFilter) => void;
    const ack = new Promise<SubscriptionFilter>((r) => {
      resolveAck = r;
    });
    const off = this.on('notifications/subscriptions/acknowledged', (params) =>
      resolveAck(params.notifications as SubscriptionFilter),
    );
    const done = this.request(
      'subscriptions/listen',
      { notifications: filter },
      { signal: controller.signal, timeoutMs: 0 },
    );
    done.catch(() => {});
    const acknowledged = await Promise.race([ack, done.then(() => ({}) as SubscriptionFilter)]);
    off();
    return { acknowledged, done, close: () => controller.abort('closed by client') };
  }

  async close(): Promise<void> {
    await this.peer?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
