import { InvalidOptionError } from '../../protocol/errors.js';
import { type Logger, silentLogger } from '../../util/logger.js';
import { DPOP_ALGORITHMS, type DpopAlgorithm } from './dpop.js';
import type { FetchLike } from './http.js';
import type { PrivateKeyInput } from './jose.js';
import type { ClientMetadata, PreRegisteredClient } from './registration.js';
import { MemoryOAuthStorage, type OAuthStorage } from './storage.js';

/** What the application shows the user: open `url`, then come back to `redirectUri`. */
export interface AuthorizationRequest {
  url: URL;
  state: string;
  issuer: string;
  redirectUri: string;
  resource: string;
  scopes: string[] | undefined;
}

/** Interactive authorization code grant with PKCE (the user signs in at the authorization server). */
export interface AuthorizationCodeGrant {
  type: 'authorization_code';
  /** Must be https, or http on a loopback host (MCP: "localhost or HTTPS"). */
  redirectUri: string;
  /**
   * Sends the user to `request.url`. Return the URL the browser came back to (with `code`,
   * `state`, `iss`) to finish right away, or nothing: the request then fails with reason
   * `authorization_pending` and the application calls `completeAuthorization(callbackUrl)` later.
   */
  onRedirect: RedirectHandler;
}

/** Returns the callback URL, or nothing when the application will call `completeAuthorization` itself. */
export type RedirectHandler =
  | ((request: AuthorizationRequest) => Promise<string | URL | undefined> | string | URL | undefined)
  | ((request: AuthorizationRequest) => Promise<void> | void);

/** OAuth client credentials (extension `io.modelcontextprotocol/oauth-client-credentials`). */
export interface ClientCredentialsGrant {
  type: 'client_credentials';
  clientId: string;
  clientSecret?: string;
  /** private_key_jwt (RFC 7523 §2.2): a PKCS#8 PEM, a CryptoKey or a private JWK. */
  privateKey?: PrivateKeyInput;
  /** JWS algorithm of `privateKey` (default ES256). */
  algorithm?: string;
  /** Default: private_key_jwt with a key, else client_secret_basic (client_secret_post if the server only takes that). */
  authMethod?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  /** The issuer these credentials belong to; a server that moved to another issuer is refused. */
  issuer?: string;
}

/** RFC 7523 JWT bearer grant: a workload identity token presented as the grant (workload identity federation). */
export interface JwtBearerGrant {
  type: 'jwt_bearer';
  /** The assertion, or a function returning a fresh one (called once per token request). */
  assertion: string | (() => Promise<string> | string);
  clientId?: string;
  clientSecret?: string;
  issuer?: string;
}

/**
 * Enterprise-managed authorization (extension `io.modelcontextprotocol/enterprise-managed-authorization`):
 * the user's identity assertion is exchanged at the enterprise IdP for an ID-JAG (RFC 8693), which is
 * then presented to the MCP server's authorization server as an RFC 7523 grant.
 */
export interface EnterpriseManagedGrant {
  type: 'enterprise_managed';
  clientId: string;
  clientSecret?: string;
  idp: {
    tokenEndpoint: string;
    /** The OpenID ID token (or a function returning a current one) from the user's SSO login. */
    idToken: string | (() => Promise<string> | string);
    clientId?: string;
    clientSecret?: string;
  };
  issuer?: string;
}

export type OAuthGrant =
  | AuthorizationCodeGrant
  | ClientCredentialsGrant
  | JwtBearerGrant
  | EnterpriseManagedGrant;

export interface DpopOptions {
  /** Preferred proof algorithm (default: the first of ES256, EdDSA, ES384, PS256, RS256 the server takes). */
  algorithm?: DpopAlgorithm;
  /** A key pair to bind tokens to (default: generated once per OAuthClient). */
  keyPair?: CryptoKeyPair;
}

