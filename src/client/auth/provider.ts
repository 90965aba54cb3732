import { PendingAuthorizations, buildAuthorizationRequest } from './authorization-code.js';
import { type AuthorizationBinding, BindingResolver } from './binding.js';
import { type ResourceChallenge, resourceChallenge } from './challenge.js';
import type { AuthorizationServerMetadata } from './discovery.js';
import { DpopSigner, chooseDpopAlgorithm } from './dpop.js';
import { OAuthClientError } from './errors.js';
import { machineToken, secretMethod } from './grants.js';
import { type FetchLike, type HttpContext, checkEndpoint } from './http.js';
import { type OAuthClientOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type ResolvedClient, resolveClient } from './registration.js';
import type { TokenSet } from './storage.js';
import { type ClientAuthentication, parseTokenResponse, tokenRequest } from './token.js';

export type { AuthorizationBinding } from './binding.js';

interface Attempt {
  authorizations: number;
  refreshed: boolean;
}

/** OAuth errors after which a refresh token is dead and a new authorization is the only way on. */
const DEAD_GRANT = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client', 'invalid_scope']);

const splitScopes = (scope: string | undefined): string[] =>
  scope ? scope.split(' ').filter((s) => s !== '') : [];
const union = (...sets: Array<readonly string[] | undefined>): string[] => [
  ...new Set(sets.flatMap((s) => s ?? [])),
];

/**
 * The OAuth 2.1 client side of MCP authorization. It reacts to the server's 401 and 403
 * challenges: discovers the authorization server (RFC 9728, then RFC 8414 / OIDC Discovery, with
 * the 2025-03-26 fallbacks), obtains a client id (pre-registration, Client ID Metadata Document or
 * RFC 7591), runs the authorization code flow with PKCE S256, `state`, `resource` and the RFC 9207
 * `iss` check (or a machine grant), refreshes with rotation and steps up on `insufficient_scope`.
 *
 * Plug it into the HTTP transport with `fetch: oauth.fetch` (full support, including DPoP), or with
 * `authorization: oauth.authorization, onAuthError: oauth.onAuthError` (Bearer tokens only).
 */
export class OAuthClient {
  private readonly options: ResolvedOptions;
  private readonly http: HttpContext;
  private readonly resolver: BindingResolver;
  private readonly pending = new PendingAuthorizations();
  private current: { binding: AuthorizationBinding; tokens: TokenSet } | undefined;
  private signer: Promise<DpopSigner> | undefined;
  private lockTail: Promise<unknown> = Promise.resolve();

  constructor(options: OAuthClientOptions) {
    const resolved = resolveOptions(options);
    this.options = resolved;
    this.http = {
      fetch: resolved.fetch,
      timeoutMs: resolved.timeoutMs,
      allowInsecureHttp: resolved.allowInsecureHttp,
    };
    const grant = resolved.grant;
    const boundIssuer = 'issuer' in grant ? grant.issuer : undefined;
    this.resolver = new BindingResolver(this.http, {
      serverUrl: resolved.serverUrl,
      now: resolved.now,
      logger: resolved.logger,
      hasCredentials: (issuer) => issuer === boundIssuer || resolved.preRegistered(issuer) !== undefined,
      select: resolved.selectAuthorizationServer,
    });
  }

  /** The authorization server currently in use, once discovered. */
  get issuer(): string | undefined {
    return this.current?.binding.issuer;
  }

  /** The tokens currently in use (a copy), if any. */
  get tokens(): TokenSet | undefined {
    return this.current && { ...this.current.tokens };
  }

  // ------------------------------------------------------------------ integration

  /**
   * A fetch that authorizes requests to the MCP server's origin: it adds the token (with a fresh
   * DPoP proof when the token is DPoP-bound), and on 401 or 403 `insufficient_scope` discovers,
   * refreshes or (re-)authorizes and retries. Other origins pass through untouched. When the
   * server still refuses after `maxAuthorizations` authorizations it throws OAuthClientError.
   */
  readonly fetch: FetchLike = (input, init) => this.send(input, init);

  /** For the transport's `authorization` option: the `Authorization` header value, if a token is at hand. */
  readonly authorization = async (): Promise<string | undefined> => {
    const tokens = await this.usableTokens();
    if (!tokens) return undefined;
    if (tokens.token_type === 'DPoP') {
      throw new OAuthClientError(
        'token_request_failed',
        'DPoP-bound tokens need a proof per request: use `fetch: oauth.fetch` instead of `authorization`',
      );
    }
    return `Bearer ${tokens.access_token}`;
  };

