import { InvalidOptionError } from '../protocol/errors.js';
import type { AuthInfo } from '../transport/types.js';
import { type Logger, silentLogger } from '../util/logger.js';
import { type ScopeHierarchy, checkScopeHierarchy } from './claims.js';
import type { FetchLike } from './discovery.js';
import type { IntrospectionOptions } from './introspection.js';
import { type AsymmetricAlgorithm, DEFAULT_ALGORITHMS, checkAlgorithms } from './jwt.js';
import { type UrlCheckOptions, checkHttpsUrl, checkScopeList, resourceMetadataUrlFor } from './urls.js';

export interface BearerAuthOptions {
  /** The authorization server's issuer identifier, matched exactly against `iss`. Required unless `verify` is given. */
  issuer?: string;
  /** This resource's canonical URI (RFC 8707); tokens must name it in `aud`. */
  audience: string;
  /** Default: `jwks_uri` from the issuer's RFC 8414 / OIDC metadata. */
  jwksUri?: string;
  /** Accepted JWS algorithms, default RS256, PS256, ES256, EdDSA. `none` and HS* are refused. */
  algorithms?: readonly AsymmetricAlgorithm[];
  /** Allowed clock skew for `exp`/`nbf`, default 30 s. */
  clockToleranceSec?: number;
  /** Scopes every request needs (403 `insufficient_scope` otherwise). Per-feature scopes are declared at registration. */
  requiredScopes?: readonly string[];
  /** Broader scopes implying narrower ones, e.g. `{ 'mcp:admin': ['mcp:read', 'mcp:write'] }`. */
  scopeHierarchy?: ScopeHierarchy;
  /** Opaque tokens: RFC 7662 introspection. JWT-shaped tokens are still verified locally when `issuer` is set. */
  introspection?: IntrospectionOptions;
  /**
   * Runs first for every token: return the principal to accept, `undefined` to hand the token
   * to the built-in JWT / introspection checks, or throw (an {@link InvalidTokenError} sets the
   * description) to refuse. Expiry and `requiredScopes` are still enforced on what it returns.
   */
  verify?: (token: string) => Promise<AuthInfo | undefined> | AuthInfo | undefined;
  /** RFC 9728 metadata URL sent in `WWW-Authenticate`; default derived from `audience`. */
  resourceMetadataUrl?: string;
  /** Let requests without a token through as {@link ANONYMOUS}: features declaring `scopes` still refuse them. */
  optional?: boolean;
  /** Accept plain-http issuer / JWKS / introspection URLs on non-loopback hosts. */
  allowInsecureHttp?: boolean;
  /** Least time between JWKS refetches caused by an unknown `kid`, default 30 000 ms. */
  jwksCooldownMs?: number;
  /** Maximum age of cached keys, default 600 000 ms. */
  jwksCacheMaxAgeMs?: number;
  /** Timeout for each request to the authorization server, default 5000 ms. */
  timeoutMs?: number;
  fetch?: FetchLike;
  /** Receives accept/refuse events with `client_id` and `sub`; tokens are never logged. */
  logger?: Logger;
}

const OPTION_KEYS = new Set<string>([
  'issuer',
  'audience',
  'jwksUri',
  'algorithms',
  'clockToleranceSec',
  'requiredScopes',
  'scopeHierarchy',
  'introspection',
  'verify',
  'resourceMetadataUrl',
  'optional',
  'allowInsecureHttp',
  'jwksCooldownMs',
  'jwksCacheMaxAgeMs',
  'timeoutMs',
  'fetch',
  'logger',
]);

function milliseconds(option: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new InvalidOptionError(option, 'must be a non-negative integer number of milliseconds');
  }
  return v;
}

/** {@link BearerAuthOptions} checked once, with defaults applied. */
export interface ResolvedBearerOptions {
  issuer: string | undefined;
  audience: string;
  jwksUri: string | undefined;
  algorithms: readonly AsymmetricAlgorithm[];
  tolerance: number;
  required: string[];
  hierarchy: ScopeHierarchy | undefined;
  introspection: IntrospectionOptions | undefined;
  verify: BearerAuthOptions['verify'];
  optional: boolean;
  resourceMetadata: string;
  urlOptions: UrlCheckOptions;
  cooldownMs: number;
  cacheMaxAgeMs: number;
  timeoutMs: number;
  customFetch: FetchLike | undefined;
  fetch: FetchLike;
  logger: Logger;
}

