export { McpClient, type McpClientOptions, type ClientHandlers, type CallOptions } from './client.js';