  /** For the transport's `onAuthError` option: recovers from a 401/403 and returns true to retry (throws when it cannot). */
  readonly onAuthError = async (response: Response): Promise<boolean> => {
    const challenge = resourceChallenge(response.headers.get('www-authenticate'));
    if (response.status === 403 && challenge?.error !== 'insufficient_scope') return false;
    if (response.status !== 401 && response.status !== 403) return false;
    await this.recover(response.status, challenge, this.current?.tokens, {
      authorizations: 0,
      refreshed: false,
    });
    return true;
  };

  private async send(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
    const request = input instanceof Request ? input : undefined;
    const url = new URL(input instanceof Request ? input.url : input instanceof URL ? input.href : input);
    if (url.origin !== this.options.serverUrl.origin) return this.options.fetch(input, init);
    const method = (init.method ?? request?.method ?? 'GET').toUpperCase();
    let body = init.body ?? undefined;
    if (body === undefined && request?.body) body = await request.arrayBuffer();
    // A stream can be sent once only: such a request is authorized but never retried.
    const replayable = !(body instanceof ReadableStream);
    const attempt: Attempt = { authorizations: 0, refreshed: false };
    let nonceRetries = 0;
    for (let round = 0; round < 2 * this.options.maxAuthorizations + 4; round++) {
      const tokens = await this.usableTokens();
      const headers = new Headers(init.headers ?? request?.headers);
      await this.applyCredentials(headers, method, url, tokens);
      const response = await this.options.fetch(url, {
        ...init,
        method,
        headers,
        body: body ?? null,
        signal: init.signal ?? request?.signal ?? null,
      });
      const signer = this.signer ? await this.signer.catch(() => undefined) : undefined;
      const nonceChanged = signer?.rememberNonce(url, response.headers) ?? false;
      if (!replayable || (response.status !== 401 && response.status !== 403)) return response;
      const challenge = resourceChallenge(response.headers.get('www-authenticate'));
      if (response.status === 403 && challenge?.error !== 'insufficient_scope') return response;
      await response.body?.cancel().catch(() => {});
      if (
        challenge?.error === 'use_dpop_nonce' &&
        tokens?.token_type === 'DPoP' &&
        nonceChanged &&
        nonceRetries < 2
      ) {
        nonceRetries++;
        continue;
      }
      await this.recover(response.status, challenge, tokens, attempt);
    }
    throw new OAuthClientError(
      'unauthorized',
      `${this.options.serverUrl.href} kept refusing the credentials`,
    );
  }

  /** Sets `Authorization` (and `DPoP`) for one request. */
  private async applyCredentials(
    headers: Headers,
    method: string,
    url: URL,
    tokens: TokenSet | undefined,
  ): Promise<void> {
    if (!tokens) return;
    if (tokens.token_type !== 'DPoP') {
      headers.set('authorization', `Bearer ${tokens.access_token}`);
      return;
    }
    const signer = (await this.signer) as DpopSigner;
    headers.set('authorization', `DPoP ${tokens.access_token}`);
    headers.set('dpop', await signer.proof(method, url, tokens.access_token));
  }

  /** A DPoP-bound token is only usable with the key it is bound to (tokens from storage may predate this process). */
  private async holdsKey(tokens: TokenSet): Promise<boolean> {
    if (tokens.token_type !== 'DPoP') return true;
    const signer = this.signer ? await this.signer.catch(() => undefined) : undefined;
    return signer !== undefined && signer.thumbprint === tokens.dpop_jkt;
  }

