/**
 * `mcpkit/security`: input-validation helpers for servers that expose files, URIs and
 * databases, and secret redaction for their logs and errors.
 */
export {
  InputRejectedError,
  PathSecurityError,
  UriSecurityError,
  SqlSecurityError,
  type PathRejectReason,
  type UriRejectReason,
  type SqlRejectReason,
} from './errors.js';
export {
  resolveSafePath,
  resolveSafePathSync,
  checkRelativePath,
  isPathInside,
  type SafePathOptions,
} from './path.js';
export {
  validateResourceUri,
  normalizeResourceUri,
  fileUriToSafePath,
  fileUriToSafePathSync,
  DEFAULT_MAX_URI_LENGTH,
  type ResourceUriOptions,
  type FileUriOptions,
} from './uri.js';
export {
  quoteIdentifier,
  assertIdentifier,
  sql,
  createSqlTag,
  SqlFragment,
  SqlIdentifier,
  SAFE_IDENTIFIER,
  SQL_DIALECTS,
  type SqlDialect,
  type SqlTag,
  type IdentifierOptions,
  type IdentifierAllowList,
  type AssertIdentifierOptions,
} from './sql.js';
export {
  redact,
  createRedactor,
  withRedaction,
  pinoRedactPaths,
  REDACTED,
  DEFAULT_SECRET_KEYS,
  type RedactOptions,
  type Redactor,
} from './redact.js';
