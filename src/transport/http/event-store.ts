import { InvalidOptionError } from '../../protocol/errors.js';
import type { JsonRpcMessage } from '../../protocol/jsonrpc.js';

/**
 * Stores SSE events so a client can resume a stream with `Last-Event-ID` (legacy era). Event ids
 * have the form `<streamId>_<position>`; stream ids never end in `_<position>` themselves.
 */
export interface EventStore {
  /**
   * Stores an event of a stream and returns its id. With `dedupeKey`, an append whose key was
   * already used on this stream (by any process) is skipped and returns undefined.
   */
  append(
    streamId: string,
    message: JsonRpcMessage,
    dedupeKey?: string,
  ): Promise<string | undefined> | string | undefined;
  /** Drops every stream of an ended session (stream ids start with `<sessionId>.`). */
  forgetSession?(sessionId: string): void | Promise<void>;
  /** Replays the events after `lastEventId` (same stream); returns that stream's id, or undefined if unknown. */
  replayAfter(
    lastEventId: string,
    send: (id: string, message: JsonRpcMessage) => void,
  ): Promise<string | undefined> | string | undefined;
  /**
   * Live tail, for stores shared by several processes: delivers the stream's events after
   * `afterEventId` (undefined: those appended from now on), whoever appends them, until closed.
   * Resolves once listening. When a store has it, streams are fed through it: a replica that did
   * not produce a stream can still carry it to the client.
   */
  subscribe?(
    streamId: string,
    afterEventId: string | undefined,
    send: (id: string, message: JsonRpcMessage) => void,
  ): Promise<EventTail>;
}

export interface EventTail {
  /** The event id delivery starts after: prime a fresh stream with it so a resume misses nothing. */
  readonly position: string;
  close(): void;
}

/** Splits `<streamId>_<position>`; undefined for ids not of that form. */
export function splitEventId(eventId: string): { streamId: string; position: string } | undefined {
  const sep = eventId.lastIndexOf('_');
  if (sep <= 0 || sep === eventId.length - 1) return undefined;
  return { streamId: eventId.slice(0, sep), position: eventId.slice(sep + 1) };
}

/** In-process event store, bounded per stream and in streams; oldest streams are evicted first. */
export class MemoryEventStore implements EventStore {
  private readonly streams = new Map<
    string,
    { seq: number; events: Array<{ seq: number; message: JsonRpcMessage }> }
  >();
  constructor(
    private readonly maxEventsPerStream = 1000,
    private readonly maxStreams = 10_000,
  ) {
    if (!Number.isSafeInteger(maxEventsPerStream) || maxEventsPerStream < 1)
      throw new InvalidOptionError('maxEventsPerStream', 'must be a positive integer');
    if (!Number.isSafeInteger(maxStreams) || maxStreams < 1)
      throw new InvalidOptionError('maxStreams', 'must be a positive integer');
  }

  append(streamId: string, message: JsonRpcMessage): string {
    let stream = this.streams.get(streamId);
    if (!stream) {
      if (this.streams.size >= this.maxStreams) {
        const oldest = this.streams.keys().next().value;
        if (oldest !== undefined) this.streams.delete(oldest);
      }
      stream = { seq: 0, events: [] };
      this.streams.set(streamId, stream);
    }
    const seq = ++stream.seq;
    stream.events.push({ seq, message });
    if (stream.events.length > this.maxEventsPerStream) stream.events.shift();
    return `${streamId}_${seq}`;
  }

  replayAfter(lastEventId: string, send: (id: string, message: JsonRpcMessage) => void): string | undefined {
    const parts = splitEventId(lastEventId);
    if (!parts) return undefined;
    const { streamId } = parts;
    const after = Number(parts.position);
    const stream = this.streams.get(streamId);
    if (!stream || !Number.isSafeInteger(after)) return undefined;
    for (const event of stream.events) if (event.seq > after) send(`${streamId}_${event.seq}`, event.message);
    return streamId;
  }

  forget(streamId: string): void {
    this.streams.delete(streamId);
  }

  forgetSession(sessionId: string): void {
    const prefix = `${sessionId}.`;
    for (const streamId of this.streams.keys())
      if (streamId.startsWith(prefix)) this.streams.delete(streamId);
  }

  get size(): number {
    return this.streams.size;
  }
}
