export * from './versions.js';
export * from './errors.js';
export * from './jsonrpc.js';
export * from './types.js';
export * from './meta.js';
export * from './cursor.js';
export * from './uri-template.js';
