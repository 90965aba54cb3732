import { paginate } from '../protocol/cursor.js';
import { ErrorCode, InvalidParamsError, McpError, MissingClientCapabilityError } from '../protocol/errors.js';
import { META } from '../protocol/meta.js';
import { TASKS_EXTENSION } from '../protocol/meta.js';
import type { SubscriptionFilter } from '../protocol/types.js';
import { redact } from '../security/redact.js';
import { type Call, InputRequired } from './context.js';
import type { Result } from './middleware.js';
import { NOTIFICATION_METHOD } from './notifications.js';
import {
  type RegisteredTemplate,
  checkPromptArgs,
  errorResult,
  toPromptResult,
  toReadResult,
  toToolResult,
} from './registry.js';
import { RequestStateCodec } from './request-state.js';
import type { McpServer } from './server.js';
import { TaskStarted } from './tasks.js';

/** Raised when an authenticated caller lacks a scope the feature declared. */
export class InsufficientScopeError extends McpError {
  override name = 'InsufficientScopeError';
  constructor(readonly requiredScopes: readonly string[]) {
    super(ErrorCode.Forbidden, `Insufficient scope: requires ${requiredScopes.join(' ')}`, {
      requiredScopes: [...requiredScopes],
    });
  }
}

function checkScopes(call: Call, scopes: readonly string[] | undefined): void {
  if (!scopes || scopes.length === 0) return;
  const auth = call.auth;
  if (!auth) return; // No auth configured on this transport: scopes are advisory.
  for (const scope of scopes) if (!auth.scopes.includes(scope)) throw new InsufficientScopeError(scopes);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * 2026-07-28 multi-round-trip: restores answers from a signed requestState plus this
 * round's inputResponses before the handler replays.
 */
function restoreInputs(server: McpServer, call: Call, argsDigest: () => string): void {
  if (call.era !== 'modern') return;
  const params = call.params;
  if (params.requestState !== undefined) {
    const payload = server.stateCodec.decode(params.requestState, {
      t: `${call.method} ${call.target}`,
      a: argsDigest(),
      p: call.auth?.subject,
    });
    call.answers = { ...payload.r };
    call.handlerState = payload.s;
  }
  const responses = params.inputResponses;
  if (responses !== undefined) {
    if (!isObject(responses)) throw new InvalidParamsError('inputResponses must be an object');
    for (const key of Object.keys(responses)) {
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
      call.answers[key] = responses[key];
    }
  }
}

function inputRequiredResult(
  server: McpServer,
  call: Call,
  argsDigest: () => string,
  missing: Record<string, unknown>,
): Result {
  const inputRequests: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(missing)) {
    const { method, params } = spec as { method: string; params?: unknown };
    inputRequests[key] = params === undefined ? { method } : { method, params };
  }
  const payload: Parameters<RequestStateCodec['encode']>[0] = {
    t: `${call.method} ${call.target}`,
    a: argsDigest(),
    r: call.answers,
  };
  if (call.handlerState !== undefined) payload.s = call.handlerState;
  const subject = call.auth?.subject;
  if (subject !== undefined) payload.p = subject;
  return { resultType: 'input_required', inputRequests, requestState: server.stateCodec.encode(payload) };
}

/** Runs a handler that may ask for input; in 2026-07-28 a missing answer becomes `input_required`. */
async function withInputs(
  server: McpServer,
  call: Call,
  digestOf: unknown,
  run: () => Promise<Result>,
  onError?: (err: unknown) => Result,
): Promise<Result> {
  // Hashing the arguments costs a few microseconds: only pay it when a round trip is involved.
  let memo: string | undefined;
  const digest = () => (memo ??= RequestStateCodec.digest(digestOf));
  restoreInputs(server, call, digest);
  let result: Result;
  try {
    result = await run();
  } catch (err) {
    if (err instanceof InputRequired) return inputRequiredResult(server, call, digest, err.requests);
    if (err instanceof TaskStarted) return err.result;
    if (err instanceof McpError || !onError) throw err;
    result = onError(err);
  }
  // A handler that swallowed the InputRequired signal still cannot complete without the input.
  if (call.missing) return inputRequiredResult(server, call, digest, call.missing);
  return result;
}

