import type { ChangeEvent, NotificationBus } from '../server/notifications.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { type RedisConnection, errorMessage } from './connection.js';

const EVENT_TYPES = new Set([
  'tools/list_changed',
  'prompts/list_changed',
  'resources/list_changed',
  'resources/updated',
]);

/**
 * Change events shared by every replica over one Redis pub/sub channel. A publish reaches this
 * process's listeners at once (in order, even while Redis is down) and the other replicas through
 * Redis; each event carries `<replicaId>:<n>` as its id, which tells a replica to skip its own
 * events coming back and lets copies of one legacy session hear an event exactly once.
 *
 * Pub/sub is at-most-once: events published while a replica is disconnected do not reach it.
 */
export class RedisNotificationBus implements NotificationBus {
  readonly channel: string;
  /** Resolves once the channel is subscribed (it keeps retrying on reconnect if this fails). */
  readonly ready: Promise<void>;
  private readonly listeners = new Set<(event: ChangeEvent) => void>();
  private readonly logger: Logger;
  private counter = 0;
  private off: (() => void) | undefined;
  private closed = false;

  constructor(
    readonly connection: RedisConnection,
    options: { channel?: string; logger?: Logger } = {},
  ) {
    this.channel = options.channel ?? connection.channel('bus');
    this.logger = options.logger ?? silentLogger;
    this.ready = connection
      .subscribe(this.channel, (raw) => this.receive(raw), { keep: true })
      .then(
        (off) => {
          if (this.closed) off();
          else this.off = off;
        },
        () => {},
      );
  }

  /** Never rejects: a Redis failure is logged and the event still reaches this process's listeners. */
  async publish(event: ChangeEvent): Promise<void> {
    const stamped: ChangeEvent = { ...event, id: `${this.connection.replicaId}:${++this.counter}` };
    this.deliver(stamped);
    if (this.closed) return;
    try {
      await this.connection.publish(
        this.channel,
        JSON.stringify({ o: this.connection.replicaId, e: stamped }),
      );
    } catch (err) {
      this.logger.warn(
        { err: errorMessage(err), event: event.type },
        'change event not shared with other replicas',
      );
    }
  }

  subscribe(listener: (event: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get size(): number {
    return this.listeners.size;
  }

  /** Stops listening; the connection stays open (its owner closes it). */
  async close(): Promise<void> {
    this.closed = true;
    this.off?.();
    this.off = undefined;
    this.listeners.clear();
  }

  private receive(raw: string): void {
    let parsed: { o?: unknown; e?: unknown };
    try {
      parsed = JSON.parse(raw) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.o === this.connection.replicaId) return;
    const event = parsed.e as ChangeEvent | undefined;
    if (typeof event !== 'object' || event === null || !EVENT_TYPES.has(event.type)) return;
    if (event.type === 'resources/updated' && typeof event.uri !== 'string') return;
    this.deliver(event);
  }

  private deliver(event: ChangeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // One broken subscriber must not starve the others.
      }
    }
  }
}
