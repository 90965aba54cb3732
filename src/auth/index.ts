/**
 * `mcpkit/auth`: the OAuth 2.1 resource server side of MCP authorization.
 *
 * - {@link bearerAuth}: validates the Bearer token of every HTTP request (JWT access tokens
 *   against the issuer's JWKS, opaque tokens by RFC 7662 introspection, or a custom verifier)
 *   and answers with RFC 6750 / RFC 9728 challenges; plug it into `authenticate`.
 * - {@link protectedResourceMetadataHandler} / {@link protectedResourceMetadataFetchHandler}:
 *   serve the RFC 9728 document clients discover the authorization server from.
 * - {@link authFromEnv}: `MCP_OAUTH_ISSUER` / `MCP_OAUTH_AUDIENCE`.
 *
 * Per-tool, per-resource and per-prompt scopes are declared at registration (`scopes: [...]`)
 * and enforced by the server against `ctx.auth`.
 */
export {
  bearerAuth,
  ANONYMOUS,
  isAnonymous,
  type BearerAuthOptions,
  type BearerAuthenticator,
  type ErrorChallenge,
} from './bearer.js';
export {
  InvalidTokenError,
  AuthorizationServerUnavailableError,
  bearerChallenge,
  type AuthenticateInput,
  type ChallengeParams,
} from './challenge.js';
export { scopesFromClaims, authInfoFromClaims, expandScopes, type ScopeHierarchy } from './claims.js';
export {
  discoverAuthorizationServer,
  type AuthorizationServerMetadata,
  type DiscoveryOptions,
  type FetchLike,
} from './discovery.js';
export type { IntrospectionOptions } from './introspection.js';
export { ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS, type AsymmetricAlgorithm } from './jwt.js';
export {
  protectedResourceMetadata,
  protectedResourceMetadataHandler,
  protectedResourceMetadataFetchHandler,
  protectedResourceMetadataPaths,
  type ProtectedResourceMetadata,
  type ProtectedResourceMetadataOptions,
  type ProtectedResourceMetadataHandlerOptions,
} from './metadata.js';
export { authFromEnv, type OAuthEnvConfig } from './env.js';
export { resourceMetadataUrlFor, authorizationServerMetadataUrls, PRM_WELL_KNOWN } from './urls.js';
