import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import { InvalidOptionError, LocalError } from '../protocol/errors.js';
import { type Logger, silentLogger } from '../util/logger.js';

export interface RedisConnectionOptions {
  /** A Redis URL (redis:// or rediss://); the connection creates and closes its clients. Give this or `client`. */
  url?: string;
  /**
   * An ioredis client you own, used for commands (prefer `enableOfflineQueue: false`); the
   * subscriber is `client.duplicate()`. Closing the connection closes only the duplicate.
   */
  client?: Redis;
  /** Extra ioredis options for clients created from `url`. */
  redisOptions?: RedisOptions;
  /** Prefix of every key and channel (default `mcpkit:`). */
  keyPrefix?: string;
  /** Longest a command may take, and how long a request waits for a dropped connection to come back (default 1000 ms). */
  timeoutMs?: number;
  /** Names this process in cross-replica messages (default: random). */
  replicaId?: string;
  logger?: Logger;
}

export interface RedisHealth {
  healthy: boolean;
  message: string;
}

/** Redis could not answer in time (down, reconnecting, timed out). */
export class RedisUnavailableError extends LocalError {
  override name = 'RedisUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRANSPORT', message, options);
  }
}

type Handler = (message: string) => void;

/**
 * One process's link to Redis: a command client and one subscriber client, shared by the bus,
 * the event store and the session store. Both reconnect with capped backoff. Pub/sub channels
 * are multiplexed over the subscriber (one SUBSCRIBE per channel however many listeners) and
 * re-subscribed whenever it reconnects; `onResubscribe` listeners then catch up on what they
 * may have missed meanwhile.
 */
export class RedisConnection {
  readonly command: Redis;
  readonly subscriber: Redis;
  readonly prefix: string;
  readonly replicaId: string;
  readonly timeoutMs: number;
  private readonly logger: Logger;
  private readonly ownsCommand: boolean;
  private readonly channels = new Map<string, Set<Handler>>();
  private readonly resubscribeListeners = new Set<() => void>();
  /** When each client last left the ready state (undefined while ready or before the first connect). */
  private readonly downSince = new Map<Redis, number>();
  private closed = false;