export function registerFeatureMethods(server: McpServer): void {
  const lists = new Map<string, { version: number; items: Record<string, unknown>[] }>();
  const cached = (key: string, build: () => Record<string, unknown>[]) => {
    const hit = lists.get(key);
    if (hit && hit.version === server.version) return hit.items;
    const items = build();
    lists.set(key, { version: server.version, items });
    return items;
  };
  const page = (key: string, call: Call, items: readonly Record<string, unknown>[]): Result => {
    const { page: slice, nextCursor } = paginate(items, call.params.cursor, server.pageSize, key);
    const result: Result = { [key]: slice };
    if (nextCursor !== undefined) result.nextCursor = nextCursor;
    return result;
  };

  // ---------------------------------------------------------------- tools
  server.method('tools/list', async (call) =>
    page(
      'tools',
      call,
      cached('tools', () => [...server.tools.values()].map((t) => t.wire)),
    ),
  );

  server.method('tools/call', async (call) => {
    const name = call.params.name;
    if (typeof name !== 'string') throw new InvalidParamsError('tools/call requires a string "name"');
    const tool = server.tools.get(name);
    if (!tool) throw new InvalidParamsError(`Unknown tool: ${name}`);
    call.target = name;
    checkScopes(call, tool.scopes);
    const rawArgs = call.params.arguments ?? {};
    if (!isObject(rawArgs)) throw new InvalidParamsError('tools/call "arguments" must be an object');
    const tasks = server.tasks;
    const asTask = tasks !== undefined && tool.taskSupport !== 'forbidden' && tasks.declared(call);
    if (tool.taskSupport === 'required' && call.era === 'modern' && !asTask) {
      throw new MissingClientCapabilityError({ extensions: { [TASKS_EXTENSION]: {} } });
    }
    const toolError = (err: unknown) => {
      call.logger.debug({ err, tool: name }, 'tool handler threw');
      // The message goes to the client and the model: strip credentials a driver may have put in it.
      return errorResult(redact(err instanceof Error ? err.message : String(err))) as Result;
    };
    const execute = async (ctx: Call, args: Record<string, unknown>): Promise<Result> => {
      try {
        return (await toToolResult(tool, await tool.handler(args, ctx))) as Result;
      } catch (err) {
        if (
          err instanceof McpError ||
          err instanceof InputRequired ||
          err instanceof TaskStarted ||
          ctx !== call
        )
          throw err;
        return toolError(err);
      }
    };
    return withInputs(
      server,
      call,
      rawArgs,
      async () => {
        let args = rawArgs;
        if (tool.input) {
          const checked = await tool.input.validate(rawArgs);
          if (!checked.ok)
            return errorResult(`Invalid arguments for tool ${name}: ${checked.message}`) as Result;
          args = checked.value as Record<string, unknown>;
        }
        if (asTask && tasks) {
          const wrap = async (taskCall: Call, work: () => Promise<unknown>): Promise<Result> => {
            try {
              return (await toToolResult(tool, (await work()) as never)) as Result;
            } catch (err) {
              if (err instanceof McpError) throw err;
              return toolError(err);
            }
          };
          if (tool.deferTask) {
            // The handler gathers input first (input_required), then calls ctx.runTask().
            call.taskRunner = (work) => {
              throw new TaskStarted(tasks.start(call, (taskCall) => wrap(taskCall, () => work(taskCall))));
            };
          } else {
            return tasks.start(call, (taskCall) =>
              wrap(taskCall, () => tool.handler(args, taskCall) as Promise<unknown>),
            );
          }
        }
        return execute(call, args);
      },
      (err) => {
        call.logger.debug({ err, tool: name }, 'tool handler threw');
        return errorResult(err instanceof Error ? err.message : String(err)) as Result;
      },
    );
  });

  // ---------------------------------------------------------------- resources
  server.method('resources/list', async (call) => {
    const statics = cached('resources', () => [...server.resources.values()].map((r) => r.wire));
    const dynamic: Record<string, unknown>[] = [];
    for (const template of server.templates) if (template.list) dynamic.push(...(await template.list(call)));
    return page('resources', call, dynamic.length === 0 ? statics : [...statics, ...dynamic]);
  });

  server.method('resources/templates/list', async (call) =>
    page(
      'resourceTemplates',
      call,
      cached('resourceTemplates', () => server.templates.map((t) => t.wire)),
    ),
  );

  server.method('resources/read', async (call) => {
    const uri = call.params.uri;
    if (typeof uri !== 'string' || uri.length === 0)
      throw new InvalidParamsError('resources/read requires a string "uri"');
    call.target = uri;
    const resource = server.resources.get(uri);
    if (resource) {
      checkScopes(call, resource.scopes);
      return withInputs(
        server,
        call,
        uri,
        async () => toReadResult(uri, resource.mimeType, await resource.read(uri, call)) as Result,
      );
    }
    for (const template of server.templates) {
      const variables = template.template.match(uri);
      if (!variables) continue;
      checkScopes(call, template.scopes);
      call.state.set('mcpkit.resourceTemplate', template.template.template);
      return withInputs(
        server,
        call,
        uri,
        async () => toReadResult(uri, template.mimeType, await template.read(uri, variables, call)) as Result,
      );
    }
    // 2026-07-28 uses -32602 for an unknown resource; earlier versions used -32002.
    const code = call.era === 'modern' ? ErrorCode.InvalidParams : ErrorCode.ResourceNotFoundLegacy;
    throw new McpError(code, 'Resource not found', { uri });
  });

  server.method('resources/subscribe', async (call) => {
    const uri = call.params.uri;
    if (typeof uri !== 'string') throw new InvalidParamsError('resources/subscribe requires a string "uri"');
    const session = call.exchange.session;
    if (session) {
      if (session.subscriptions.size >= 1000 && !session.subscriptions.has(uri)) {
        throw new InvalidParamsError('Too many resource subscriptions on this session (max 1000)');
      }
      session.subscriptions.add(uri);
    }
    return {};
  });
  server.method('resources/unsubscribe', async (call) => {
    const uri = call.params.uri;
    if (typeof uri !== 'string')
      throw new InvalidParamsError('resources/unsubscribe requires a string "uri"');
    call.exchange.session?.subscriptions.delete(uri);
    return {};
  });

  // ---------------------------------------------------------------- prompts
  server.method('prompts/list', async (call) =>
    page(
      'prompts',
      call,
      cached('prompts', () => [...server.prompts.values()].map((p) => p.wire)),
    ),
  );

  server.method('prompts/get', async (call) => {
    const name = call.params.name;
    if (typeof name !== 'string') throw new InvalidParamsError('prompts/get requires a string "name"');
    const prompt = server.prompts.get(name);
    if (!prompt) throw new InvalidParamsError(`Unknown prompt: ${name}`);
    call.target = name;
    checkScopes(call, prompt.scopes);
    let args = checkPromptArgs(prompt, call.params.arguments);
    if (prompt.args) {
      const checked = await prompt.args.validate(args);
      if (!checked.ok)
        throw new InvalidParamsError(`Invalid arguments for prompt ${name}: ${checked.message}`);
      args = checked.value as Record<string, unknown>;
    }
    return withInputs(
      server,
      call,
      args,
      async () =>
        toPromptResult(await prompt.get(args, call), prompt.wire.description as string | undefined) as Result,
    );
  });

  // ---------------------------------------------------------------- completions
  server.method('completion/complete', async (call) => {
    const ref = call.params.ref;
    const argument = call.params.argument;
    if (
      !isObject(ref) ||
      !isObject(argument) ||
      typeof argument.name !== 'string' ||
      typeof argument.value !== 'string'
    ) {
      throw new InvalidParamsError('completion/complete requires ref and argument {name, value}');
    }
    const context =
      isObject(call.params.context) && isObject(call.params.context.arguments)
        ? (call.params.context.arguments as Record<string, string>)
        : {};
    let completer:
      | ((value: string, context: Record<string, string>, call: Call) => string[] | Promise<string[]>)
      | undefined;
    if (ref.type === 'ref/prompt') {
      const prompt = typeof ref.name === 'string' ? server.prompts.get(ref.name) : undefined;
      if (!prompt) throw new InvalidParamsError(`Unknown prompt: ${String(ref.name)}`);
      call.target = prompt.name;
      completer = prompt.complete?.[argument.name];
    } else if (ref.type === 'ref/resource') {
      const template: RegisteredTemplate | undefined = server.templates.find(
        (t) => t.template.template === ref.uri,
      );
      if (!template && !server.resources.has(String(ref.uri)))
        throw new InvalidParamsError(`Unknown resource template: ${String(ref.uri)}`);
      call.target = String(ref.uri);
      completer = template?.complete?.[argument.name];
    } else {
      throw new InvalidParamsError(`Unknown completion ref type: ${String(ref.type)}`);
    }
    const all = completer ? await completer(argument.value, context, call) : [];
    const values = all.slice(0, 100);
    return { completion: { values, total: all.length, hasMore: all.length > values.length } };
  });

  // ---------------------------------------------------------------- 2026-07-28 subscriptions
  server.method('subscriptions/listen', (call) => listen(server, call));
}

