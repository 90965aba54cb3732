import { InvalidParamsError, McpError, MissingClientCapabilityError } from '../protocol/errors.js';
import type { RequestId } from '../protocol/jsonrpc.js';
import type {
  ClientCapabilities,
  CreateMessageParams,
  CreateMessageResult,
  ElicitParams,
  ElicitResult,
  Implementation,
  ListRootsResult,
  LoggingLevel,
} from '../protocol/types.js';
import { LOGGING_LEVELS } from '../protocol/types.js';
import type { AuthInfo, MessageInfo } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import type { CallContext, Era, TransportKind } from './middleware.js';

/** Legacy-era connection state: negotiated once by `initialize`, held by stdio/WS connections or HTTP sessions. */
export interface LegacySession {
  readonly id: string | undefined;
  protocolVersion: string | undefined;
  initialized: boolean;
  clientInfo: Implementation | undefined;
  clientCapabilities: ClientCapabilities;
  logLevel: LoggingLevel | undefined;
  readonly subscriptions: Set<string>;
  /** Out-of-band notification to the client (stdio line, HTTP GET stream). */
  notify(method: string, params: Record<string, unknown>): void;
}

/** What a transport supplies for one incoming request. */
export interface Exchange {
  readonly transport: TransportKind;
  readonly signal: AbortSignal;
  readonly info: MessageInfo | undefined;
  readonly session: LegacySession | undefined;
  /** A notification tied to this request (progress, logs); over HTTP it turns the response into SSE. */
  notify(method: string, params: Record<string, unknown>): Promise<void>;
  /** A server-to-client request tied to this request. Legacy era only. */
  request?:
    | ((
        method: string,
        params: Record<string, unknown>,
        signal: AbortSignal,
      ) => Promise<Record<string, unknown>>)
    | undefined;
  /** Ends the response stream early while the request keeps running (legacy HTTP: the client resumes with Last-Event-ID). */
  closeStream?: (() => void) | undefined;
}

export type InputRequestSpec =
  | { method: 'elicitation/create'; params: ElicitParams }
  | { method: 'sampling/createMessage'; params: CreateMessageParams }
  | { method: 'roots/list'; params?: Record<string, unknown> };

/** Thrown inside a handler (2026-07-28) when it needs client input; the server turns it into `input_required`. */
export class InputRequired {
  constructor(readonly requests: Record<string, InputRequestSpec>) {}
}

/** A client's answer to an input request must have the shape of that request's result (2026-07-28 retries). */
function checkAnswer(
  key: string,
  method: InputRequestSpec['method'],
  answer: unknown,
): Record<string, unknown> {
  const bad = (what: string) => new InvalidParamsError(`inputResponses.${key} is not a valid ${what}`);
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) throw bad(`${method} result`);
  const value = answer as Record<string, unknown>;
  if (method === 'elicitation/create' && !['accept', 'decline', 'cancel'].includes(value.action as string))
    throw bad('elicitation result');
  if (method === 'sampling/createMessage' && (typeof value.content !== 'object' || value.content === null))
    throw bad('sampling result');
  if (method === 'roots/list' && !Array.isArray(value.roots)) throw bad('roots/list result');
  return value;
}

const LEVEL_RANK: Record<string, number> = Object.fromEntries(LOGGING_LEVELS.map((level, i) => [level, i]));

const CAPABILITY_FOR: Record<InputRequestSpec['method'], keyof ClientCapabilities> = {
  'elicitation/create': 'elicitation',
  'sampling/createMessage': 'sampling',
  'roots/list': 'roots',
};

/**
 * One incoming request as middleware and handlers see it. A class with plain fields so the
 * hot path builds one object of a stable shape per request.
 */
export class Call implements CallContext {
  readonly state = new Map<string | symbol, unknown>();
  target: string | undefined = undefined;
  clientCapabilities: ClientCapabilities = {};
  logLevel: LoggingLevel | undefined = undefined;
  progressToken: string | number | undefined = undefined;
  /** Answers so far (2026-07-28 input_required rounds), by key. */
  answers: Record<string, unknown> = {};
  /** Inputs a handler asked for that have no answer yet. */
  missing: Record<string, InputRequestSpec> | undefined = undefined;
  handlerState: unknown = undefined;
  /** Set when this call runs inside a task: inputs come through tasks/update instead of input_required. */
  taskInputs:
    | ((requests: Record<string, InputRequestSpec>) => Promise<Record<string, Record<string, unknown>>>)
    | undefined = undefined;
  /** Set when the request may become a task (tasks extension declared, tool allows it). */
  taskRunner: ((run: (taskCall: Call) => Promise<unknown>) => never) | undefined = undefined;
  private inputCounter = 0;

  constructor(
    readonly requestId: RequestId,
    readonly method: string,
    readonly params: Record<string, unknown>,
    readonly era: Era,
    readonly protocolVersion: string,
    readonly clientInfo: Implementation | undefined,
    readonly exchange: Exchange,
    readonly logger: Logger,
  ) {}

  get auth(): AuthInfo | undefined {
    return this.exchange.info?.auth;
  }
  get remoteAddress(): string | undefined {
    return this.exchange.info?.remoteAddress;
  }
  get headers() {
    return this.exchange.info?.headers;
  }
  get sessionId(): string | undefined {
    return this.exchange.session?.id;
  }
  get transport(): TransportKind {
    return this.exchange.transport;
  }
  get signal(): AbortSignal {
    return this.exchange.signal;
  }

