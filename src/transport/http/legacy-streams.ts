import { type JsonRpcMessage, isResponse } from '../../protocol/jsonrpc.js';
import { type EventStore, type EventTail, splitEventId } from './event-store.js';
import type { PostExchange } from './exchange.js';
import type { Headers, HttpIO } from './io.js';
import { type HttpSession, type SessionManager, SessionUnavailableError } from './sessions.js';
import type { SseStream } from './sse.js';

/** What the legacy GET-stream logic needs from the handler. */
export interface StreamHost {
  readonly sessions: SessionManager | undefined;
  openStream(io: HttpIO, headers: Headers, resumable: boolean): SseStream;
  /** A POST stream still being produced in this process (stores without a live tail). */
  liveExchange(streamId: string): PostExchange | undefined;
  /** Answers 503 for a SessionUnavailableError. */
  unavailable(io: HttpIO, err: unknown): void;
}

type Replayed = Array<[string, JsonRpcMessage]>;

/** GET with Last-Event-ID: replays what the client missed, then keeps the stream going. */
export async function resumeStream(
  host: StreamHost,
  io: HttpIO,
  session: HttpSession,
  lastEventId: string,
  store: EventStore,
): Promise<void> {
  // Only this session's streams: an id from another session must not replay its events.
  const parsed = splitEventId(lastEventId)?.streamId;
  const streamId = parsed?.startsWith(`${session.id}.`) ? parsed : undefined;
  const own = streamId !== undefined;
  const replayed: Replayed = [];
  let known: string | undefined;
  try {
    if (own) known = await store.replayAfter(lastEventId, (id, message) => void replayed.push([id, message]));
  } catch (err) {
    return host.unavailable(io, new SessionUnavailableError('Event store unavailable', 1, { cause: err }));
  }
  if (own && store.subscribe) {
    // The producer may be another replica (or may not have written yet): follow the stream in the store.
    return tailStream(host, io, session, store, streamId, replayed.at(-1)?.[0] ?? lastEventId, replayed);
  }
  const stream = host.openStream(io, {}, true);
  for (const [id, message] of replayed) stream.send(message, id);
  if (own && streamId === session.standaloneStreamId) {
    if (session.standalone && !session.standalone.closed) session.standalone.close();
    session.standalone = stream;
    return;
  }
  const live = known === undefined ? undefined : host.liveExchange(known);
  if (live && live.session === session) live.attach(stream);
  else stream.close();
}

/**
 * A stream fed from a tailing (shared) event store: the session's GET stream (`after` undefined for
 * a fresh one), or a POST stream resumed with Last-Event-ID, which ends with the request's response.
 */
export async function tailStream(
  host: StreamHost,
  io: HttpIO,
  session: HttpSession,
  store: EventStore,
  streamId: string,
  after: string | undefined,
  replayed: Replayed,
): Promise<void> {
  const standalone = streamId === session.standaloneStreamId;
  // Events the tail delivers before the stream is open wait here.
  const target: { stream?: SseStream } = {};
  const early: Replayed = [];
  const deliver = (id: string, message: JsonRpcMessage) => {
    const stream = target.stream;
    if (!stream) return void early.push([id, message]);
    stream.send(message, id);
    if (!standalone && isResponse(message)) stream.close();
  };
  const answered = !standalone && replayed.some(([, message]) => isResponse(message));
  let tail: EventTail | undefined;
  if (!answered && store.subscribe) {
    try {
      tail = await store.subscribe(streamId, after, deliver);
    } catch (err) {
      return host.unavailable(io, new SessionUnavailableError('Event store unavailable', 1, { cause: err }));
    }
    if (session.closed || io.signal.aborted) return void tail.close();
  }
  const opened = host.openStream(io, {}, true);
  target.stream = opened;
  if (tail) {
    const subscription = tail;
    opened.onClose(() => subscription.close());
  }
  if (standalone) {
    if (session.standalone && !session.standalone.closed) session.standalone.close();
    session.standalone = opened;
    if (host.sessions?.shared) host.sessions.claimStandalone(session);
  }
  if (after === undefined && tail) opened.prime(tail.position);
  for (const [id, message] of [...replayed, ...early]) deliver(id, message);
  if (answered) opened.close();
}
