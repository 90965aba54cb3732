export * from './protocol/index.js';
export * from './server/index.js';
export * from './client/index.js';
export { MemoryTransport } from './transport/memory.js';
export type { Transport, MessageInfo, AuthInfo, SendOptions } from './transport/types.js';
export { type Logger, silentLogger } from './util/logger.js';
