import type {
  SessionRecord,
  SessionRouter,
  SessionSignal,
  SessionStore,
} from '../transport/http/sessions.js';
import { type Logger, silentLogger } from '../util/logger.js';
import type { RedisConnection } from './connection.js';

/**
 * Legacy session records in Redis: one JSON string per session at `<prefix>sess:{<id>}`, with the
 * session idle timeout as its TTL. Reading a record (GETEX) refreshes the TTL, so a session
 * expires once no replica has served it for the idle timeout.
 */
export class RedisSessionStore implements SessionStore {
  constructor(readonly connection: RedisConnection) {}

  async load(id: string, ttlMs: number): Promise<SessionRecord | undefined> {
    const key = this.connection.key('sess', id);
    const json = await this.connection.run('session load', (c) => c.getex(key, 'PX', Math.ceil(ttlMs)));
    if (json === null) return undefined;
    const record = JSON.parse(json) as SessionRecord;
    if (typeof record !== 'object' || record === null || !Array.isArray(record.subscriptions))
      throw new Error(`malformed session record at ${key}`);
    return record;
  }

  async save(id: string, record: SessionRecord, ttlMs: number): Promise<void> {
    const key = this.connection.key('sess', id);
    await this.connection.run('session save', (c) =>
      c.set(key, JSON.stringify(record), 'PX', Math.ceil(ttlMs)),
    );
  }

  async touch(ids: readonly string[], ttlMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.connection.run('session touch', async (c) => {
      const pipeline = c.pipeline();
      for (const id of ids) pipeline.pexpire(this.connection.key('sess', id), Math.ceil(ttlMs));
      await pipeline.exec();
    });
  }

  async delete(id: string): Promise<boolean> {
    const key = this.connection.key('sess', id);
    return (await this.connection.run('session delete', (c) => c.del(key))) > 0;
  }
}

const SIGNAL_TYPES = new Set(['response', 'cancel', 'state', 'deleted', 'standalone']);

/**
 * Signals between the copies of a session over one pub/sub channel per session
 * (`<prefix>sess:<id>`): a replica listens while it holds a copy of the session.
 */
export class RedisSessionRouter implements SessionRouter {
  readonly replicaId: string;
  private readonly logger: Logger;

  constructor(
    readonly connection: RedisConnection,
    options: { logger?: Logger } = {},
  ) {
    this.replicaId = connection.replicaId;
    this.logger = options.logger ?? silentLogger;
  }

  listen(sessionId: string, onSignal: (signal: SessionSignal) => void): Promise<() => void> {
    return this.connection.subscribe(this.connection.channel('sess', sessionId), (raw) => {
      let signal: SessionSignal;
      try {
        signal = JSON.parse(raw) as SessionSignal;
      } catch {
        this.logger.warn({ session: sessionId }, 'unreadable session signal ignored');
        return;
      }
      if (typeof signal === 'object' && signal !== null && SIGNAL_TYPES.has(signal.type)) onSignal(signal);
    });
  }

  async send(sessionId: string, signal: SessionSignal): Promise<void> {
    await this.connection.publish(this.connection.channel('sess', sessionId), JSON.stringify(signal));
  }
}
