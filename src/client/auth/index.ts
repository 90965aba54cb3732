/**
 * The OAuth 2.1 client side of MCP authorization, for `StreamableHttpClientTransport`:
 *
 * ```ts
 * const oauth = new OAuthClient({
 *   serverUrl: 'https://mcp.example.com/mcp',
 *   grant: { type: 'authorization_code', redirectUri: 'http://127.0.0.1:33418/callback', onRedirect },
 *   clientMetadataUrl: 'https://app.example.com/oauth/client.json',
 * });
 * const transport = new StreamableHttpClientTransport('https://mcp.example.com/mcp', { fetch: oauth.fetch });
 * ```
 */
export { OAuthClient, type AuthorizationBinding } from './provider.js';
export type {
  OAuthClientOptions,
  OAuthGrant,
  AuthorizationCodeGrant,
  ClientCredentialsGrant,
  JwtBearerGrant,
  EnterpriseManagedGrant,
  AuthorizationRequest,
  RedirectHandler,
  DpopOptions,
} from './options.js';
export { OAuthClientError, type OAuthFailure } from './errors.js';
export {
  MemoryOAuthStorage,
  type OAuthStorage,
  type TokenSet,
  type StoredClient,
  type TokenEndpointAuthMethod,
} from './storage.js';
export {
  clientMetadataDocument,
  applicationTypeFor,
  type ClientMetadata,
  type PreRegisteredClient,
} from './registration.js';
export {
  parseWwwAuthenticate,
  resourceChallenge,
  type AuthChallenge,
  type ResourceChallenge,
} from './challenge.js';
export {
  resourceMetadataCandidates,
  checkResource,
  type ProtectedResourceMetadata,
  type AuthorizationServerMetadata,
} from './discovery.js';
export { createPkce, type PkcePair } from './pkce.js';
export { DPOP_ALGORITHMS, type DpopAlgorithm } from './dpop.js';
export type { FetchLike } from './http.js';
export type { PrivateKeyInput } from './jose.js';
