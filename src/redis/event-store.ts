import type { Redis } from 'ioredis';
import { InvalidOptionError } from '../protocol/errors.js';
import type { JsonRpcMessage } from '../protocol/jsonrpc.js';
import { type EventStore, type EventTail, splitEventId } from '../transport/http/event-store.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { type RedisConnection, errorMessage } from './connection.js';

export interface RedisEventStoreOptions {
  /** Events kept per stream, approximately (XADD MAXLEN ~), default 1000. */
  maxEventsPerStream?: number;
  /** A stream's key expires this long after its last event, default 1 hour. */
  ttlMs?: number;
  /** How long an append's dedupe key is remembered, default 60 s. */
  dedupeTtlMs?: number;
  logger?: Logger;
}

/**
 * XADD (trimmed), PEXPIRE and PUBLISH in one round trip. With a dedupe key (ARGV[5] > 0), a key
 * already set means another replica stored this event: nothing is written and nil is returned.
 */
const APPEND_LUA = `
if tonumber(ARGV[5]) > 0 then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[5]) then return false end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], id .. ' ' .. ARGV[2])
return id
`;
const COMMAND = 'mcpkitEventAppendV1';

interface ScriptingClient {
  [COMMAND](
    k1: string,
    k2: string,
    maxLen: number,
    payload: string,
    ttlMs: number,
    channel: string,
    dedupeTtlMs: number,
  ): Promise<string | null>;
}

const ENTRY_ID = /^\d{1,20}(-\d{1,20})?$/;

/** Orders Redis stream entry ids (`<ms>-<seq>`). */
export function compareEntryIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  if (am.length !== bm.length) return am.length - bm.length;
  if (am !== bm) return am < bm ? -1 : 1;
  return Number(as) - Number(bs);
}

/**
 * SSE events in Redis Streams, shared by every replica: one stream per SSE stream (key
 * `<prefix>ev:{<streamId>}`, trimmed to about `maxEventsPerStream`, expiring `ttlMs` after its last
 * event). Event ids are `<streamId>_<entry id>`, e.g. `3vX0….get_1718000000000-0`, so a client's
 * Last-Event-ID names both the stream and the position. Each append is also published on
 * `<prefix>ev:<streamId>`, which is what lets a replica tail a stream another replica is writing.
 */
export class RedisEventStore implements EventStore {
  private readonly maxEvents: number;
  private readonly ttlMs: number;
  private readonly dedupeTtlMs: number;
  private readonly logger: Logger;

  constructor(
    readonly connection: RedisConnection,
    options: RedisEventStoreOptions = {},
  ) {
    this.maxEvents = positiveInt('maxEventsPerStream', options.maxEventsPerStream ?? 1000);
    this.ttlMs = positiveInt('ttlMs', options.ttlMs ?? 3_600_000);
    this.dedupeTtlMs = positiveInt('dedupeTtlMs', options.dedupeTtlMs ?? 60_000);
    this.logger = options.logger ?? silentLogger;
    const client = connection.command as Redis & Partial<ScriptingClient>;
    if (typeof client[COMMAND] !== 'function')
      client.defineCommand(COMMAND, { numberOfKeys: 2, lua: APPEND_LUA });
  }

  async append(streamId: string, message: JsonRpcMessage, dedupeKey?: string): Promise<string | undefined> {
    const key = this.connection.key('ev', streamId);
    const dedupe = dedupeKey === undefined ? key : `${this.connection.key('evd', streamId)}:${dedupeKey}`;
    const id = await this.connection.run('event append', (c) =>
      (c as unknown as ScriptingClient)[COMMAND](
        key,
        dedupe,
        this.maxEvents,
        JSON.stringify(message),
        this.ttlMs,
        this.connection.channel('ev', streamId),
        dedupeKey === undefined ? 0 : this.dedupeTtlMs,
      ),
    );
    return id === null ? undefined : `${streamId}_${id}`;
  }

