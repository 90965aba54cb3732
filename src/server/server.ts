import {
  ErrorCode,
  InvalidOptionError,
  InvalidParamsError,
  InvalidRequestError,
  McpError,
  MethodNotFoundError,
  UnsupportedProtocolVersionError,
} from '../protocol/errors.js';
import type { JsonRpcNotification, JsonRpcRequest } from '../protocol/jsonrpc.js';
import { META, getMeta } from '../protocol/meta.js';
import type {
  ClientCapabilities,
  Icon,
  Implementation,
  LoggingLevel,
  ServerCapabilities,
} from '../protocol/types.js';
import { LOGGING_LEVELS } from '../protocol/types.js';
import {
  LATEST_PROTOCOL_VERSION,
  LEGACY_PROTOCOL_VERSIONS,
  SUPPORTED_PROTOCOL_VERSIONS,
  negotiateLegacyVersion,
} from '../protocol/versions.js';
import type { Transport } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { type ConnectOptions, ServerConnection } from './connection.js';
import { Call, type Exchange, type LegacySession } from './context.js';
import { registerFeatureMethods } from './features.js';
import { type Middleware, type Result, compose } from './middleware.js';
import {
  type ChangeEvent,
  MemoryNotificationBus,
  NOTIFICATION_METHOD,
  type NotificationBus,
} from './notifications.js';
import {
  type PromptConfig,
  type PromptHandler,
  type RegisteredPrompt,
  type RegisteredResource,
  type RegisteredTemplate,
  type RegisteredTool,
  type ResourceConfig,
  type TemplateConfig,
  type ToolConfig,
  type ToolHandler,
  buildPrompt,
  buildResource,
  buildTemplate,
  buildTool,
} from './registry.js';
import { RequestStateCodec } from './request-state.js';
import type { SchemaInput } from './schema.js';
import { TaskManager, type TasksOptions } from './tasks.js';

export interface McpServerOptions {
  name: string;
  version: string;
  title?: string;
  description?: string;
  websiteUrl?: string;
  icons?: Icon[];
  instructions?: string;
  /** Items per page for list methods (default 100). */
  pageSize?: number;
  logger?: Logger;
  /** Shared HMAC secret for 2026-07-28 `requestState` (set it when several replicas serve one endpoint). */
  requestStateSecret?: string | Uint8Array;
  requestStateTtlMs?: number;
  /** Caching hints on list/read/discover results (2026-07-28): default ttl 0 s... see README. */
  cache?: { ttlMs?: number; scope?: 'public' | 'private' };
  /** Cross-process change fan-out (Redis in mcpkit/redis). Default: in-process. */
  bus?: NotificationBus;
  /** Legacy versions accepted by `initialize` (default: all four). */
  legacyVersions?: readonly string[];
  /** Enables the tasks extension (2026-07-28). */
  tasks?: boolean | TasksOptions;
  /** Whether handler exceptions show their message in JSON-RPC internal errors (default false). */
  exposeInternalErrors?: boolean;
}

export type MethodHandler = (call: Call) => Promise<Result>;

/** Methods whose 2026-07-28 results are cacheable and carry `ttlMs`/`cacheScope`. */
const CACHEABLE = new Set([
  'tools/list',
  'prompts/list',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'server/discover',
]);
const LEGACY_ONLY = new Set([
  'initialize',
  'ping',
  'logging/setLevel',
  'resources/subscribe',
  'resources/unsubscribe',
]);
const MODERN_ONLY = new Set(['subscriptions/listen']);

export class McpServer {
  readonly info: Implementation;
  readonly instructions: string | undefined;
  /** Where the server logs handler failures; serve() points it at the runtime logger when left unset. */
  logger: Logger;
  readonly pageSize: number;
  readonly stateCodec: RequestStateCodec;
  readonly bus: NotificationBus;
  readonly legacyVersions: readonly string[];
  readonly cacheTtlMs: number;
  readonly cacheScope: 'public' | 'private';
  readonly exposeInternalErrors: boolean;

  readonly tools = new Map<string, RegisteredTool>();
  readonly resources = new Map<string, RegisteredResource>();
  readonly templates: RegisteredTemplate[] = [];
  readonly prompts = new Map<string, RegisteredPrompt>();
  private readonly methods = new Map<string, MethodHandler>();
  private readonly middleware: Middleware[] = [];
  readonly tasks: TaskManager | undefined;
  private pipeline: ((call: Call) => Promise<Result>) | undefined;
  private readonly closeListeners = new Set<() => void>();
  private closed = false;
  /** Bumped on every registry change so list caches know they are stale. */
  version = 0;

