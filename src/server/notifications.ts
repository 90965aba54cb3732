/**
 * Server-side change events (list changes, resource updates) and who hears them. The
 * in-memory bus serves one process; a Redis bus (mcpkit/redis) implements the same
 * interface to fan events out to every replica.
 */
export type ChangeEvent = (
  | { type: 'tools/list_changed' }
  | { type: 'prompts/list_changed' }
  | { type: 'resources/list_changed' }
  | { type: 'resources/updated'; uri: string }
) & {
  /**
   * Unique per published event when the bus spans processes (set by the bus, not the publisher):
   * replicas that each hold a copy of one legacy session use it so the session hears the event once.
   */
  readonly id?: string;
};

export interface NotificationBus {
  publish(event: ChangeEvent): void | Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(listener: (event: ChangeEvent) => void): () => void;
  close?(): Promise<void>;
}

export class MemoryNotificationBus implements NotificationBus {
  private readonly listeners = new Set<(event: ChangeEvent) => void>();
  private backend: NotificationBus | undefined;
  private detachBackend: (() => void) | undefined;

  publish(event: ChangeEvent): void | Promise<void> {
    if (this.backend) return this.backend.publish(event);
    this.deliver(event);
  }

  subscribe(listener: (event: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Routes this bus through another one (e.g. a Redis bus shared by every replica): publishing here
   * publishes there, and whatever reaches the backend (from any process) reaches this bus's
   * listeners once. It is how a server built with the default bus joins a cluster after
   * construction, as `serve()` does for MCP_REDIS_URL. `undefined` detaches; the backend is not
   * closed (its owner closes it).
   */
  relayThrough(backend: NotificationBus | undefined): void {
    this.detachBackend?.();
    this.detachBackend = undefined;
    this.backend = backend;
    if (backend) this.detachBackend = backend.subscribe((event) => this.deliver(event));
  }

  /** The bus this one relays through, if any. */
  get relay(): NotificationBus | undefined {
    return this.backend;
  }

  async close(): Promise<void> {
    this.relayThrough(undefined);
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

  get size(): number {
    return this.listeners.size;
  }
}

export const NOTIFICATION_METHOD: Record<ChangeEvent['type'], string> = {
  'tools/list_changed': 'notifications/tools/list_changed',
  'prompts/list_changed': 'notifications/prompts/list_changed',
  'resources/list_changed': 'notifications/resources/list_changed',
  'resources/updated': 'notifications/resources/updated',
};

/**
 * The legacy-session notification an event turns into: list changes go to every session,
 * resource updates only to sessions subscribed to that URI.
 */
export function sessionNotification(
  event: ChangeEvent,
  subscriptions: ReadonlySet<string>,
): { method: string; params: Record<string, unknown> } | undefined {
  if (event.type === 'resources/updated') {
    return subscriptions.has(event.uri)
      ? { method: NOTIFICATION_METHOD[event.type], params: { uri: event.uri } }
      : undefined;
  }
  return { method: NOTIFICATION_METHOD[event.type], params: {} };
}
