import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RateLimitOptions } from '../ratelimit/middleware.js';
import type { McpServer } from '../server/server.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { HttpIO } from '../transport/http/io.js';
import type { NodeHandlerOptions } from '../transport/http/node.js';
import type { EventStore } from '../transport/http/sessions.js';
import type { AuthInfo } from '../transport/types.js';
import type { Logger } from '../util/logger.js';
import { ConfigError, type RuntimeConfig } from './config.js';
import type { HealthChecks } from './health.js';
import type { RuntimeLogger } from './logging.js';

export interface ServeFeatureOptions {
  /** Prometheus metrics at /metrics (needs prom-client). Default true; off silently if prom-client is missing. */
  metrics?: boolean;
  /** Per-tool/resource/prompt limits and options; the global limit comes from MCP_RATE_LIMIT_*. false disables. */
  rateLimit?: Omit<RateLimitOptions, 'store'> | false;
  /** One structured log line per request (default true). */
  accessLog?: boolean;
  /** Audit log of tool calls: true (to the main log, module "audit") or a file path. */
  auditLog?: boolean | string;
}

export interface Features {
  readonly names: string[];
  readonly metrics: Metrics | undefined;
  readonly audit: Logger | undefined;
  readonly authenticate: ((io: HttpIO) => Promise<AuthInfo | undefined>) | undefined;
  readonly errorChallenge: NodeHandlerOptions['errorChallenge'];
  readonly wellKnown: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  readonly eventStore: EventStore | undefined;
  close(): Promise<void>;
}

/**
 * Turns configuration into middleware and services. Optional peers (prom-client, ioredis,
 * jose) are imported only when the feature that needs them is on.
 */
export async function enableFeatures(
  server: McpServer,
  config: RuntimeConfig,
  options: ServeFeatureOptions,
  logger: RuntimeLogger,
  health: HealthChecks,
): Promise<Features> {
  const names: string[] = [];
  const closers: Array<() => Promise<unknown> | unknown> = [];
  let metrics: Metrics | undefined;
  let audit: Logger | undefined;
  let authenticate: Features['authenticate'];
  let errorChallenge: Features['errorChallenge'];
  let wellKnown: Features['wellKnown'];
  let eventStore: EventStore | undefined;
  let redis: import('../redis/scaling.js').RedisScaling | undefined;

  if (config.redisUrl) {
    // One connection set per process for sessions, SSE events, change events and rate limits.
    const { RedisScaling } = await import('../redis/scaling.js');
    try {
      redis = new RedisScaling({ url: config.redisUrl, logger: logger.module('redis') });
    } catch (err) {
      throw new ConfigError('MCP_REDIS_URL', (err as Error).message);
    }
    const scaling = redis;
    scaling.install(server);
    eventStore = scaling.eventStore;
    health.add('redis', () => scaling.health());
    names.push('redis');
  }

  if (options.metrics !== false) {
    try {
      const telemetry = await import('../telemetry/index.js');
      metrics = telemetry.createMetrics({
        knownTools: () => new Set(server.tools.keys()),
        knownPrompts: () => new Set(server.prompts.keys()),
      });
      // Outermost: it times and counts everything the other layers do, rate-limit rejections included.
      server.use(metrics.middleware);
      names.push('metrics');
      if (config.metricsEndpoint) {
        const writer = new telemetry.RemoteWriter({
          url: config.metricsEndpoint,
          registry: metrics.registry,
          logger: logger.module('telemetry'),
        }).start();
        closers.push(() => writer.stop());
        names.push('remote-write');
      }
    } catch (err) {
      if (options.metrics === true || config.metricsEndpoint) {
        throw new ConfigError(
          'MCP_METRICS_ENDPOINT',
          `metrics need the optional peer prom-client (npm i prom-client): ${(err as Error).message}`,
        );
      }
      logger
        .module('runtime')
        .warn({ err: (err as Error).message }, 'metrics disabled: prom-client is not installed');
    }
  }

  if (config.oauth) {
    const auth = await import('../auth/index.js').catch((err: Error) => {
      throw new ConfigError(
        'MCP_OAUTH_ISSUER',
        `OAuth needs the optional peer jose (npm i jose): ${err.message}`,
      );
    });
    const { issuer, audience } = config.oauth;
    const resourceMetadataUrl = auth.resourceMetadataUrlFor(audience);
    const bearer = auth.bearerAuth({ issuer, audience, resourceMetadataUrl });
    authenticate = (io) => bearer(io) as Promise<AuthInfo | undefined>;
    errorChallenge = bearer.errorChallenge;
    wellKnown = auth.protectedResourceMetadataHandler({ resource: audience, authorizationServers: [issuer] });
    names.push('oauth');
  }

  const limits = options.rateLimit === false ? undefined : options.rateLimit;
  if (
    options.rateLimit !== false &&
    (config.rateLimit || limits?.tools || limits?.resources || limits?.prompts || limits?.global)
  ) {
    const rl = await import('../ratelimit/index.js');
    let store: import('../ratelimit/store.js').RateLimitStore | undefined;
    if (redis) {
      // Shares the scaling connection (the store never closes a client it was given).
      store = new rl.RedisRateLimitStore({
        client: redis.connection.command,
        logger: logger.module('ratelimit'),
      });
    }
    const global = config.rateLimit
      ? new rl.RateLimitConfig(config.rateLimit.requests, config.rateLimit.windowSecs * 1000).withBurst(
          config.rateLimit.burst ?? config.rateLimit.requests,
        )
      : limits?.global;
    const limiter = rl.rateLimit({ ...limits, global, store });
    server.use(limiter);
    health.add('ratelimit', () => limiter.health());
    names.push(config.redisUrl ? 'ratelimit(redis)' : 'ratelimit(memory)');
  }

  if (options.auditLog) {
    if (typeof options.auditLog === 'string') {
      const pino = (await import('pino')).default;
      const destination = pino.destination({ dest: options.auditLog, mkdir: true, sync: false });
      audit = pino(
        { base: { stream: 'audit' }, timestamp: pino.stdTimeFunctions.isoTime },
        destination,
      ) as unknown as Logger;
      closers.push(() => destination.flushSync());
    } else {
      audit = logger.module('audit');
    }
    names.push('audit');
  }

  // Last to close: the rate limiter shares its client.
  if (redis) closers.push(() => redis?.close());

  return {
    names,
    metrics,
    audit,
    authenticate,
    errorChallenge,
    wellKnown,
    eventStore,
    async close() {
      for (const close of closers) {
        try {
          await close();
        } catch (err) {
          logger.module('runtime').warn({ err }, 'feature shutdown failed');
        }
      }
    },
  };
}
