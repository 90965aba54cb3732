import { ErrorCode, McpError } from '../protocol/errors.js';
import { HttpError } from '../transport/http/handler.js';
import type { AuthInfo } from '../transport/types.js';
import { type BearerAuthOptions, resolveBearerOptions } from './bearer-options.js';
import {
  type AuthenticateInput,
  AuthorizationServerUnavailableError,
  InvalidTokenError,
  authorizationHeader,
  badRequest,
  bearerChallenge,
  forbidden,
  parseAuthorization,
  unauthorized,
  unavailable,
} from './challenge.js';
import { authInfoFromClaims, expandScopes, missingScopes } from './claims.js';
import { type AuthorizationServerMetadata, discoverAuthorizationServer } from './discovery.js';
import { Introspector } from './introspection.js';
import { JwtVerifier, looksLikeJwt } from './jwt.js';
import { checkHttpsUrl } from './urls.js';

export type { BearerAuthOptions } from './bearer-options.js';

/** The principal of a request that carried no token under `optional: true`. */
export const ANONYMOUS: AuthInfo = Object.freeze({ scopes: Object.freeze([]) as readonly string[] });

export const isAnonymous = (auth: AuthInfo | undefined): boolean => auth === ANONYMOUS;

export interface ErrorChallenge {
  status: number;
  headers: Record<string, string>;
}

export interface BearerAuthenticator {
  /** `StreamableHttpOptions.authenticate`; also takes a WebSocket upgrade request (`{ headers }` or `{ header() }`). */
  (input: AuthenticateInput): Promise<AuthInfo | undefined>;
  readonly audience: string;
  readonly resourceMetadataUrl: string;
  readonly requiredScopes: readonly string[];
  /** Validates a raw token; throws {@link InvalidTokenError} or {@link AuthorizationServerUnavailableError}. */
  verifyToken(token: string): Promise<AuthInfo>;
  /**
   * The HTTP status and `WWW-Authenticate` header for a JSON-RPC error raised after
   * authentication: -32041 (a feature's `scopes`) becomes 403 `insufficient_scope` naming the
   * scopes, or 401 when the caller is anonymous; -32040 becomes 401 `invalid_token`.
   */
  errorChallenge(error: unknown, auth: AuthInfo | undefined): ErrorChallenge | undefined;
}

const MAX_TOKEN_LENGTH = 16 * 1024;
/** After a failed metadata discovery, requests fail fast (503) for this long before the next attempt. */
const DISCOVERY_RETRY_MS = 5000;