export interface OAuthClientOptions {
  /** The MCP endpoint, e.g. `https://mcp.example.com/mcp`. Tokens are only sent to its origin. */
  serverUrl: string | URL;
  grant: OAuthGrant;
  /** Registrations and tokens (default: in memory). */
  storage?: OAuthStorage;
  /** Metadata sent with Dynamic Client Registration (client_name, logo_uri, application_type, ...). */
  clientMetadata?: ClientMetadata;
  /** HTTPS URL of this client's Client ID Metadata Document, used as client_id where supported. */
  clientMetadataUrl?: string;
  /** Pre-registered credentials by issuer. */
  clients?: Record<string, PreRegisteredClient> | ((issuer: string) => PreRegisteredClient | undefined);
  /** Used for metadata, registration and token requests and for the resource requests the wrapper sends. */
  fetch?: FetchLike;
  /** Per request to an authorization server or metadata document (default 10000 ms). */
  timeoutMs?: number;
  /** Accept plain http authorization servers on non-loopback hosts (never do this in production). */
  allowInsecureHttp?: boolean;
  /** Sender-constrained tokens (RFC 9449) when the authorization server advertises DPoP. Needs jose. */
  dpop?: boolean | DpopOptions;
  /** Ask for `offline_access` when the authorization server lists it (default true). */
  offlineAccess?: boolean;
  /** Authorizations (initial plus step-ups) one request may trigger before it fails (default 3). */
  maxAuthorizations?: number;
  /** Chooses among several `authorization_servers` (default: one with pre-registered credentials, else the first). */
  selectAuthorizationServer?: (servers: readonly string[]) => string | undefined;
  /** Refresh this long before expiry (default 30000 ms, at most half the token's lifetime). */
  refreshSkewMs?: number;
  logger?: Logger;
  /** Clock, for tests (epoch ms). */
  now?: () => number;
}

export interface ResolvedOptions {
  serverUrl: URL;
  grant: OAuthGrant;
  storage: OAuthStorage;
  clientMetadata: ClientMetadata;
  clientMetadataUrl: string | undefined;
  preRegistered: (issuer: string) => PreRegisteredClient | undefined;
  fetch: FetchLike;
  timeoutMs: number;
  allowInsecureHttp: boolean;
  dpop: DpopOptions | undefined;
  offlineAccess: boolean;
  maxAuthorizations: number;
  selectAuthorizationServer: ((servers: readonly string[]) => string | undefined) | undefined;
  refreshSkewMs: number;
  logger: Logger;
  now: () => number;
}

function url(option: string, value: unknown, check: (u: URL) => string | undefined = () => undefined): URL {
  if (typeof value !== 'string' && !(value instanceof URL))
    throw new InvalidOptionError(option, 'must be a URL');
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new InvalidOptionError(option, `${JSON.stringify(String(value))} is not an absolute URL`);
  }
  if (parsed.hash !== '') throw new InvalidOptionError(option, 'must not contain a fragment');
  const problem = check(parsed);
  if (problem !== undefined) throw new InvalidOptionError(option, problem);
  return parsed;
}

const isLoopback = (u: URL) =>
  u.hostname === 'localhost' || u.hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(u.hostname);

function nonEmpty(option: string, value: unknown): void {
  if (typeof value !== 'string' || value === '')
    throw new InvalidOptionError(option, 'must be a non-empty string');
}

function stringOrFunction(option: string, value: unknown): void {
  if (typeof value !== 'function' && (typeof value !== 'string' || value === '')) {
    throw new InvalidOptionError(option, 'must be a non-empty string or a function returning one');
  }
}

function checkGrant(grant: unknown): OAuthGrant {
  if (typeof grant !== 'object' || grant === null)
    throw new InvalidOptionError('grant', 'must be an object with a type');
  const g = grant as OAuthGrant;
  switch (g.type) {
    case 'authorization_code':
      url('grant.redirectUri', g.redirectUri, (u) =>
        u.protocol === 'https:' || (u.protocol === 'http:' && isLoopback(u))
          ? undefined
          : 'must be https, or http on a loopback host',
      );
      if (typeof g.onRedirect !== 'function')
        throw new InvalidOptionError('grant.onRedirect', 'must be a function');
      break;
    case 'client_credentials':
      nonEmpty('grant.clientId', g.clientId);
      if (g.clientSecret === undefined && g.privateKey === undefined) {
        throw new InvalidOptionError('grant', 'client_credentials needs clientSecret or privateKey');
      }
      if (g.authMethod === 'private_key_jwt' && g.privateKey === undefined)
        throw new InvalidOptionError('grant.privateKey', 'private_key_jwt needs a privateKey');
      if (
        (g.authMethod === 'client_secret_basic' || g.authMethod === 'client_secret_post') &&
        g.clientSecret === undefined
      ) {
        throw new InvalidOptionError('grant.clientSecret', `${g.authMethod} needs a clientSecret`);
      }
      if (
        g.authMethod !== undefined &&
        !['client_secret_basic', 'client_secret_post', 'private_key_jwt'].includes(g.authMethod)
      ) {
        throw new InvalidOptionError(
          'grant.authMethod',
          'must be client_secret_basic, client_secret_post or private_key_jwt',
        );
      }
      break;
    case 'jwt_bearer':
      stringOrFunction('grant.assertion', g.assertion);
      break;
    case 'enterprise_managed':
      nonEmpty('grant.clientId', g.clientId);
      if (typeof g.idp !== 'object' || g.idp === null)
        throw new InvalidOptionError('grant.idp', 'must be an object');
      url('grant.idp.tokenEndpoint', g.idp.tokenEndpoint);
      stringOrFunction('grant.idp.idToken', g.idp.idToken);
      break;
    default:
      throw new InvalidOptionError(
        'grant.type',
        'must be authorization_code, client_credentials, jwt_bearer or enterprise_managed',
      );
  }
  if ('issuer' in g && g.issuer !== undefined) url('grant.issuer', g.issuer);
  return g;
}

