import { InvalidOptionError, type RateLimitInfo, RateLimitedError } from '../protocol/errors.js';
import type { CallContext, Middleware, Result } from '../server/middleware.js';
import { type RateLimitAction, RateLimitConfig, type RateLimitConfigOptions } from './config.js';
import { boundKey, defaultRateLimitKey } from './keys.js';
import { MemoryRateLimitStore } from './memory-store.js';
import { type RateLimitCounters, type RateLimitStats, StatsCollector } from './stats.js';
import type { LimitRequest, RateLimitResult, RateLimitStore, StoreHealth } from './store.js';

export type RateLimitConfigInput = RateLimitConfig | RateLimitConfigOptions;

/**
 * Methods never limited by default: liveness and handshakes (limiting them only breaks
 * clients before they can send anything useful) and notifications (nothing to answer with an
 * error). `x/*` matches every method starting with `x/`.
 */
export const DEFAULT_EXEMPT_METHODS: readonly string[] = [
  'ping',
  'initialize',
  'server/discover',
  'notifications/*',
];

export interface RateLimitOptions {
  /** Applies to every non-exempt request. */
  global?: RateLimitConfigInput | undefined;
  /** Per tool name, for `tools/call`; `'*'` gives each tool not listed its own limit. */
  tools?: Readonly<Record<string, RateLimitConfigInput>> | undefined;
  /** Per resource URI, for `resources/read`; `'*'` as for tools. */
  resources?: Readonly<Record<string, RateLimitConfigInput>> | undefined;
  /** Per prompt name, for `prompts/get`; `'*'` as for tools. */
  prompts?: Readonly<Record<string, RateLimitConfigInput>> | undefined;
  /** Who a request counts against; returning undefined falls back to {@link defaultRateLimitKey}. */
  key?: ((ctx: CallContext) => string | undefined) | undefined;
  /** Default: a {@link MemoryRateLimitStore} (10,000 keys). */
  store?: RateLimitStore | undefined;
  /** Methods never limited; replaces {@link DEFAULT_EXEMPT_METHODS} (spread it to extend). */
  exempt?: readonly string[] | undefined;
  /** Longest a `wait` limit delays a request before rejecting it (default 5000 ms). */
  maxWaitMs?: number | undefined;
  /** Called once per applicable limit when a request is decided, e.g. to feed metrics. */
  onDecision?: ((decision: RateLimitDecision) => void) | undefined;
}

export interface RateLimitDecision {
  /** `global`, `tool:<name>`, `resource:<uri>` or `prompt:<name>`. */
  scope: string;
  /** The configured limit the scope comes from (`tool:*` for the tools wildcard). */
  rule: string;
  key: string;
  method: string;
  target: string | undefined;
  action: RateLimitAction;
  /** The request went through. */
  allowed: boolean;
  /** This limit was exceeded (with `warn`, the request still went through). */
  exceeded: boolean;
  waitedMs: number;
  storeError: boolean;
  result: RateLimitResult;
}

export type RateLimitMiddleware = Middleware & {
  stats(): RateLimitStats;
  health(): Promise<StoreHealth>;
  readonly store: RateLimitStore;
};

/** Where the admitted request's tightest limit is left in `ctx.state`, for response headers. */
export const RATE_LIMIT_STATE_KEY: unique symbol = Symbol.for('mcpkit.ratelimit.info');

/** The info attached to errors and `ctx.state`: the draft headers' policy also needs the window. */
export type RateLimitDetails = RateLimitInfo & { windowMs: number };

interface Rule {
  readonly config: RateLimitConfig;
  readonly name: string;
}

interface Applicable {
  scope: string;
  rule: Rule;
}

/**
 * Inbound rate limiting for the server's middleware chain.
 *
 * ```ts
 * const limiter = rateLimit({
 *   global: RateLimitConfig.fromEnv(),                        // off unless MCP_RATE_LIMIT_REQUESTS is set
 *   tools: {
 *     query_database: new RateLimitConfig(10, 60_000),        // 10/min
 *     get_status: new RateLimitConfig(100, 60_000).withAction('warn'),
 *   },
 *   store: new RedisRateLimitStore({ url: 'redis://redis:6379', onStoreError: 'fail-open' }),
 * });
 * ```
 *
 * Every limit that applies must pass: the global one and the one for the called tool, resource
 * or prompt. They are checked in one atomic store call, so a request rejected by one limit
 * consumes nothing from the others. Actions, per limit: `reject` throws {@link RateLimitedError}
 * (HTTP 429 with the headers from `rateLimitHeaders`); `wait` sleeps until the limit allows,
 * unless that would exceed `maxWaitMs` or the request is cancelled, and then rejects (without
 * sleeping first when the wait is known to be too long); `warn` lets the request through, logs
 * through `ctx.logger.warn` and does not consume the exceeded limit, so the warnings mark exactly
 * the requests `reject` would have refused. With no limits configured it is a pass-through.
 */
