export { StreamableHttpHandler, HttpError, type StreamableHttpOptions } from './handler.js';
export { createNodeListener, type NodeListener, type NodeHandlerOptions } from './node.js';
export { createFetchHandler, type FetchHandler, type FetchHandlerOptions, type FetchContext } from './fetch.js';
export { MemoryEventStore, SessionManager, HttpSession, type EventStore } from './sessions.js';
export { SseStream, SSE_HEADERS } from './sse.js';
export { NodeIO, type HttpIO, type StreamSink } from './io.js';
export { encodeHeaderValue, decodeHeaderValue } from './headers.js';
export { StreamableHttpClientTransport, type StreamableHttpClientOptions } from './client.js';
export { SseParser, type SseEvent } from './sse-parser.js';