  async replayAfter(
    lastEventId: string,
    send: (id: string, message: JsonRpcMessage) => void,
  ): Promise<string | undefined> {
    const parts = splitEventId(lastEventId);
    if (!parts || !ENTRY_ID.test(parts.position)) return undefined;
    const { streamId, position } = parts;
    const key = this.connection.key('ev', streamId);
    const [entries, exists] = await this.connection.run('event replay', async (c) => {
      const replies = await c
        .multi()
        .xrange(key, `(${position}`, '+', 'COUNT', this.maxEvents * 2)
        .exists(key)
        .exec();
      if (!replies) throw new Error('replay transaction aborted');
      for (const [err] of replies) if (err) throw err;
      return [replies[0]?.[1] as Array<[string, string[]]>, replies[1]?.[1] as number] as const;
    });
    for (const [id, message] of this.decode(entries)) send(`${streamId}_${id}`, message);
    return exists > 0 || entries.length > 0 ? streamId : undefined;
  }

  /**
   * Subscribes to the stream's channel first, then reads what was stored after `afterEventId` (or
   * the current last id), so nothing falls between the two; ids already delivered are skipped. When
   * the subscriber reconnects, the gap is read back from the stream the same way.
   */
  async subscribe(
    streamId: string,
    afterEventId: string | undefined,
    send: (id: string, message: JsonRpcMessage) => void,
  ): Promise<EventTail> {
    const key = this.connection.key('ev', streamId);
    const after = afterEventId === undefined ? undefined : splitEventId(afterEventId);
    let last: string | undefined =
      after && after.streamId === streamId && ENTRY_ID.test(after.position) ? after.position : undefined;
    let buffer: string[] | undefined = [];
    let closed = false;
    let start = last;
    let running: Promise<void> | undefined;
    const deliver = (id: string, message: JsonRpcMessage) => {
      if (closed || (last !== undefined && compareEntryIds(id, last) <= 0)) return;
      last = id;
      send(`${streamId}_${id}`, message);
    };
    const onMessage = (raw: string) => {
      if (buffer) return void buffer.push(raw);
      const space = raw.indexOf(' ');
      const message = parse(raw.slice(space + 1));
      if (space > 0 && message) deliver(raw.slice(0, space), message);
    };
    // Reads the stream after `last` while live messages wait in the buffer, then lets them through in order.
    const read = async () => {
      buffer ??= [];
      try {
        if (last === undefined) {
          const tip = await this.connection.run('event tail', (c) => c.xrevrange(key, '+', '-', 'COUNT', 1));
          last = tip[0]?.[0] ?? '0';
          start = last;
        } else {
          const from = last;
          const entries = await this.connection.run('event tail', (c) =>
            c.xrange(key, `(${from}`, '+', 'COUNT', this.maxEvents * 2),
          );
          for (const [id, message] of this.decode(entries)) deliver(id, message);
        }
      } finally {
        const held = buffer;
        buffer = undefined;
        for (const raw of held) onMessage(raw);
      }
    };
    const catchUp = (): Promise<void> => {
      running = (running ?? Promise.resolve()).then(read, read);
      return running;
    };
    const off = await this.connection.subscribe(this.connection.channel('ev', streamId), onMessage);
    try {
      await catchUp();
    } catch (err) {
      off();
      throw err;
    }
    const position = `${streamId}_${start ?? '0'}`;
    const offReconnect = this.connection.onResubscribe(() => {
      catchUp().catch((err: unknown) =>
        this.logger.warn({ err: errorMessage(err), streamId }, 'event tail catch-up failed'),
      );
    });
    return {
      position,
      close: () => {
        if (closed) return;
        closed = true;
        off();
        offReconnect();
      },
    };
  }

  private *decode(entries: Array<[string, string[]]>): Generator<[string, JsonRpcMessage]> {
    for (const [id, fields] of entries) {
      const message = parse(fields[1]);
      if (message) yield [id, message];
      else this.logger.warn({ id }, 'unreadable event skipped');
    }
  }
}

function parse(json: string | undefined): JsonRpcMessage | undefined {
  if (json === undefined) return undefined;
  try {
    const value = JSON.parse(json) as unknown;
    return typeof value === 'object' && value !== null ? (value as JsonRpcMessage) : undefined;
  } catch {
    return undefined;
  }
}

function positiveInt(option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw new InvalidOptionError(option, 'must be a positive integer');
  return value;
}
