import { ErrorCode, McpError } from '../protocol/errors.js';
import { HttpError } from '../transport/http/handler.js';

/** A token that failed validation (RFC 6750 `invalid_token`): answered with 401. */
export class InvalidTokenError extends McpError {
  override name = 'InvalidTokenError';
  constructor(description = 'The access token is invalid') {
    super(ErrorCode.Unauthorized, description);
  }
}

/**
 * The token could not be checked because the authorization server (metadata, JWKS or
 * introspection) did not answer usefully: answered with 503, since the client is not at fault
 * and re-authorizing would not help.
 */
export class AuthorizationServerUnavailableError extends McpError {
  override name = 'AuthorizationServerUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.InternalError, message);
    if (options?.cause !== undefined) Object.defineProperty(this, 'cause', { value: options.cause });
  }
}

export interface ChallengeParams {
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope';
  errorDescription?: string;
  scopes?: readonly string[];
  resourceMetadata?: string;
}

/** RFC 6750 §3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E, so quotes and backslashes go. */
function quotedSafe(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, ' ').slice(0, 200);
}

/** Builds a `WWW-Authenticate: Bearer ...` value (RFC 6750 §3, RFC 9728 §5.1). */
export function bearerChallenge(params: ChallengeParams): string {
  const parts: string[] = [];
  if (params.error) parts.push(`error="${params.error}"`);
  if (params.errorDescription) parts.push(`error_description="${quotedSafe(params.errorDescription)}"`);
  if (params.scopes && params.scopes.length > 0) parts.push(`scope="${quotedSafe(params.scopes.join(' '))}"`);
  if (params.resourceMetadata) parts.push(`resource_metadata="${quotedSafe(params.resourceMetadata)}"`);
  return parts.length === 0 ? 'Bearer' : `Bearer ${parts.join(', ')}`;
}

export function unauthorized(message: string, challenge: ChallengeParams): HttpError {
  return new HttpError(
    401,
    message,
    { 'www-authenticate': bearerChallenge(challenge) },
    ErrorCode.Unauthorized,
  );
}

export function forbidden(message: string, challenge: ChallengeParams): HttpError {
  return new HttpError(403, message, { 'www-authenticate': bearerChallenge(challenge) }, ErrorCode.Forbidden);
}

export function badRequest(message: string, challenge: ChallengeParams): HttpError {
  return new HttpError(
    400,
    message,
    { 'www-authenticate': bearerChallenge(challenge) },
    ErrorCode.InvalidRequest,
  );
}

export function unavailable(message: string): HttpError {
  return new HttpError(503, message, { 'retry-after': '5' }, ErrorCode.InternalError);
}

/** What `bearerAuth` reads a request through: an `HttpIO`, a WebSocket upgrade adapter, or a node `IncomingMessage`. */
export type AuthenticateInput =
  | { header(name: string): string | undefined }
  | { readonly headers: Readonly<Record<string, string | readonly string[] | undefined>> };

export function authorizationHeader(input: AuthenticateInput): string | undefined {
  if ('header' in input && typeof input.header === 'function') return input.header('authorization');
  const value = (input as { headers: Record<string, string | readonly string[] | undefined> }).headers
    .authorization;
  return Array.isArray(value) ? value.join(', ') : (value as string | undefined);
}

/** RFC 6750 §2.1 b64token. */
const BEARER_RE = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

export type ParsedAuthorization =
  | { kind: 'none' }
  | { kind: 'bearer'; token: string }
  | { kind: 'malformed'; reason: string };

/**
 * A request without the Bearer scheme counts as unauthenticated (RFC 6750 §3.1: no error code);
 * a Bearer credential that does not parse is a malformed request (`invalid_request`, 400).
 */
export function parseAuthorization(value: string | undefined, maxTokenLength: number): ParsedAuthorization {
  if (value === undefined || value.trim() === '') return { kind: 'none' };
  const trimmed = value.trim();
  if (!/^bearer(\s|$)/i.test(trimmed)) return { kind: 'none' };
  const match = BEARER_RE.exec(trimmed);
  if (!match) return { kind: 'malformed', reason: 'Malformed Bearer credentials' };
  const token = match[1] as string;
  if (token.length > maxTokenLength)
    return { kind: 'malformed', reason: `Access token longer than ${maxTokenLength} characters` };
  return { kind: 'bearer', token };
}