  constructor(options: McpServerOptions) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidOptionError('options', 'must be an object');
    if (typeof options.name !== 'string' || options.name.length === 0)
      throw new InvalidOptionError('name', 'must be a non-empty string');
    if (typeof options.version !== 'string' || options.version.length === 0) {
      throw new InvalidOptionError('version', 'must be a non-empty string');
    }
    const pageSize = options.pageSize ?? 100;
    if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > 10_000)
      throw new InvalidOptionError('pageSize', 'must be an integer in 1..10000');
    const legacy = options.legacyVersions ?? LEGACY_PROTOCOL_VERSIONS;
    for (const v of legacy) {
      if (!LEGACY_PROTOCOL_VERSIONS.includes(v as never))
        throw new InvalidOptionError('legacyVersions', `unknown legacy version ${v}`);
    }
    const ttl = options.cache?.ttlMs ?? 0;
    if (!Number.isSafeInteger(ttl) || ttl < 0)
      throw new InvalidOptionError('cache.ttlMs', 'must be a non-negative integer');
    const scope = options.cache?.scope ?? 'public';
    if (scope !== 'public' && scope !== 'private')
      throw new InvalidOptionError('cache.scope', 'must be "public" or "private"');
    const info: Implementation = { name: options.name, version: options.version };
    if (options.title !== undefined) info.title = options.title;
    if (options.description !== undefined) info.description = options.description;
    if (options.websiteUrl !== undefined) info.websiteUrl = options.websiteUrl;
    if (options.icons !== undefined) info.icons = options.icons;
    this.info = info;
    this.instructions = options.instructions;
    this.logger = options.logger ?? silentLogger;
    this.pageSize = pageSize;
    this.stateCodec = new RequestStateCodec({
      secret: options.requestStateSecret,
      ttlMs: options.requestStateTtlMs,
    });
    this.bus = options.bus ?? new MemoryNotificationBus();
    this.legacyVersions = legacy;
    this.cacheTtlMs = ttl;
    this.cacheScope = scope;
    this.exposeInternalErrors = options.exposeInternalErrors ?? false;
    this.registerCoreMethods();
    registerFeatureMethods(this);
    this.tasks = options.tasks
      ? new TaskManager(this, options.tasks === true ? {} : options.tasks)
      : undefined;
  }

  // ------------------------------------------------------------ registration

  tool<S extends SchemaInput | undefined = undefined>(
    name: string,
    config: ToolConfig<S>,
    handler: ToolHandler<S>,
  ): { remove(): void };
  tool(name: string, handler: ToolHandler<undefined>): { remove(): void };
  tool(
    name: string,
    configOrHandler: ToolConfig<SchemaInput | undefined> | ToolHandler<undefined>,
    maybeHandler?: unknown,
  ) {
    const config = typeof configOrHandler === 'function' ? {} : configOrHandler;
    const handler = (
      typeof configOrHandler === 'function' ? configOrHandler : maybeHandler
    ) as RegisteredTool['handler'];
    if (this.tools.has(name)) throw new InvalidOptionError('tool name', `"${name}" is already registered`);
    const tool = buildTool(name, config, handler);
    this.tools.set(name, tool);
    this.changed('tools/list_changed');
    return {
      remove: () => {
        if (this.tools.get(name) === tool && this.tools.delete(name)) this.changed('tools/list_changed');
      },
    };
  }

  resource(uri: string, config: ResourceConfig, read: RegisteredResource['read']): { remove(): void } {
    if (this.resources.has(uri))
      throw new InvalidOptionError('resource uri', `"${uri}" is already registered`);
    const resource = buildResource(uri, config, read);
    this.resources.set(uri, resource);
    this.changed('resources/list_changed');
    return {
      remove: () => {
        if (this.resources.get(uri) === resource && this.resources.delete(uri))
          this.changed('resources/list_changed');
      },
    };
  }

  resourceTemplate(
    uriTemplate: string,
    config: TemplateConfig,
    read: RegisteredTemplate['read'],
  ): { remove(): void } {
    if (this.templates.some((t) => t.template.template === uriTemplate)) {
      throw new InvalidOptionError('resource template', `"${uriTemplate}" is already registered`);
    }
    const template = buildTemplate(uriTemplate, config, read);
    this.templates.push(template);
    this.changed('resources/list_changed');
    return {
      remove: () => {
        const i = this.templates.indexOf(template);
        if (i >= 0) {
          this.templates.splice(i, 1);
          this.changed('resources/list_changed');
        }
      },
    };
  }

  prompt<S extends SchemaInput | undefined = undefined>(
    name: string,
    config: PromptConfig<S>,
    get: PromptHandler<S>,
  ): { remove(): void } {
    if (this.prompts.has(name))
      throw new InvalidOptionError('prompt name', `"${name}" is already registered`);
    const prompt = buildPrompt(
      name,
      config as PromptConfig<SchemaInput | undefined>,
      get as RegisteredPrompt['get'],
    );
    this.prompts.set(name, prompt);
    this.changed('prompts/list_changed');
    return {
      remove: () => {
        if (this.prompts.get(name) === prompt && this.prompts.delete(name))
          this.changed('prompts/list_changed');
      },
    };
  }

  /** Adds a middleware around every request, in both eras and on every transport. */
  use(middleware: Middleware): this {
    if (typeof middleware !== 'function')
      throw new InvalidOptionError('middleware', 'must be a function (ctx, next) => Promise<result>');
    this.middleware.push(middleware);
    this.pipeline = undefined;
    return this;
  }

  /** Registers (or replaces) a raw method handler: the extension point for custom methods and extensions. */
  method(name: string, handler: MethodHandler): this {
    this.methods.set(name, handler);
    return this;
  }

  hasMethod(name: string): boolean {
    return this.methods.has(name);
  }

  /** Tells subscribers (legacy sessions that subscribed, 2026 listen streams) a resource changed. */
  resourceUpdated(uri: string): void {
    void this.bus.publish({ type: 'resources/updated', uri });
  }

  /** Announces a list change without changing anything (e.g. the tool set is computed per caller). */
  notifyListChanged(list: 'tools' | 'prompts' | 'resources'): void {
    void this.bus.publish({ type: `${list}/list_changed` });
  }

  private changed(type: 'tools/list_changed' | 'prompts/list_changed' | 'resources/list_changed'): void {
    this.version++;
    void this.bus.publish({ type });
  }

  capabilities(): ServerCapabilities {
    const caps: ServerCapabilities = { logging: {}, completions: {} };
    if (this.tools.size > 0 || this.methods.has('tools/call')) caps.tools = { listChanged: true };
    if (this.resources.size > 0 || this.templates.length > 0)
      caps.resources = { subscribe: true, listChanged: true };
    if (this.prompts.size > 0) caps.prompts = { listChanged: true };
    for (const hook of this.capabilityHooks) hook(caps);
    return caps;
  }

  /** Extensions (e.g. tasks) add their capability here. */
  readonly capabilityHooks: Array<(caps: ServerCapabilities) => void> = [];

  // ------------------------------------------------------------ dispatch

  /**
   * Serves one request for any transport. Resolves with the JSON-RPC `result` or rejects
   * with an McpError; transports turn either into their wire form.
   */
  handle(request: JsonRpcRequest, exchange: Exchange): Promise<Result> {
    const params = request.params ?? {};
    const session = exchange.session;
    const method = request.method;
    let call: Call;
    if (session?.protocolVersion !== undefined) {
      if (MODERN_ONLY.has(method)) return Promise.reject(new MethodNotFoundError(method));
      call = new Call(
        request.id,
        method,
        params,
        'legacy',
        session.protocolVersion,
        session.clientInfo,
        exchange,
        this.logger,
      );
    } else if (
      (method === 'initialize' || method === 'ping') &&
      getMeta(params)?.[META.protocolVersion] === undefined
    ) {
      call = new Call(
        request.id,
        method,
        params,
        'legacy',
        LATEST_PROTOCOL_VERSION,
        undefined,
        exchange,
        this.logger,
      );
    } else {
      const meta = getMeta(params);
      const version = meta?.[META.protocolVersion];
      if (version === undefined) {
        if (session) {
          return Promise.reject(
            new InvalidRequestError(
              'Session not initialized: send initialize first, or use protocol 2026-07-28 with _meta',
            ),
          );
        }
        return Promise.reject(
          new InvalidParamsError(
            `Missing _meta["${META.protocolVersion}"]: send it (protocol 2026-07-28) or start a session with initialize`,
          ),
        );
      }
      if (version !== LATEST_PROTOCOL_VERSION)
        return Promise.reject(new UnsupportedProtocolVersionError([LATEST_PROTOCOL_VERSION], version));
      if (LEGACY_ONLY.has(method)) return Promise.reject(new MethodNotFoundError(method));
      const caps = meta?.[META.clientCapabilities];
      if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) {
        return Promise.reject(
          new InvalidParamsError(`Missing or invalid _meta["${META.clientCapabilities}"]`),
        );
      }
      const info = meta?.[META.clientInfo];
      call = new Call(
        request.id,
        method,
        params,
        'modern',
        LATEST_PROTOCOL_VERSION,
        typeof info === 'object' && info !== null ? (info as Implementation) : undefined,
        exchange,
        this.logger,
      );
      call.clientCapabilities = caps as ClientCapabilities;
      const level = meta?.[META.logLevel];
      if (level !== undefined) {
        if (typeof level !== 'string' || !LOGGING_LEVELS.includes(level as LoggingLevel)) {
          return Promise.reject(new InvalidParamsError(`Invalid _meta["${META.logLevel}"]`));
        }
        call.logLevel = level as LoggingLevel;
      }
    }
    const token = getMeta(params)?.progressToken;
    if (typeof token === 'string' || typeof token === 'number') call.progressToken = token;
    this.pipeline ??= compose(this.middleware, (c) => this.dispatch(c as Call));
    const result = this.pipeline(call);
    return call.era === 'modern' ? result.then((r) => this.decorate(method, r)) : result;
  }

  private dispatch(call: Call): Promise<Result> {
    const handler = this.methods.get(call.method);
    if (!handler) return Promise.reject(new MethodNotFoundError(call.method));
    return handler(call);
  }

  /** 2026-07-28 results carry resultType, and cacheable ones the caching hints. */
  private decorate(method: string, result: Result): Result {
    if (result.resultType === undefined) result.resultType = 'complete';
    if (CACHEABLE.has(method) && result.resultType === 'complete') {
      if (result.ttlMs === undefined) result.ttlMs = this.cacheTtlMs;
      if (result.cacheScope === undefined) result.cacheScope = this.cacheScope;
    }
    return result;
  }

  handleNotification(notification: JsonRpcNotification, exchange: Exchange): void {
    const session = exchange.session;
    if (notification.method === 'notifications/initialized' && session) session.initialized = true;
    const hook = this.notificationHooks.get(notification.method);
    if (hook) {
      try {
        hook(notification, exchange);
      } catch (err) {
        this.logger.warn({ err, method: notification.method }, 'notification handler failed');
      }
    }
  }

  readonly notificationHooks = new Map<string, (n: JsonRpcNotification, exchange: Exchange) => void>();

  /** Connects a legacy session to change events: list changes to all, resource updates to subscribers. */
  attachSession(session: LegacySession): () => void {
    return this.bus.subscribe((event: ChangeEvent) => {
      if (session.protocolVersion === undefined) return;
      if (event.type === 'resources/updated') {
        if (session.subscriptions.has(event.uri))
          session.notify(NOTIFICATION_METHOD[event.type], { uri: event.uri });
      } else {
        session.notify(NOTIFICATION_METHOD[event.type], {});
      }
    });
  }

  /** Serves this server over a message transport (stdio, in-memory, WebSocket). */
  async connect(transport: Transport, options?: ConnectOptions): Promise<ServerConnection> {
    const connection = new ServerConnection(this, transport, options);
    await connection.start();
    return connection;
  }

  /** Runs `fn` when the server closes (listen streams end gracefully). */
  onClose(fn: () => void): () => void {
    if (this.closed) {
      fn();
      return () => {};
    }
    this.closeListeners.add(fn);
    return () => this.closeListeners.delete(fn);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tasks?.close();
    for (const fn of [...this.closeListeners]) fn();
    this.closeListeners.clear();
    await this.bus.close?.();
  }

  // ------------------------------------------------------------ lifecycle methods

  private registerCoreMethods(): void {
    this.methods.set('initialize', async (call) => {
      const session = call.exchange.session;
      if (!session) throw new InvalidRequestError('initialize needs a session-capable transport');
      if (session.protocolVersion !== undefined) throw new InvalidRequestError('Session already initialized');
      const params = call.params;
      const version = negotiateLegacyVersion(params.protocolVersion, this.legacyVersions);
      session.protocolVersion = version;
      const caps = params.capabilities;
      session.clientCapabilities =
        typeof caps === 'object' && caps !== null ? (caps as ClientCapabilities) : {};
      const info = params.clientInfo;
      if (typeof info === 'object' && info !== null) session.clientInfo = info as Implementation;
      const result: Result = {
        protocolVersion: version,
        capabilities: this.capabilities(),
        serverInfo: this.info,
      };
      if (this.instructions !== undefined) result.instructions = this.instructions;
      return result;
    });
    this.methods.set('ping', async () => ({}));
    this.methods.set('server/discover', async () => {
      const result: Result = {
        supportedVersions: [LATEST_PROTOCOL_VERSION, ...this.legacyVersions],
        capabilities: this.capabilities(),
        _meta: { [META.serverInfo]: this.info },
      };
      if (this.instructions !== undefined) result.instructions = this.instructions;
      return result;
    });
    this.methods.set('logging/setLevel', async (call) => {
      const level = call.params.level;
      if (typeof level !== 'string' || !LOGGING_LEVELS.includes(level as LoggingLevel)) {
        throw new InvalidParamsError(`Invalid log level: ${JSON.stringify(level)}`);
      }
      const session = call.exchange.session;
      if (session) session.logLevel = level as LoggingLevel;
      return {};
    });
  }
}

export { SUPPORTED_PROTOCOL_VERSIONS, ErrorCode, McpError };
