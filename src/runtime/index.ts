export { serve, type ServeOptions, type ServeHandle } from './serve.js';
export { loadConfig, parseLogLevel, ConfigError, ENV_VARIABLES, type RuntimeConfig } from './config.js';
export { HealthChecks, type HealthCheck, type CheckResult } from './health.js';
export { createRuntimeLogger, type RuntimeLogger, type RuntimeLoggerOptions } from './logging.js';
export { accessLog, nextRequestId, type AccessLogOptions } from './access-log.js';
export type { ServeFeatureOptions, Features } from './features.js';
