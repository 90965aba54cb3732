import type { AuthorizationBinding } from './binding.js';
import { OAuthClientError } from './errors.js';
import { type HttpContext, checkEndpoint } from './http.js';
import { createPkce, randomToken } from './pkce.js';
import type { ResolvedClient } from './registration.js';

/** What the client remembers between sending the user away and the user coming back. */
export interface PendingAuthorization {
  binding: AuthorizationBinding;
  client: ResolvedClient;
  verifier: string;
  redirectUri: string;
  scope: string | undefined;
  createdAt: number;
}

export interface BuiltRequest {
  url: URL;
  state: string;
  /** The scopes asked for, offline_access included; undefined when `scope` is omitted. */
  scopes: string[] | undefined;
  pending: PendingAuthorization;
}

const PENDING_TTL_MS = 10 * 60_000;
const MAX_PENDING = 16;

/**
 * The authorization request (OAuth 2.1 §4.1.1): PKCE S256 (refused when the server does not
 * advertise it, unless it is a 2025-03-26 server without metadata), a random `state`, the
 * `resource` (RFC 8707), and `offline_access` when the server lists it and the application wants
 * refresh tokens.
 */
export async function buildAuthorizationRequest(input: {
  http: HttpContext;
  binding: AuthorizationBinding;
  client: ResolvedClient;
  redirectUri: string;
  scopes: string[];
  offlineAccess: boolean;
  now: number;
}): Promise<BuiltRequest> {
  const { binding, client } = input;
  const { metadata } = binding;
  const methods = metadata.code_challenge_methods_supported;
  if (!binding.defaultEndpoints && !(Array.isArray(methods) && methods.includes('S256'))) {
    throw new OAuthClientError(
      'pkce_unsupported',
      `${binding.issuer} does not advertise PKCE S256 (code_challenge_methods_supported); refusing to authorize`,
    );
  }
  const endpoint = checkEndpoint(input.http, 'authorization_endpoint', metadata.authorization_endpoint);
  checkEndpoint(input.http, 'token_endpoint', metadata.token_endpoint);
  const requested = [...input.scopes];
  const offered =
    Array.isArray(metadata.scopes_supported) && metadata.scopes_supported.includes('offline_access');
  if (input.offlineAccess && offered && !requested.includes('offline_access'))
    requested.push('offline_access');
  const scope = requested.length > 0 ? requested.join(' ') : undefined;
  const pkce = await createPkce();
  const state = randomToken(24);
  const url = new URL(endpoint.href);
  const params = url.searchParams;
  params.set('response_type', 'code');
  params.set('client_id', client.client_id);
  params.set('redirect_uri', input.redirectUri);
  params.set('code_challenge', pkce.challenge);
  params.set('code_challenge_method', pkce.method);
  params.set('state', state);
  if (scope !== undefined) params.set('scope', scope);
  params.set('resource', binding.resource);
  // OIDC Core §11: offline_access is only honoured together with a consent prompt.
  if (requested.includes('offline_access')) params.set('prompt', 'consent');
  return {
    url,
    state,
    scopes: scope === undefined ? undefined : requested,
    pending: {
      binding,
      client,
      verifier: pkce.verifier,
      redirectUri: input.redirectUri,
      scope,
      createdAt: input.now,
    },
  };
}

const invalid = (message: string) => new OAuthClientError('invalid_authorization_response', message);

/** Authorizations in flight, by `state`; each can be completed once, within ten minutes. */
export class PendingAuthorizations {
  private readonly entries = new Map<string, PendingAuthorization>();

  remember(state: string, pending: PendingAuthorization): void {
    for (const [key, entry] of this.entries) {
      if (pending.createdAt - entry.createdAt > PENDING_TTL_MS) this.entries.delete(key);
    }
    while (this.entries.size >= MAX_PENDING) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(state, pending);
  }

  /**
   * Validates the authorization response before its code goes anywhere: a known `state` (used
   * up either way), the registered redirect URI, then RFC 9207: a present `iss` must equal the
   * recorded issuer exactly (no normalization of any kind), an absent one is only accepted when the
   * server does not advertise `authorization_response_iss_parameter_supported`. An error response
   * is reported only once it passed the same checks.
   */
  take(callbackUrl: string | URL, now: number): { pending: PendingAuthorization; code: string } {
    let url: URL;
    try {
      url = new URL(String(callbackUrl));
    } catch {
      throw invalid('The callback is not a URL');
    }
    const params = url.searchParams;
    const state = params.get('state');
    const pending = state === null ? undefined : this.entries.get(state);
    if (state === null || pending === undefined)
      throw invalid('The authorization response has an unknown or missing state');
    this.entries.delete(state);
    if (now - pending.createdAt > PENDING_TTL_MS) throw invalid('The authorization response came too late');
    const expected = new URL(pending.redirectUri);
    if (url.origin !== expected.origin || url.pathname !== expected.pathname) {
      throw invalid(
        `The callback ${url.origin}${url.pathname} is not the redirect URI ${pending.redirectUri}`,
      );
    }
    const { binding } = pending;
    const iss = params.get('iss');
    if (iss !== null && iss !== binding.issuer) {
      throw invalid(
        `The authorization response comes from ${JSON.stringify(iss)}, not from ${binding.issuer} (RFC 9207)`,
      );
    }
    if (iss === null && binding.metadata.authorization_response_iss_parameter_supported === true) {
      throw invalid(
        `${binding.issuer} advertises the iss parameter but the authorization response has none (RFC 9207)`,
      );
    }
    const error = params.get('error');
    if (error !== null) {
      const description = params.get('error_description') ?? undefined;
      throw new OAuthClientError(
        'authorization_denied',
        `Authorization refused: ${error}${description ? ` (${description})` : ''}`,
        { oauthError: error, oauthErrorDescription: description },
      );
    }
    const code = params.get('code');
    if (code === null || code === '') throw invalid('The authorization response has no code');
    return { pending, code };
  }
}