function checkStorage(storage: unknown): OAuthStorage {
  const methods = ['getClient', 'setClient', 'deleteClient', 'getTokens', 'setTokens', 'deleteTokens'];
  if (
    typeof storage !== 'object' ||
    storage === null ||
    methods.some((m) => typeof (storage as Record<string, unknown>)[m] !== 'function')
  ) {
    throw new InvalidOptionError('storage', `must implement ${methods.join(', ')}`);
  }
  return storage as OAuthStorage;
}

function checkClients(
  clients: OAuthClientOptions['clients'],
): (issuer: string) => PreRegisteredClient | undefined {
  if (clients === undefined) return () => undefined;
  if (typeof clients === 'function') return clients;
  if (typeof clients !== 'object' || clients === null)
    throw new InvalidOptionError('clients', 'must be an object keyed by issuer or a function');
  for (const [issuer, client] of Object.entries(clients)) {
    url(`clients[${issuer}]`, issuer);
    if (typeof client?.client_id !== 'string' || client.client_id === '') {
      throw new InvalidOptionError(`clients[${issuer}].client_id`, 'must be a non-empty string');
    }
  }
  const map = new Map(Object.entries(clients));
  return (issuer) => map.get(issuer);
}

function integer(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(option, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function resolveOptions(options: OAuthClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('options', 'must be an object');
  const serverUrl = url('serverUrl', options.serverUrl, (u) =>
    u.protocol === 'http:' || u.protocol === 'https:' ? undefined : 'must be an http(s) URL',
  );
  const grant = checkGrant(options.grant);
  const clientMetadataUrl =
    options.clientMetadataUrl === undefined
      ? undefined
      : url('clientMetadataUrl', options.clientMetadataUrl, (u) =>
          u.protocol !== 'https:'
            ? 'must use https'
            : u.pathname === '/'
              ? 'must have a path component'
              : undefined,
        ).href;
  if (options.fetch !== undefined && typeof options.fetch !== 'function')
    throw new InvalidOptionError('fetch', 'must be a function');
  if (
    options.selectAuthorizationServer !== undefined &&
    typeof options.selectAuthorizationServer !== 'function'
  ) {
    throw new InvalidOptionError('selectAuthorizationServer', 'must be a function');
  }
  if (
    options.clientMetadata !== undefined &&
    (typeof options.clientMetadata !== 'object' || options.clientMetadata === null)
  ) {
    throw new InvalidOptionError('clientMetadata', 'must be an object');
  }
  const appType = options.clientMetadata?.application_type;
  if (appType !== undefined && appType !== 'native' && appType !== 'web') {
    throw new InvalidOptionError('clientMetadata.application_type', 'must be native or web');
  }
  let dpop: DpopOptions | undefined;
  if (options.dpop === true) dpop = {};
  else if (typeof options.dpop === 'object' && options.dpop !== null) {
    if (options.dpop.algorithm !== undefined && !DPOP_ALGORITHMS.includes(options.dpop.algorithm)) {
      throw new InvalidOptionError('dpop.algorithm', `must be one of ${DPOP_ALGORITHMS.join(', ')}`);
    }
    dpop = options.dpop;
  } else if (options.dpop !== undefined && options.dpop !== false)
    throw new InvalidOptionError('dpop', 'must be a boolean or an object');
  if (options.now !== undefined && typeof options.now !== 'function')
    throw new InvalidOptionError('now', 'must be a function');
  return {
    serverUrl,
    grant,
    storage: options.storage === undefined ? new MemoryOAuthStorage() : checkStorage(options.storage),
    clientMetadata: options.clientMetadata ?? {},
    clientMetadataUrl,
    preRegistered: checkClients(options.clients),
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    timeoutMs: integer('timeoutMs', options.timeoutMs, 10_000, 1, 300_000),
    allowInsecureHttp: options.allowInsecureHttp === true,
    dpop,
    offlineAccess: options.offlineAccess !== false,
    maxAuthorizations: integer('maxAuthorizations', options.maxAuthorizations, 3, 1, 10),
    selectAuthorizationServer: options.selectAuthorizationServer,
    refreshSkewMs: integer('refreshSkewMs', options.refreshSkewMs, 30_000, 0, 3_600_000),
    logger: options.logger ?? silentLogger,
    now: options.now ?? Date.now,
  };
}