export function rateLimit(options: RateLimitOptions = {}): RateLimitMiddleware {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object');
  const global =
    options.global === undefined ? undefined : rule('global', RateLimitConfig.from(options.global, 'global'));
  const tools = table('tools', 'tool', options.tools);
  const resources = table('resources', 'resource', options.resources);
  const prompts = table('prompts', 'prompt', options.prompts);
  const keyFn = fn('key', options.key);
  const onDecision = fn('onDecision', options.onDecision);
  const maxWaitMs = options.maxWaitMs ?? 5000;
  if (
    typeof maxWaitMs !== 'number' ||
    !Number.isFinite(maxWaitMs) ||
    maxWaitMs < 0 ||
    maxWaitMs > 2_147_483_647
  ) {
    throw new InvalidOptionError(
      'maxWaitMs',
      `must be a number of milliseconds >= 0, got ${String(maxWaitMs)}`,
    );
  }
  const store = options.store ?? new MemoryRateLimitStore();
  if (typeof store !== 'object' || store === null || typeof store.consume !== 'function') {
    throw new InvalidOptionError('store', 'must implement RateLimitStore (a consume method)');
  }
  const isExempt = exemptMatcher(options.exempt ?? DEFAULT_EXEMPT_METHODS);

  const rules: Rule[] = [];
  if (global) rules.push(global);
  for (const t of [tools, resources, prompts]) {
    rules.push(...t.byName.values());
    if (t.wildcard) rules.push(t.wildcard);
  }
  const stats = new StatsCollector(rules.map((r) => r.name));

  const applicableFor = (ctx: CallContext): Applicable[] => {
    const out: Applicable[] = [];
    if (global) out.push({ scope: 'global', rule: global });
    const target = ctx.target;
    if (target === undefined) return out;
    const t =
      ctx.method === 'tools/call'
        ? tools
        : ctx.method === 'resources/read'
          ? resources
          : ctx.method === 'prompts/get'
            ? prompts
            : undefined;
    const r = t?.byName.get(target) ?? t?.wildcard;
    if (t && r) out.push({ scope: `${t.prefix}:${boundKey(target)}`, rule: r });
    return out;
  };

  const middleware = async (ctx: CallContext, next: () => Promise<Result>): Promise<Result> => {
    if (isExempt(ctx.method)) return next();
    const applicable = applicableFor(ctx);
    if (applicable.length === 0) return next();
    const key = boundKey(keyFn?.(ctx) ?? defaultRateLimitKey(ctx));
    const limits: LimitRequest[] = applicable.map((a) => ({
      scope: a.scope,
      policy: a.rule.config,
      blocking: a.rule.config.action !== 'warn',
    }));
    const started = performance.now();
    const waitedRules = new Set<string>();
    for (;;) {
      let results: RateLimitResult[];
      try {
        results = await store.consume(key, limits);
      } catch (err) {
        stats.storeFailure(applicable.map((a) => a.rule.name));
        throw err;
      }
      let worst = -1;
      let mustReject = false;
      for (let i = 0; i < results.length; i++) {
        const r = results[i] as RateLimitResult;
        const a = applicable[i] as Applicable;
        if (r.allowed || a.rule.config.action === 'warn') continue;
        if (a.rule.config.action === 'reject') mustReject = true;
        if (worst < 0 || r.retryAfterMs > (results[worst] as RateLimitResult).retryAfterMs) worst = i;
      }
      const waitedMs = Math.round(performance.now() - started);
      if (worst < 0) {
        finish(ctx, key, applicable, results, true, waitedMs, waitedRules);
        return next();
      }
      const delay = (results[worst] as RateLimitResult).retryAfterMs;
      if (!mustReject && !ctx.signal.aborted && waitedMs + delay <= maxWaitMs) {
        for (let i = 0; i < results.length; i++) {
          const a = applicable[i] as Applicable;
          if (!(results[i] as RateLimitResult).allowed && a.rule.config.action === 'wait')
            waitedRules.add(a.rule.name);
        }
        if (await sleep(delay, ctx.signal)) continue;
      }
      const info = details(applicable[worst] as Applicable, results[worst] as RateLimitResult);
      ctx.state.set(RATE_LIMIT_STATE_KEY, info);
      finish(ctx, key, applicable, results, false, Math.round(performance.now() - started), waitedRules);
      throw new RateLimitedError(info);
    }
  };

  function finish(
    ctx: CallContext,
    key: string,
    applicable: Applicable[],
    results: RateLimitResult[],
    admitted: boolean,
    waitedMs: number,
    waitedRules: Set<string>,
  ): void {
    let tightest = -1;
    for (let i = 0; i < applicable.length; i++) {
      const a = applicable[i] as Applicable;
      const r = results[i] as RateLimitResult;
      const exceeded = !r.allowed;
      stats.record(a.rule.name, {
        admitted,
        exceeded,
        blocking: a.rule.config.action !== 'warn',
        waited: waitedRules.has(a.rule.name),
        storeError: r.storeError === true,
      });
      if (admitted && exceeded) {
        ctx.logger.warn(
          {
            scope: a.scope,
            key,
            method: ctx.method,
            target: ctx.target,
            limit: r.limit,
            retryAfterMs: r.retryAfterMs,
          },
          'rate limit exceeded; request allowed (action: warn)',
        );
      }
      if (admitted && (tightest < 0 || r.remaining < (results[tightest] as RateLimitResult).remaining))
        tightest = i;
      if (onDecision) {
        const decision: RateLimitDecision = {
          scope: a.scope,
          rule: a.rule.name,
          key,
          method: ctx.method,
          target: ctx.target,
          action: a.rule.config.action,
          allowed: admitted,
          exceeded,
          waitedMs,
          storeError: r.storeError === true,
          result: r,
        };
        try {
          onDecision(decision);
        } catch (err) {
          ctx.logger.error({ err, scope: a.scope }, 'rate limit onDecision hook threw');
        }
      }
    }
    stats.request({
      admitted,
      warned: admitted && results.some((r) => !r.allowed),
      waited: waitedRules.size > 0,
      storeError: results.some((r) => r.storeError === true),
    });
    if (tightest >= 0)
      ctx.state.set(
        RATE_LIMIT_STATE_KEY,
        details(applicable[tightest] as Applicable, results[tightest] as RateLimitResult),
      );
  }

  return Object.assign(middleware, {
    store,
    stats: (): RateLimitStats => stats.snapshot(),
    health: async (): Promise<StoreHealth> =>
      store.health
        ? await store.health()
        : { name: store.name, healthy: true, message: 'store has no health check' },
  });
}