export function resolveBearerOptions(options: BearerAuthOptions): ResolvedBearerOptions {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new InvalidOptionError(key, 'is not a bearerAuth option');
  }
  const insecure = options.allowInsecureHttp ?? false;
  if (typeof insecure !== 'boolean') throw new InvalidOptionError('allowInsecureHttp', 'must be a boolean');
  const urlOptions = { allowInsecureHttp: insecure };
  checkHttpsUrl('audience', options.audience, urlOptions);
  const audience = options.audience;
  const issuer = options.issuer;
  if (issuer !== undefined) checkHttpsUrl('issuer', issuer, { ...urlOptions, noQuery: true });
  if (options.verify !== undefined && typeof options.verify !== 'function') {
    throw new InvalidOptionError('verify', 'must be a function');
  }
  if (issuer === undefined && options.verify === undefined) {
    throw new InvalidOptionError('issuer', 'is required (or give a custom `verify`)');
  }
  if (issuer === undefined && options.jwksUri !== undefined) {
    throw new InvalidOptionError('jwksUri', 'needs `issuer` (tokens are checked against it)');
  }
  if (options.jwksUri !== undefined) checkHttpsUrl('jwksUri', options.jwksUri, urlOptions);
  if (options.introspection !== undefined) {
    if (typeof options.introspection !== 'object' || options.introspection === null) {
      throw new InvalidOptionError('introspection', 'must be an object');
    }
    if (options.introspection.endpoint !== undefined) {
      checkHttpsUrl('introspection.endpoint', options.introspection.endpoint, urlOptions);
    } else if (issuer === undefined) {
      throw new InvalidOptionError(
        'introspection.endpoint',
        'is required without `issuer` (nothing to discover it from)',
      );
    }
  }
  const algorithms = checkAlgorithms('algorithms', options.algorithms ?? DEFAULT_ALGORITHMS);
  const tolerance = options.clockToleranceSec ?? 30;
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0 || tolerance > 600) {
    throw new InvalidOptionError('clockToleranceSec', 'must be a number of seconds between 0 and 600');
  }
  const required =
    options.requiredScopes === undefined ? [] : checkScopeList('requiredScopes', options.requiredScopes);
  const hierarchy =
    options.scopeHierarchy === undefined
      ? undefined
      : checkScopeHierarchy('scopeHierarchy', options.scopeHierarchy);
  const optional = options.optional ?? false;
  if (typeof optional !== 'boolean') throw new InvalidOptionError('optional', 'must be a boolean');
  if (optional && required.length > 0) {
    throw new InvalidOptionError(
      'requiredScopes',
      'cannot be combined with `optional` (declare scopes per tool instead)',
    );
  }
  const resourceMetadata = options.resourceMetadataUrl ?? resourceMetadataUrlFor(audience);
  checkHttpsUrl('resourceMetadataUrl', resourceMetadata, urlOptions);
  const cooldownMs = milliseconds('jwksCooldownMs', options.jwksCooldownMs, 30_000);
  const cacheMaxAgeMs = milliseconds('jwksCacheMaxAgeMs', options.jwksCacheMaxAgeMs, 600_000);
  const timeoutMs = milliseconds('timeoutMs', options.timeoutMs, 5000);
  if (timeoutMs === 0) throw new InvalidOptionError('timeoutMs', 'must be positive');
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw new InvalidOptionError('fetch', 'must be a function');
  }
  const doFetch: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  const logger = options.logger ?? silentLogger;
  return {
    issuer,
    audience,
    jwksUri: options.jwksUri,
    algorithms,
    tolerance,
    required,
    hierarchy,
    introspection: options.introspection,
    verify: options.verify,
    optional,
    resourceMetadata,
    urlOptions,
    cooldownMs,
    cacheMaxAgeMs,
    timeoutMs,
    customFetch: options.fetch,
    fetch: doFetch,
    logger,
  };
}
