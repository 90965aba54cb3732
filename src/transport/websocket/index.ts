export {
  attachWebSocket,
  WebSocketAttachment,
  type WebSocketAttachOptions,
  type UpgradeRequest,
} from './server.js';
export { WebSocketServerTransport, type WebSocketServerTransportOptions } from './server-transport.js';
export {
  WebSocketClientTransport,
  type WebSocketClientTransportOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from './client.js';
export { CloseCode, MCP_SUBPROTOCOL } from './policy.js';
export { HttpError } from '../http/handler.js';