/** Audience list of a JWT or introspection answer. */
function audiences(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

/**
 * OAuth 2.1 resource server for MCP over HTTP: validates the Bearer token of every request
 * (JWT via JWKS, opaque via introspection, or a custom verifier) and answers failures with the
 * RFC 6750 / RFC 9728 challenges MCP clients use to discover where to get a token.
 *
 * ```ts
 * const auth = bearerAuth({ issuer: 'https://auth.example.com', audience: 'https://mcp.example.com/mcp' });
 * createNodeListener(server, { authenticate: auth });
 * ```
 */
/** Verified JWTs are remembered at most this long (and never past `exp`), and this many at once. */
const VERIFIED_TTL_MS = 5 * 60_000;
const VERIFIED_MAX = 10_000;

export function bearerAuth(options: BearerAuthOptions): BearerAuthenticator {
  const resolved = resolveBearerOptions(options);
  const {
    issuer,
    audience,
    algorithms,
    tolerance,
    required,
    hierarchy,
    optional,
    resourceMetadata,
    urlOptions,
    cooldownMs,
    cacheMaxAgeMs,
    timeoutMs,
    logger,
  } = resolved;
  const doFetch = resolved.fetch;

  // Discovery is lazy: the server starts even while the authorization server is down.
  let metadata: Promise<AuthorizationServerMetadata> | undefined;
  let lastFailure: { at: number; error: Error } | undefined;
  const discover = (): Promise<AuthorizationServerMetadata> => {
    if (metadata) return metadata;
    if (lastFailure && Date.now() - lastFailure.at < DISCOVERY_RETRY_MS)
      return Promise.reject(lastFailure.error);
    metadata = discoverAuthorizationServer(issuer as string, { fetch: doFetch, timeoutMs }).catch(
      (err: Error) => {
        metadata = undefined;
        lastFailure = { at: Date.now(), error: err };
        throw err;
      },
    );
    return metadata;
  };
  const discoveredUrl = async (field: 'jwks_uri' | 'introspection_endpoint'): Promise<string> => {
    const value = (await discover())[field];
    if (typeof value !== 'string') {
      throw new AuthorizationServerUnavailableError(`The metadata of ${issuer} has no ${field}`);
    }
    try {
      checkHttpsUrl(field, value, urlOptions);
    } catch (err) {
      throw new AuthorizationServerUnavailableError(
        `The metadata of ${issuer} has an unusable ${field}: ${(err as Error).message}`,
      );
    }
    return value;
  };

  const jwt =
    issuer === undefined
      ? undefined
      : new JwtVerifier({
          issuer,
          audience,
          algorithms,
          clockToleranceSec: tolerance,
          jwksUri: async () => resolved.jwksUri ?? discoveredUrl('jwks_uri'),
          cooldownMs,
          cacheMaxAgeMs,
          timeoutMs,
          fetch: resolved.customFetch,
        });
  const introspector =
    resolved.introspection === undefined
      ? undefined
      : new Introspector(
          resolved.introspection,
          async () => resolved.introspection?.endpoint ?? discoveredUrl('introspection_endpoint'),
          doFetch,
          timeoutMs,
        );

  const checkTimes = (exp: unknown, nbf: unknown): void => {
    const now = Date.now() / 1000;
    if (typeof exp === 'number' && exp <= now - tolerance)
      throw new InvalidTokenError('The access token expired');
    if (typeof nbf === 'number' && nbf > now + tolerance)
      throw new InvalidTokenError('The access token is not valid yet');
  };

  /** RFC 7662 answers carry no signature to check, only claims: apply the same rules a JWT gets. */
  const checkIntrospected = (claims: Record<string, unknown>): void => {
    if (issuer !== undefined && claims.iss !== undefined && claims.iss !== issuer) {
      throw new InvalidTokenError('The access token was issued by a different authorization server');
    }
    const aud = audiences(claims.aud);
    if ((aud.length > 0 || introspector?.requireAudience) && !aud.includes(audience)) {
      throw new InvalidTokenError('The access token was not issued for this resource (audience mismatch)');
    }
    checkTimes(claims.exp, claims.nbf);
    if (claims.token_type !== undefined && String(claims.token_type).toLowerCase() !== 'bearer') {
      throw new InvalidTokenError('The token is not a bearer access token');
    }
    if (claims.cnf !== undefined) {
      throw new InvalidTokenError('Sender-constrained access tokens are not accepted as bearer tokens');
    }
  };

  const verified = new Map<string, { auth: AuthInfo; until: number }>();
  const verifyToken = async (token: string): Promise<AuthInfo> => {
    if (resolved.verify) {
      const custom = await resolved.verify(token);
      if (custom !== undefined) {
        if (typeof custom !== 'object' || custom === null || !Array.isArray(custom.scopes)) {
          throw new InvalidTokenError('The access token is invalid');
        }
        checkTimes(custom.expiresAt, undefined);
        return hierarchy ? { ...custom, scopes: expandScopes(custom.scopes, hierarchy) } : custom;
      }
    }
    if (jwt && looksLikeJwt(token)) {
      // A signature check (ECDSA/RSA through WebCrypto) costs far more than the rest of a request:
      // remember verified tokens until they expire (bounded, exact-string keys).
      const now = Date.now();
      const hit = verified.get(token);
      if (hit && hit.until > now) return hit.auth;
      if (hit) verified.delete(token);
      const auth = authInfoFromClaims(await jwt.verify(token), token, hierarchy);
      const expMs = typeof auth.expiresAt === 'number' ? auth.expiresAt * 1000 : now;
      const until = Math.min(expMs, now + VERIFIED_TTL_MS);
      if (until > now) {
        if (verified.size >= VERIFIED_MAX) verified.delete(verified.keys().next().value as string);
        verified.set(token, { auth, until });
      }
      return auth;
    }
    if (introspector) {
      const claims = await introspector.introspect(token);
      if (!claims) throw new InvalidTokenError('The access token is not active');
      checkIntrospected(claims);
      return authInfoFromClaims(claims, token, hierarchy);
    }
    throw new InvalidTokenError('The access token is not in a format this resource accepts');
  };

  const authenticate = async (input: AuthenticateInput): Promise<AuthInfo | undefined> => {
    const parsed = parseAuthorization(authorizationHeader(input), MAX_TOKEN_LENGTH);
    if (parsed.kind === 'none') {
      if (optional) return ANONYMOUS;
      throw unauthorized('Unauthorized: an access token is required', { scopes: required, resourceMetadata });
    }
    if (parsed.kind === 'malformed') {
      throw badRequest(`Bad Request: ${parsed.reason}`, {
        error: 'invalid_request',
        errorDescription: parsed.reason,
        resourceMetadata,
      });
    }
    let auth: AuthInfo;
    try {
      auth = await verifyToken(parsed.token);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof AuthorizationServerUnavailableError) {
        logger.warn(
          { err: err.message },
          'access token could not be checked: authorization server unavailable',
        );
        throw unavailable('Service Unavailable: the access token could not be checked, retry later');
      }
      const description = err instanceof InvalidTokenError ? err.message : 'The access token is invalid';
      if (!(err instanceof InvalidTokenError)) {
        // A custom verifier's message may quote the token: scrub it before logging.
        const message = String(err instanceof Error ? err.message : err)
          .split(parsed.token)
          .join('[token]');
        logger.warn({ err: message }, 'token verifier failed');
      }
      logger.info({ reason: description }, 'access token refused');
      throw unauthorized(`Unauthorized: ${description}`, {
        error: 'invalid_token',
        errorDescription: description,
        scopes: required,
        resourceMetadata,
      });
    }
    const missing = missingScopes(auth.scopes, required);
    if (missing.length > 0) {
      logger.info(
        { client_id: auth.clientId, sub: auth.subject, missing },
        'access token lacks required scopes',
      );
      throw forbidden(`Forbidden: insufficient scope, requires ${required.join(' ')}`, {
        error: 'insufficient_scope',
        errorDescription: `Requires scope ${required.join(' ')}`,
        scopes: required,
        resourceMetadata,
      });
    }
    logger.debug({ client_id: auth.clientId, sub: auth.subject }, 'access token accepted');
    return auth;
  };

  const errorChallenge = (error: unknown, auth: AuthInfo | undefined): ErrorChallenge | undefined => {
    if (!(error instanceof McpError)) return undefined;
    if (error.code === ErrorCode.Forbidden) {
      const data = error.data as { requiredScopes?: unknown } | undefined;
      const featureScopes = Array.isArray(data?.requiredScopes)
        ? data.requiredScopes.filter((s): s is string => typeof s === 'string')
        : [];
      const scopes = [...new Set([...required, ...featureScopes])];
      if (auth === undefined || isAnonymous(auth)) {
        return {
          status: 401,
          headers: { 'www-authenticate': bearerChallenge({ scopes, resourceMetadata }) },
        };
      }
      const challenge = bearerChallenge({
        error: 'insufficient_scope',
        errorDescription: error.message,
        scopes,
        resourceMetadata,
      });
      return { status: 403, headers: { 'www-authenticate': challenge } };
    }
    if (error.code === ErrorCode.Unauthorized) {
      const challenge = bearerChallenge({
        error: 'invalid_token',
        errorDescription: error.message,
        scopes: required,
        resourceMetadata,
      });
      return { status: 401, headers: { 'www-authenticate': challenge } };
    }
    return undefined;
  };

  return Object.assign(authenticate, {
    audience,
    resourceMetadataUrl: resourceMetadata,
    requiredScopes: Object.freeze([...required]),
    verifyToken,
    errorChallenge,
  });
}
