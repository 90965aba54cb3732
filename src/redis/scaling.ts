import { InvalidOptionError } from '../protocol/errors.js';
import { MemoryNotificationBus } from '../server/notifications.js';
import type { McpServer } from '../server/server.js';
import { type SharedSessions, sharedSessionsOf, useSharedSessions } from '../transport/http/sessions.js';
import { RedisNotificationBus } from './bus.js';
import { RedisConnection, type RedisConnectionOptions, type RedisHealth } from './connection.js';
import { RedisEventStore, type RedisEventStoreOptions } from './event-store.js';
import { RedisSessionRouter, RedisSessionStore } from './session-store.js';

export interface RedisScalingOptions extends RedisConnectionOptions {
  eventStore?: Omit<RedisEventStoreOptions, 'logger'>;
  /**
   * Whether an unreachable Redis makes `/ready` fail (default true): such a replica cannot create
   * or resume sessions for other replicas nor fan out change events, so it asks the balancer to
   * prefer the others. Set false to keep every replica ready through a Redis outage (stateless
   * 2026-07-28 traffic does not need Redis) and report it as degraded instead.
   */
  required?: boolean;
}

/**
 * Everything a replica needs to share work with the others through one Redis: a change-event
 * bus, an SSE event store with live tails, a legacy session store and the session router, all on
 * one connection set (a command client and a subscriber).
 *
 * ```ts
 * const scaling = new RedisScaling({ url: process.env.REDIS_URL });
 * scaling.install(server);                      // bus + shared sessions for this server's handlers
 * http.createServer(createNodeListener(server, scaling.httpOptions()));
 * ```
 */
export class RedisScaling {
  readonly connection: RedisConnection;
  readonly bus: RedisNotificationBus;
  readonly eventStore: RedisEventStore;
  readonly sessionStore: RedisSessionStore;
  readonly sessionRouter: RedisSessionRouter;
  readonly required: boolean;
  private readonly installed = new Set<McpServer>();

  constructor(options: RedisScalingOptions) {
    const required = options.required ?? true;
    if (typeof required !== 'boolean') throw new InvalidOptionError('required', 'must be a boolean');
    this.required = required;
    this.connection = new RedisConnection(options);
    const logger = options.logger;
    this.bus = new RedisNotificationBus(this.connection, logger ? { logger } : {});
    this.eventStore = new RedisEventStore(
      this.connection,
      logger ? { ...options.eventStore, logger } : { ...options.eventStore },
    );
    this.sessionStore = new RedisSessionStore(this.connection);
    this.sessionRouter = new RedisSessionRouter(this.connection, logger ? { logger } : {});
  }

  get replicaId(): string {
    return this.connection.replicaId;
  }

  /** The shared session set, as `useSharedSessions` and the HTTP handler take it. */
  get sessions(): SharedSessions {
    return { store: this.sessionStore, router: this.sessionRouter, eventStore: this.eventStore };
  }

  /** Options for `createNodeListener` / `createFetchHandler` / `StreamableHttpHandler`. */
  httpOptions(): {
    eventStore: RedisEventStore;
    sessionStore: RedisSessionStore;
    sessionRouter: RedisSessionRouter;
  } {
    return {
      eventStore: this.eventStore,
      sessionStore: this.sessionStore,
      sessionRouter: this.sessionRouter,
    };
  }

  /**
   * Joins `server` to the cluster: its change events go through the Redis bus (a server built with
   * the default bus is relayed; one built with `bus: scaling.bus` already is), and HTTP handlers
   * created for it afterwards share legacy sessions. Returns the function that undoes it.
   */
  install(server: McpServer): () => void {
    const bus = server.bus;
    if (bus instanceof MemoryNotificationBus) bus.relayThrough(this.bus);
    else if (bus !== this.bus) {
      throw new InvalidOptionError(
        'bus',
        'the server has its own notification bus: build it with the default bus or with `bus: scaling.bus`',
      );
    }
    useSharedSessions(server, this.sessions);
    this.installed.add(server);
    return () => this.uninstall(server);
  }

  /** For `/ready`. */
  async health(): Promise<RedisHealth> {
    const health = await this.connection.health();
    if (health.healthy || this.required) return health;
    return {
      healthy: true,
      message: `degraded, ${health.message}; new legacy sessions get 503 and change events stay on this replica`,
    };
  }

  /** Undoes every `install` and closes the connection set. */
  async close(): Promise<void> {
    for (const server of [...this.installed]) this.uninstall(server);
    await this.bus.close();
    await this.connection.close();
  }

  private uninstall(server: McpServer): void {
    if (!this.installed.delete(server)) return;
    if (server.bus instanceof MemoryNotificationBus && server.bus.relay === this.bus)
      server.bus.relayThrough(undefined);
    if (sharedSessionsOf(server)?.store === this.sessionStore) useSharedSessions(server, undefined);
  }
}