  // ------------------------------------------------------------------ tokens

  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lockTail.then(fn, fn);
    this.lockTail = run.catch(() => {});
    return run;
  }

  private renewAt(tokens: TokenSet): number | undefined {
    if (tokens.expires_at === undefined) return undefined;
    const margin = Math.min(this.options.refreshSkewMs, (tokens.expires_at - tokens.issued_at) / 2);
    return tokens.expires_at - margin;
  }

  /** The current tokens, renewed first when they are about to expire. */
  private async usableTokens(): Promise<TokenSet | undefined> {
    const current = this.current;
    if (!current) return undefined;
    if (!(await this.holdsKey(current.tokens))) {
      if (this.current === current) this.current = undefined;
      return undefined;
    }
    const renewAt = this.renewAt(current.tokens);
    if (renewAt === undefined || this.options.now() < renewAt) return current.tokens;
    return this.withLock(async () => {
      if (this.current !== current) return this.current?.tokens;
      const { binding, tokens } = current;
      try {
        if (tokens.refresh_token !== undefined) {
          if (await this.refresh(binding, tokens)) return this.current?.tokens;
        } else if (this.options.grant.type !== 'authorization_code') {
          // No user involved: getting a new token before expiry is the machine grant's refresh.
          await this.obtain(binding, splitScopes(tokens.requested_scope ?? tokens.scope));
          return this.current?.tokens;
        }
      } catch (err) {
        // The authorization server is unreachable or refused: a token that is still valid is still usable.
        if (this.expired(tokens)) throw err;
        this.options.logger.warn(
          { err, issuer: binding.issuer },
          'token renewal failed; using the current token until it expires',
        );
      }
      return this.expired(tokens) ? undefined : tokens;
    });
  }

  private expired(tokens: TokenSet): boolean {
    return tokens.expires_at !== undefined && this.options.now() >= tokens.expires_at;
  }

  private async adopt(binding: AuthorizationBinding, tokens: TokenSet): Promise<void> {
    this.current = { binding, tokens };
    await this.options.storage.setTokens(binding.issuer, binding.resource, tokens);
  }

  /** Refresh with rotation: a new refresh token replaces the old one, which is never used again. */
  private async refresh(binding: AuthorizationBinding, tokens: TokenSet): Promise<boolean> {
    const refreshToken = tokens.refresh_token as string;
    const endpoint = await this.tokenEndpoint(binding);
    let body: Record<string, unknown>;
    try {
      body = await tokenRequest(
        endpoint,
        { grant_type: 'refresh_token', refresh_token: refreshToken, resource: binding.resource },
        'Token refresh',
      );
    } catch (err) {
      if (err instanceof OAuthClientError && err.oauthError !== undefined && DEAD_GRANT.has(err.oauthError)) {
        this.options.logger.debug({ issuer: binding.issuer, error: err.oauthError }, 'refresh token refused');
        await this.forget(binding);
        return false;
      }
      throw err;
    }
    const next = parseTokenResponse(body, this.options.now(), tokens.requested_scope);
    if (next.refresh_token === undefined) next.refresh_token = refreshToken;
    if (next.token_type === 'DPoP' && endpoint.dpop) next.dpop_jkt = endpoint.dpop.thumbprint;
    await this.adopt(binding, next);
    this.options.logger.debug(
      { issuer: binding.issuer, rotated: next.refresh_token !== refreshToken },
      'tokens refreshed',
    );
    return true;
  }

  private async forget(binding: AuthorizationBinding): Promise<void> {
    if (this.current?.binding.issuer === binding.issuer && this.current.binding.resource === binding.resource)
      this.current = undefined;
    await this.options.storage.deleteTokens(binding.issuer, binding.resource);
  }

  /** Drops the tokens in use (from memory and storage); the next request authorizes again. */
  async signOut(): Promise<void> {
    if (this.current) await this.forget(this.current.binding);
  }

  // ------------------------------------------------------------------ challenges

  /**
   * Brings the client to a state where retrying the refused request can succeed, or throws. One
   * challenge is handled at a time; a request whose token was already replaced just retries.
   */
  private recover(
    status: number,
    challenge: ResourceChallenge | undefined,
    used: TokenSet | undefined,
    attempt: Attempt,
  ): Promise<void> {
    return this.withLock(async () => {
      const now = this.current?.tokens;
      if (now !== undefined && now.access_token !== used?.access_token) return;
      const binding = await this.discover(challenge?.resourceMetadata);
      if (status === 403) return this.stepUp(binding, challenge, used, attempt);
      return this.reauthorize(binding, challenge, used, attempt);
    });
  }

  private async reauthorize(
    binding: AuthorizationBinding,
    challenge: ResourceChallenge | undefined,
    used: TokenSet | undefined,
    attempt: Attempt,
  ): Promise<void> {
    const sameServer = this.current !== undefined && this.current.binding.issuer === binding.issuer;
    if (used !== undefined) {
      // The server refused this token: it is never offered again.
      const previous = this.current?.binding;
      if (previous) await this.forget(previous);
      if (sameServer && used.refresh_token !== undefined && !attempt.refreshed) {
        attempt.refreshed = true;
        if (await this.refresh(binding, used)) return;
      }
    } else {
      const stored = await this.options.storage.getTokens(binding.issuer, binding.resource);
      if (stored && (await this.holdsKey(stored))) {
        const renewAt = this.renewAt(stored);
        if (renewAt === undefined || this.options.now() < renewAt) {
          this.current = { binding, tokens: stored };
          return;
        }
        if (stored.refresh_token !== undefined && !attempt.refreshed) {
          attempt.refreshed = true;
          if (await this.refresh(binding, stored)) return;
        }
      }
    }
    // Scope selection: the challenge's scope, else the resource's scopes_supported, else none;
    // kept together with what was asked for before so a re-authorization loses nothing.
    const base = challenge?.scopes ?? binding.resourceScopes;
    const previous = used !== undefined && sameServer ? splitScopes(used.requested_scope) : [];
    await this.counted(binding, union(previous, base), attempt, 'unauthorized');
  }

  private async stepUp(
    binding: AuthorizationBinding,
    challenge: ResourceChallenge | undefined,
    used: TokenSet | undefined,
    attempt: Attempt,
  ): Promise<void> {
    const required = challenge?.scopes ?? [];
    const granted = new Set(splitScopes(used?.scope));
    if (used !== undefined && required.every((s) => granted.has(s))) {
      // The token already carries every scope the server asks for: another authorization cannot help.
      throw new OAuthClientError(
        'insufficient_scope',
        `${this.options.serverUrl.href} refuses the token for lack of scope ${JSON.stringify(required.join(' '))}, which it already has`,
        { oauthError: 'insufficient_scope', oauthErrorDescription: challenge?.errorDescription, status: 403 },
      );
    }
    const previous = used !== undefined ? splitScopes(used.requested_scope ?? used.scope) : [];
    await this.counted(binding, union(previous, required), attempt, 'insufficient_scope');
  }

  private async counted(
    binding: AuthorizationBinding,
    scopes: string[],
    attempt: Attempt,
    reason: 'unauthorized' | 'insufficient_scope',
  ): Promise<void> {
    if (attempt.authorizations >= this.options.maxAuthorizations) {
      throw new OAuthClientError(
        reason,
        `Giving up after ${attempt.authorizations} authorizations: ${this.options.serverUrl.href} still refuses the request`,
        {
          status: reason === 'unauthorized' ? 401 : 403,
        },
      );
    }
    attempt.authorizations++;
    await this.obtain(binding, scopes);
  }

  // ------------------------------------------------------------------ discovery

  /** Discovers the authorization server (see {@link BindingResolver}); exposed for "sign in" flows and diagnostics. */
  discover(resourceMetadataUrl?: string): Promise<AuthorizationBinding> {
    return this.resolver.discover(resourceMetadataUrl);
  }

  private async dpopFor(metadata: AuthorizationServerMetadata): Promise<DpopSigner | undefined> {
    const options = this.options.dpop;
    if (!options) return undefined;
    if (this.signer) {
      const signer = await this.signer;
      return (metadata.dpop_signing_alg_values_supported ?? []).includes(signer.algorithm)
        ? signer
        : undefined;
    }
    const algorithm = chooseDpopAlgorithm(metadata.dpop_signing_alg_values_supported, options.algorithm);
    if (!algorithm) return undefined;
    this.signer = DpopSigner.create(algorithm, options.keyPair);
    this.signer.catch(() => {
      this.signer = undefined;
    });
    return this.signer;
  }

  // ------------------------------------------------------------------ grants

  /** Runs the configured grant against `binding` for `scopes` and adopts the tokens. */
  private async obtain(binding: AuthorizationBinding, scopes: string[]): Promise<void> {
    const grant = this.options.grant;
    if (grant.type === 'authorization_code') return this.authorizationCode(binding, scopes);
    const dpop = await this.dpopFor(binding.metadata);
    const tokens = await machineToken(grant, {
      http: this.http,
      issuer: binding.issuer,
      metadata: binding.metadata,
      resource: binding.resource,
      scope: scopes.length > 0 ? scopes.join(' ') : undefined,
      dpop,
      now: this.options.now,
    });
    if (tokens.token_type === 'DPoP' && dpop) tokens.dpop_jkt = dpop.thumbprint;
    await this.adopt(binding, tokens);
  }

  private async clientFor(binding: AuthorizationBinding): Promise<ResolvedClient> {
    const grant = this.options.grant;
    return resolveClient({
      http: this.http,
      storage: this.options.storage,
      issuer: binding.issuer,
      metadata: binding.metadata,
      redirectUri: grant.type === 'authorization_code' ? grant.redirectUri : '',
      clientMetadata: this.options.clientMetadata,
      clientMetadataUrl: this.options.clientMetadataUrl,
      preRegistered: this.options.preRegistered(binding.issuer),
      now: this.options.now(),
    });
  }

  private async tokenEndpoint(binding: AuthorizationBinding, client?: ResolvedClient) {
    const grant = this.options.grant;
    let auth: ClientAuthentication | undefined;
    if (grant.type === 'authorization_code') {
      const c = client ?? (await this.clientFor(binding));
      auth = { clientId: c.client_id, method: c.token_endpoint_auth_method };
      if (c.client_secret !== undefined) auth.clientSecret = c.client_secret;
    } else if (grant.type === 'client_credentials') {
      auth = {
        clientId: grant.clientId,
        method:
          grant.authMethod ??
          (grant.privateKey !== undefined ? 'private_key_jwt' : secretMethod(binding.metadata)),
      };
      if (grant.clientSecret !== undefined) auth.clientSecret = grant.clientSecret;
      if (grant.privateKey !== undefined) auth.privateKey = grant.privateKey;
      if (grant.algorithm !== undefined) auth.algorithm = grant.algorithm;
    } else if (grant.clientId !== undefined) {
      auth =
        grant.clientSecret === undefined
          ? { clientId: grant.clientId, method: 'none' }
          : {
              clientId: grant.clientId,
              clientSecret: grant.clientSecret,
              method: secretMethod(binding.metadata),
            };
    }
    const dpop = await this.dpopFor(binding.metadata);
    return {
      http: this.http,
      url: checkEndpoint(this.http, 'token_endpoint', binding.metadata.token_endpoint).href,
      issuer: binding.issuer,
      client: auth,
      dpop,
    };
  }

  /**
   * Authorization code with PKCE S256: records the verifier, state and expected issuer, hands the
   * authorization URL to the application and, when it returns the callback, finishes the exchange.
   */
  private async authorizationCode(binding: AuthorizationBinding, scopes: string[]): Promise<void> {
    const grant = this.options.grant;
    if (grant.type !== 'authorization_code') return;
    const client = await this.clientFor(binding);
    const built = await buildAuthorizationRequest({
      http: this.http,
      binding,
      client,
      redirectUri: grant.redirectUri,
      scopes,
      offlineAccess: this.options.offlineAccess,
      now: this.options.now(),
    });
    this.pending.remember(built.state, built.pending);
    this.options.logger.debug(
      { issuer: binding.issuer, client: client.source, scope: built.pending.scope },
      'authorization request',
    );
    const callback = await grant.onRedirect({
      url: built.url,
      state: built.state,
      issuer: binding.issuer,
      redirectUri: grant.redirectUri,
      resource: binding.resource,
      scopes: built.scopes,
    });
    if (typeof callback !== 'string' && !(callback instanceof URL)) {
      throw new OAuthClientError('authorization_pending', `Authorization required: open ${built.url.href}`, {
        authorizationUrl: built.url.href,
      });
    }
    await this.completeAuthorization(callback);
  }

  /**
   * Finishes an authorization from the URL the browser came back to: validates it (state,
   * redirect URI, RFC 9207 `iss`, see {@link PendingAuthorizations.take}), then exchanges the code
   * with the PKCE verifier and the same `resource`.
   */
  async completeAuthorization(callbackUrl: string | URL): Promise<void> {
    const { pending, code } = this.pending.take(callbackUrl, this.options.now());
    const { binding } = pending;
    const endpoint = await this.tokenEndpoint(binding, pending.client);
    const body = await tokenRequest(
      endpoint,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: pending.redirectUri,
        code_verifier: pending.verifier,
        resource: binding.resource,
      },
      'Authorization code exchange',
    );
    const tokens = parseTokenResponse(body, this.options.now(), pending.scope);
    if (tokens.token_type === 'DPoP' && endpoint.dpop) tokens.dpop_jkt = endpoint.dpop.thumbprint;
    await this.adopt(binding, tokens);
  }

  /**
   * Authorizes ahead of the first request (a "sign in" command): discovers from the well-known
   * URIs and runs the grant for the resource's `scopes_supported` (or `scopes`).
   */
  async authorize(options: { scopes?: string[] } = {}): Promise<void> {
    await this.withLock(async () => {
      const binding = await this.discover();
      await this.obtain(binding, options.scopes ?? binding.resourceScopes ?? []);
    });
  }
}
