export { StdioServerTransport, type StdioServerTransportOptions } from './server.js';
export { StdioClientTransport, type StdioClientTransportOptions } from './client.js';
export { LineFramer, frame, DEFAULT_MAX_LINE_BYTES } from './framer.js';
