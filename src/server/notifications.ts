/**
 * Server-side change events (list changes, resource updates) and who hears them. The
 * in-memory bus serves one process; a Redis bus (mcpkit/redis) implements the same
 * interface to fan events out to every replica.
 */
export type ChangeEvent =
  | { type: 'tools/list_changed' }
  | { type: 'prompts/list_changed' }
  | { type: 'resources/list_changed' }
  | { type: 'resources/updated'; uri: string };

export interface NotificationBus {
  publish(event: ChangeEvent): void | Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(listener: (event: ChangeEvent) => void): () => void;
  close?(): Promise<void>;
}

export class MemoryNotificationBus implements NotificationBus {
  private readonly listeners = new Set<(event: ChangeEvent) => void>();

  publish(event: ChangeEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // One broken subscriber must not starve the others.
      }
    }
  }

  subscribe(listener: (event: ChangeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
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
