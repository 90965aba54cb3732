/**
 * mcpkit/redis: horizontal scaling on Redis (ioredis is an optional peer, loaded only here).
 * `RedisScaling` bundles one connection set (a command client and one subscriber) with the
 * change-event bus, the SSE event store and the legacy session store and router. `serve()`
 * sets all of it up from MCP_REDIS_URL.
 *
 * What is in Redis (prefix `mcpkit:` by default):
 * - `sess:{<id>}` legacy session records (negotiated version, client info and capabilities, log
 *   level, subscriptions), TTL = session idle timeout, refreshed by every request and while a
 *   replica holds the session's GET stream or runs one of its requests;
 * - `ev:{<streamId>}` SSE events (Redis Streams, MAXLEN ~, TTL after the last event); event ids
 *   are `<streamId>_<entry id>`; channel `ev:<streamId>` carries them live to tailing replicas;
 * - channel `bus`: change events (list changes, resource updates) for every replica;
 * - channel `sess:<id>`: signals between copies of a session (client responses to server
 *   requests, cancellations, state changes, DELETE, GET-stream takeover).
 *
 * When Redis is unreachable (commands fail fast once the connection has been down longer than
 * `timeoutMs`; the clients reconnect with capped exponential backoff, up to 2 s apart):
 * - 2026-07-28 requests are served as usual (they need no shared state); `subscriptions/listen`
 *   streams hear only changes raised on their own replica;
 * - `initialize` answers 503 with Retry-After (a session nobody else could find is not created);
 * - requests for a session this replica holds a copy of are served from the copy; state changes
 *   stay local and are written when Redis is back; requests for other sessions, and DELETE, get
 *   503 with Retry-After (the session may exist; 404 would end it for the client);
 * - SSE events are still sent live but without ids (not resumable); a resume gets 503;
 * - `/ready` fails (`required: false` reports "degraded" instead and stays ready).
 * After a restart without persistence the sessions are gone: their requests get 404 and clients
 * start new sessions.
 */
export { RedisScaling, type RedisScalingOptions } from './scaling.js';
export {
  RedisConnection,
  RedisUnavailableError,
  type RedisConnectionOptions,
  type RedisHealth,
} from './connection.js';
export { RedisNotificationBus } from './bus.js';
export { RedisEventStore, compareEntryIds, type RedisEventStoreOptions } from './event-store.js';
export { RedisSessionStore, RedisSessionRouter } from './session-store.js';
export {
  useSharedSessions,
  type SessionRecord,
  type SessionRouter,
  type SessionSignal,
  type SessionStore,
  type SharedSessions,
} from '../transport/http/sessions.js';