  constructor(options: RedisConnectionOptions) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidOptionError('options', 'must be an object with `url` or `client`');
    const { url, client } = options;
    if ((url === undefined) === (client === undefined))
      throw new InvalidOptionError(
        'url',
        'give exactly one of `url` (a redis:// URL) or `client` (an ioredis client)',
      );
    if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url)))
      throw new InvalidOptionError('url', `must be a redis:// or rediss:// URL, got ${String(url)}`);
    if (client !== undefined && typeof (client as { duplicate?: unknown }).duplicate !== 'function') {
      throw new InvalidOptionError('client', 'must be an ioredis Redis instance (Cluster is not supported)');
    }
    const prefix = options.keyPrefix ?? 'mcpkit:';
    if (typeof prefix !== 'string' || /[{}\s]/.test(prefix))
      throw new InvalidOptionError('keyPrefix', 'must be a string without braces or spaces');
    const timeoutMs = options.timeoutMs ?? 1000;
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new InvalidOptionError('timeoutMs', 'must be a positive number of milliseconds');
    const replicaId = options.replicaId ?? randomBytes(6).toString('base64url');
    if (typeof replicaId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(replicaId))
      throw new InvalidOptionError('replicaId', 'must be 1-64 characters of [A-Za-z0-9_-]');
    this.prefix = prefix;
    this.timeoutMs = timeoutMs;
    this.replicaId = replicaId;
    this.logger = options.logger ?? silentLogger;
    this.ownsCommand = client === undefined;
    this.command = client ?? createClient(url as string, options.redisOptions);
    // The subscriber queues nothing offline either: channels are (re)subscribed on every ready.
    this.subscriber = this.command.duplicate({
      enableOfflineQueue: false,
      autoResubscribe: false,
      maxRetriesPerRequest: 1,
    });
    // Start-up counts as a just-dropped connection: requests wait for it up to the timeout.
    for (const [c, role] of [
      [this.command, 'command'],
      [this.subscriber, 'subscriber'],
    ] as const) {
      if (c.status !== 'ready') this.downSince.set(c, Date.now());
      this.watch(c, role);
    }
    this.subscriber.on('message', (channel: string, message: string) => {
      for (const handler of this.channels.get(channel) ?? []) {
        try {
          handler(message);
        } catch (err) {
          this.logger.warn({ err: errorMessage(err), channel }, 'redis message handler failed');
        }
      }
    });
    this.subscriber.on('ready', () => this.resubscribe());
  }

  /** `<prefix><kind>:{<id>}`: the braces keep all keys of one id in one Redis Cluster slot. */
  key(kind: string, id: string): string {
    return `${this.prefix}${kind}:{${id.replace(/[{}]/g, '_')}}`;
  }

  channel(kind: string, id?: string): string {
    return id === undefined ? `${this.prefix}${kind}` : `${this.prefix}${kind}:${id}`;
  }

  /** Runs a command on the command client once it is ready, bounded by the timeout. */
  async run<T>(what: string, command: (client: Redis) => Promise<T>): Promise<T> {
    await this.ready(this.command, what);
    return withTimeout(command(this.command), this.timeoutMs, what);
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.run('publish', (c) => c.publish(channel, message));
  }

  /**
   * Calls `handler` with every message on `channel` until the returned function is called.
   * Resolves once Redis confirmed the subscription. With `keep`, a failure does not undo the
   * registration: the channel is subscribed as soon as the subscriber is ready again.
   */
  async subscribe(channel: string, handler: Handler, options: { keep?: boolean } = {}): Promise<() => void> {
    if (this.closed) throw new RedisUnavailableError('redis connection closed');
    let handlers = this.channels.get(channel);
    const first = !handlers;
    if (!handlers) {
      handlers = new Set();
      this.channels.set(channel, handlers);
    }
    handlers.add(handler);
    const off = () => {
      const set = this.channels.get(channel);
      if (!set?.delete(handler) || set.size > 0) return;
      this.channels.delete(channel);
      if (this.subscriber.status === 'ready') this.subscriber.unsubscribe(channel).catch(() => {});
    };
    try {
      // Later listeners of a channel still wait for the confirmation: SUBSCRIBE is idempotent.
      await this.ready(this.subscriber, 'subscribe');
      await withTimeout(this.subscriber.subscribe(channel), this.timeoutMs, 'subscribe');
    } catch (err) {
      if (!options.keep) off();
      else if (first)
        this.logger.warn({ err: errorMessage(err), channel }, 'redis subscribe failed; retried on reconnect');
      throw err instanceof RedisUnavailableError
        ? err
        : new RedisUnavailableError(`redis subscribe failed: ${errorMessage(err)}`, { cause: err });
    }
    return off;
  }

  /** Called after the subscriber reconnected and re-subscribed: messages sent meanwhile were lost. */
  onResubscribe(listener: () => void): () => void {
    this.resubscribeListeners.add(listener);
    return () => this.resubscribeListeners.delete(listener);
  }

  /** For /ready: both clients connected and a PING answered in time. */
  async health(): Promise<RedisHealth> {
    try {
      if (this.subscriber.status !== 'ready') throw new Error(`subscriber ${this.subscriber.status}`);
      const pong = await withTimeout(this.command.ping(), this.timeoutMs, 'ping');
      if (pong !== 'PONG') throw new Error(`unexpected PING reply ${String(pong)}`);
      return { healthy: true, message: 'redis reachable' };
    } catch (err) {
      return { healthy: false, message: `redis unreachable: ${errorMessage(err)}` };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channels.clear();
    this.resubscribeListeners.clear();
    await Promise.all([
      quit(this.subscriber, this.timeoutMs),
      this.ownsCommand ? quit(this.command, this.timeoutMs) : undefined,
    ]);
  }

  /**
   * Waits for a client to be ready: at start-up, and for a connection lost less than `timeoutMs`
   * ago (a blip or failover). A longer outage fails at once instead of adding the wait to every request.
   */
  private async ready(client: Redis, what: string): Promise<void> {
    if (client.status === 'ready') return;
    if (this.closed || client.status === 'end')
      throw new RedisUnavailableError(`redis ${what}: connection closed`);
    const since = this.downSince.get(client);
    const left = since === undefined ? this.timeoutMs : this.timeoutMs - (Date.now() - since);
    if (left <= 0) throw new RedisUnavailableError(`redis ${what}: not connected (${client.status})`);
    if (client.status === 'wait') client.connect().catch(() => {});
    await withTimeout(
      new Promise<void>((resolve) => client.once('ready', () => resolve())),
      left,
      `redis ${what}: waiting for the connection`,
    );
  }

  private resubscribe(): void {
    const channels = [...this.channels.keys()];
    if (channels.length === 0) return;
    this.subscriber.subscribe(...channels).then(
      () => {
        for (const listener of this.resubscribeListeners) listener();
      },
      (err: unknown) => this.logger.warn({ err: errorMessage(err) }, 'redis resubscribe failed'),
    );
  }

  private watch(client: Redis, role: string): void {
    let wasReady = client.status === 'ready';
    let everReady = wasReady;
    // Without an error listener ioredis prints every connection error itself.
    client.on('error', (err: Error) => this.logger.debug({ err: err.message, role }, 'redis client error'));
    client.on('ready', () => {
      if (everReady) this.logger.info({ role }, 'redis connection restored');
      this.downSince.delete(client);
      wasReady = true;
      everReady = true;
    });
    client.on('close', () => {
      if (!wasReady || this.closed) return;
      wasReady = false;
      this.downSince.set(client, Date.now());
      this.logger.warn({ role }, 'redis connection lost; reconnecting');
    });
  }
}

/** ioredis is an optional peer: it is loaded only when a connection is made from a URL. */
function createClient(url: string, extra: RedisOptions | undefined): Redis {
  let mod: { Redis?: typeof Redis; default?: typeof Redis };
  try {
    mod = createRequire(import.meta.url)('ioredis') as typeof mod;
  } catch (err) {
    throw new InvalidOptionError(
      'url',
      `Redis needs the optional peer ioredis (npm i ioredis): ${errorMessage(err)}`,
    );
  }
  const RedisCtor = (mod.Redis ?? mod.default) as typeof Redis;
  return new RedisCtor(url, {
    // Fail fast during an outage (the caller answers 503 or degrades) instead of queueing commands.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    ...extra,
  });
}

async function quit(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  try {
    await withTimeout(client.quit(), timeoutMs, 'quit');
    await withTimeout(ended, timeoutMs, 'close');
  } catch {
    client.disconnect();
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError(`${what} timed out after ${ms} ms`)), ms);
  });
  // A late answer or error after the timeout must not surface as an unhandled rejection.
  p.catch(() => {});
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