function listen(server: McpServer, call: Call): Promise<Result> {
  const requested = call.params.notifications;
  if (!isObject(requested))
    throw new InvalidParamsError('subscriptions/listen requires a "notifications" filter object');
  const caps = server.capabilities();
  const ack: SubscriptionFilter = {};
  if (requested.toolsListChanged === true && caps.tools) ack.toolsListChanged = true;
  if (requested.promptsListChanged === true && caps.prompts) ack.promptsListChanged = true;
  if (requested.resourcesListChanged === true && caps.resources) ack.resourcesListChanged = true;
  let uris: Set<string> | undefined;
  if (requested.resourceSubscriptions !== undefined) {
    const list = requested.resourceSubscriptions;
    if (!Array.isArray(list) || list.length > 1000 || !list.every((u) => typeof u === 'string')) {
      throw new InvalidParamsError('resourceSubscriptions must be an array of at most 1000 URI strings');
    }
    if (caps.resources) {
      ack.resourceSubscriptions = list as string[];
      uris = new Set(list as string[]);
    }
  }
  const subscriptionMeta = { [META.subscriptionId]: call.requestId };
  return new Promise<Result>((resolve, reject) => {
    let unsubscribe: () => void = () => {};
    let offClose: () => void = () => {};
    const finish = (graceful: boolean) => {
      unsubscribe();
      offClose();
      call.signal.removeEventListener('abort', onAbort);
      if (graceful) resolve({ _meta: subscriptionMeta });
      else reject(call.signal.reason ?? new Error('subscription aborted'));
    };
    const onAbort = () => finish(false);
    if (call.signal.aborted) return finish(false);
    call.signal.addEventListener('abort', onAbort, { once: true });
    // Acknowledge first: nothing may be sent on this subscription before it.
    call.exchange
      .notify('notifications/subscriptions/acknowledged', { _meta: subscriptionMeta, notifications: ack })
      .then(
        () => {
          if (call.signal.aborted) return;
          unsubscribe = server.bus.subscribe((event) => {
            let params: Record<string, unknown> | undefined;
            if (event.type === 'resources/updated') {
              if (uris?.has(event.uri)) params = { _meta: subscriptionMeta, uri: event.uri };
            } else if (
              (event.type === 'tools/list_changed' && ack.toolsListChanged) ||
              (event.type === 'prompts/list_changed' && ack.promptsListChanged) ||
              (event.type === 'resources/list_changed' && ack.resourcesListChanged)
            ) {
              params = { _meta: subscriptionMeta };
            }
            if (params)
              call.exchange.notify(NOTIFICATION_METHOD[event.type], params).catch(() => finish(false));
          });
          offClose = server.onClose(() => finish(true));
        },
        () => finish(false),
      );
  });
}