function details(a: Applicable, r: RateLimitResult): RateLimitDetails {
  return {
    scope: a.scope,
    limit: r.limit,
    remaining: r.remaining,
    resetMs: r.resetMs,
    retryAfterMs: r.retryAfterMs,
    windowMs: a.rule.config.windowMs,
  };
}

function rule(name: string, config: RateLimitConfig): Rule {
  return { name, config };
}

function table(
  option: string,
  prefix: string,
  value: Readonly<Record<string, RateLimitConfigInput>> | undefined,
): { prefix: string; byName: Map<string, Rule>; wildcard: Rule | undefined } {
  const byName = new Map<string, Rule>();
  let wildcard: Rule | undefined;
  if (value === undefined) return { prefix, byName, wildcard };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(option, 'must be an object mapping names to rate limit configs');
  }
  for (const [name, cfg] of Object.entries(value)) {
    if (name === '') throw new InvalidOptionError(option, 'names must not be empty');
    const r = rule(`${prefix}:${name}`, RateLimitConfig.from(cfg, `${option}.${name}`));
    if (name === '*') wildcard = r;
    else byName.set(name, r);
  }
  return { prefix, byName, wildcard };
}

function fn<F>(option: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function')
    throw new InvalidOptionError(option, 'must be a function');
  return value;
}

function exemptMatcher(patterns: readonly string[]): (method: string) => boolean {
  if (!Array.isArray(patterns)) throw new InvalidOptionError('exempt', 'must be an array of method names');
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of patterns) {
    if (typeof p !== 'string' || p === '')
      throw new InvalidOptionError('exempt', 'entries must be non-empty strings');
    if (p.endsWith('/*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  return (method) => exact.has(method) || prefixes.some((p) => method.startsWith(p));
}

/** Resolves true after `ms`, or false as soon as the request is cancelled. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
