export { McpClient, type McpClientOptions, type ClientHandlers, type CallOptions } from './client.js';
export * from './pool.js';
export { createClientPool, type ClientPoolOptions } from './pool-client.js';
export * from './auth/index.js';