  /** Sends `notifications/message` if the client asked for this level (2026: per request; legacy: per session). */
  async log(level: LoggingLevel, data: unknown, logger?: string): Promise<void> {
    const threshold = this.era === 'modern' ? this.logLevel : (this.exchange.session?.logLevel ?? 'debug');
    if (threshold === undefined || (LEVEL_RANK[level] ?? 0) < (LEVEL_RANK[threshold] ?? 0)) return;
    const params: Record<string, unknown> = logger === undefined ? { level, data } : { level, logger, data };
    await this.exchange.notify('notifications/message', params);
  }

  /** Reports progress if the request carried a progress token; otherwise a no-op. */
  async progress(progress: number, total?: number, message?: string): Promise<void> {
    if (this.progressToken === undefined) return;
    const params: Record<string, unknown> = { progressToken: this.progressToken, progress };
    if (total !== undefined) params.total = total;
    if (message !== undefined) params.message = message;
    await this.exchange.notify('notifications/progress', params);
  }

  /**
   * Legacy Streamable HTTP: closes this request's SSE stream now (after its priming event);
   * the rest, including the result, is delivered when the client reconnects. No-op elsewhere.
   */
  closeSseStream(): void {
    this.exchange.closeStream?.();
  }

  elicit(params: ElicitParams): Promise<ElicitResult> {
    return this.input({ method: 'elicitation/create', params }) as Promise<ElicitResult>;
  }
  sample(params: CreateMessageParams): Promise<CreateMessageResult> {
    return this.input({ method: 'sampling/createMessage', params }) as Promise<CreateMessageResult>;
  }
  listRoots(): Promise<ListRootsResult> {
    return this.input({ method: 'roots/list' }) as Promise<ListRootsResult>;
  }

  /**
   * Asks the client for several inputs at once. In 2026-07-28 they travel together in one
   * `input_required` round; in legacy sessions they are sent as concurrent server-to-client requests.
   */
  async inputs<K extends string>(
    requests: Record<K, InputRequestSpec>,
  ): Promise<Record<K, Record<string, unknown>>> {
    const keys = Object.keys(requests) as K[];
    for (const key of keys) this.requireCapability((requests[key] as InputRequestSpec).method);
    if (this.taskInputs) return (await this.taskInputs(requests)) as Record<K, Record<string, unknown>>;
    if (this.era === 'legacy') {
      const values = await Promise.all(
        keys.map((key) => this.legacyRequest(requests[key] as InputRequestSpec)),
      );
      return Object.fromEntries(keys.map((key, i) => [key, values[i]])) as Record<K, Record<string, unknown>>;
    }
    const out = {} as Record<K, Record<string, unknown>>;
    let missing: Record<string, InputRequestSpec> | undefined;
    for (const key of keys) {
      if (Object.hasOwn(this.answers, key))
        out[key] = checkAnswer(key, (requests[key] as InputRequestSpec).method, this.answers[key]);
      else (missing ??= {})[key] = requests[key] as InputRequestSpec;
    }
    if (missing) {
      this.missing = { ...this.missing, ...missing };
      throw new InputRequired(this.missing);
    }
    return out;
  }

  private async input(spec: InputRequestSpec): Promise<Record<string, unknown>> {
    const key = `${spec.method.split('/')[0]}-${this.inputCounter++}`;
    const result = await this.inputs({ [key]: spec });
    return result[key] as Record<string, unknown>;
  }

  /**
   * Continues the rest of the work as a task when the client declared the tasks extension
   * (the caller gets a CreateTaskResult and polls); otherwise runs it inline. Lets a tool
   * gather input with input_required first and go long-running afterwards.
   */
  runTask<T>(work: (ctx: Call) => Promise<T>): Promise<T> {
    if (this.taskRunner) this.taskRunner(work as (taskCall: Call) => Promise<unknown>);
    return work(this);
  }

  /** Whether the client declared a capability (per request in 2026-07-28, per session before). */
  hasClientCapability(capability: keyof ClientCapabilities): boolean {
    const caps =
      this.era === 'modern' ? this.clientCapabilities : (this.exchange.session?.clientCapabilities ?? {});
    return caps[capability] !== undefined && caps[capability] !== null;
  }

  private requireCapability(method: InputRequestSpec['method']): void {
    if (method === 'elicitation/create' && this.era === 'legacy' && this.protocolVersion < '2025-06-18') {
      throw new McpError(
        -32603,
        `Elicitation is not part of protocol ${this.protocolVersion} (it needs 2025-06-18 or later)`,
      );
    }
    const capability = CAPABILITY_FOR[method];
    if (!this.hasClientCapability(capability)) throw new MissingClientCapabilityError({ [capability]: {} });
  }

  private async legacyRequest(spec: InputRequestSpec): Promise<Record<string, unknown>> {
    if (!this.exchange.request) {
      throw new McpError(-32603, `This transport cannot send ${spec.method} to the client`);
    }
    return this.exchange.request(spec.method, (spec.params ?? {}) as Record<string, unknown>, this.signal);
  }
}
