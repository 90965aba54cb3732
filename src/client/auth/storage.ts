export type TokenEndpointAuthMethod =
  | 'none'
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'private_key_jwt';

/** Tokens for one resource from one authorization server. Times are epoch milliseconds. */
export interface TokenSet {
  access_token: string;
  /** `Bearer` or `DPoP`, as the token endpoint said. */
  token_type: string;
  refresh_token?: string;
  expires_at?: number;
  issued_at: number;
  /** Space-separated scopes granted (the token response's `scope`, else what was requested). */
  scope?: string;
  /** Space-separated scopes the client asked for when it obtained this token. */
  requested_scope?: string;
  /** RFC 7638 thumbprint of the DPoP key a DPoP-bound token is bound to. */
  dpop_jkt?: string;
}

/** Client credentials issued by (or pre-registered at) one authorization server. */
export interface StoredClient {
  client_id: string;
  client_secret?: string;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  redirect_uris?: string[];
  /** RFC 7591: seconds since the epoch, 0 for never. */
  client_secret_expires_at?: number;
  registration_access_token?: string;
  registration_client_uri?: string;
}

type MaybePromise<T> = T | Promise<T>;

/**
 * Where the OAuth client keeps registrations and tokens. Client registrations are keyed by the
 * authorization server's issuer (credentials never cross to another server); tokens by issuer and
 * resource. Implementations must keep these confidential (OAuth 2.1 §7.1): encrypt at rest, restrict
 * file permissions, never log them.
 */
export interface OAuthStorage {
  getClient(issuer: string): MaybePromise<StoredClient | undefined>;
  setClient(issuer: string, client: StoredClient): MaybePromise<void>;
  deleteClient(issuer: string): MaybePromise<void>;
  getTokens(issuer: string, resource: string): MaybePromise<TokenSet | undefined>;
  setTokens(issuer: string, resource: string, tokens: TokenSet): MaybePromise<void>;
  deleteTokens(issuer: string, resource: string): MaybePromise<void>;
}

/** Process-local storage: tokens are gone when the process ends. */
export class MemoryOAuthStorage implements OAuthStorage {
  private readonly clients = new Map<string, StoredClient>();
  private readonly tokens = new Map<string, TokenSet>();

  getClient(issuer: string): StoredClient | undefined {
    const client = this.clients.get(issuer);
    return client && { ...client };
  }
  setClient(issuer: string, client: StoredClient): void {
    this.clients.set(issuer, { ...client });
  }
  deleteClient(issuer: string): void {
    this.clients.delete(issuer);
  }
  getTokens(issuer: string, resource: string): TokenSet | undefined {
    const tokens = this.tokens.get(tokenKey(issuer, resource));
    return tokens && { ...tokens };
  }
  setTokens(issuer: string, resource: string, tokens: TokenSet): void {
    this.tokens.set(tokenKey(issuer, resource), { ...tokens });
  }
  deleteTokens(issuer: string, resource: string): void {
    this.tokens.delete(tokenKey(issuer, resource));
  }
}

/** Issuers and resources are URLs, which cannot contain a space: the key is unambiguous. */
function tokenKey(issuer: string, resource: string): string {
  return `${issuer} ${resource}`;
}
