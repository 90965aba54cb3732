export { StreamableHttpHandler, HttpError, type StreamableHttpOptions } from './handler.js';
export { createNodeListener, type NodeListener, type NodeHandlerOptions } from './node.js';
export {
  createFetchHandler,
  type FetchHandler,
  type FetchHandlerOptions,
  type FetchContext,
} from './fetch.js';
export { MemoryEventStore, SessionManager, HttpSession, type EventStore } from './sessions.js';
export { SseStream, SSE_HEADERS } from './sse.js';
export { NodeIO, type HttpIO, type StreamSink } from './io.js';
export { encodeHeaderValue, decodeHeaderValue } from './headers.js';
export { StreamableHttpClientTransport, type StreamableHttpClientOptions } from './client.js';
export { SseParser, type SseEvent } from './sse-parser.js';
export { createTlsFetch, spkiPin, type TlsFetchOptions } from './tls-fetch.js';
export { createLegacySseListener, type LegacySseOptions } from './sse-2024.js';
export { LegacySseClientTransport } from './sse-2024-client.js';
export {
  useSharedSessions,
  SessionUnavailableError,
  type SessionStore,
  type SessionRouter,
  type SessionRecord,
  type SessionSignal,
  type SharedSessions,
} from './sessions.js';
export { splitEventId, type EventTail } from './event-store.js';
