export { McpServer, type McpServerOptions, type MethodHandler } from './server.js';
export { ServerConnection, type ConnectOptions } from './connection.js';
export { Call, InputRequired, type Exchange, type LegacySession, type InputRequestSpec } from './context.js';
export {
  compose,
  type CallContext,
  type Middleware,
  type Result,
  type Era,
  type TransportKind,
} from './middleware.js';
export { MemoryNotificationBus, type NotificationBus, type ChangeEvent } from './notifications.js';
export { InsufficientScopeError } from './features.js';
export { RequestStateCodec } from './request-state.js';
export type { StandardSchemaV1, JsonSchema, SchemaInput } from './schema.js';
export type {
  HandlerContext,
  ToolConfig,
  ToolHandler,
  ToolReturn,
  ResourceConfig,
  TemplateConfig,
  PromptConfig,
  PromptHandler,
  ResourceReturn,
  PromptReturn,
} from './registry.js';
