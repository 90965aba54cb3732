import type { DpopSigner } from './dpop.js';
import { OAuthClientError } from './errors.js';
import { type HttpContext, describeError, isJsonObject, postForm } from './http.js';
import { type PrivateKeyInput, importPrivateKey, loadJose } from './jose.js';
import { randomToken } from './pkce.js';
import type { TokenEndpointAuthMethod, TokenSet } from './storage.js';

/** How the client authenticates at a token endpoint. */
export interface ClientAuthentication {
  clientId: string;
  method: TokenEndpointAuthMethod;
  clientSecret?: string;
  /** private_key_jwt: the signing key and its JWS algorithm (default ES256). */
  privateKey?: PrivateKeyInput;
  algorithm?: string;
}

export interface TokenEndpoint {
  http: HttpContext;
  url: string;
  /** The authorization server's issuer: the audience of a private_key_jwt assertion. */
  issuer: string;
  /** Undefined for a grant that needs no client authentication (an RFC 7523 assertion alone). */
  client: ClientAuthentication | undefined;
  dpop: DpopSigner | undefined;
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined and base64-encoded. */
export function basicCredentials(clientId: string, clientSecret: string): string {
  const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(`${encode(clientId)}:${encode(clientSecret)}`)))}`;
}

/**
 * An RFC 7523 §2.2 client assertion: iss = sub = client_id, aud = the authorization server's
 * issuer identifier (draft-ietf-oauth-rfc7523bis, which closes the audience injection the token
 * endpoint URL allowed), a unique jti and a one minute lifetime.
 */
export async function clientAssertion(client: ClientAuthentication, audience: string): Promise<string> {
  if (client.privateKey === undefined) {
    throw new OAuthClientError('token_request_failed', 'private_key_jwt needs a privateKey');
  }
  const jose = await loadJose();
  const algorithm = client.algorithm ?? 'ES256';
  const key = await importPrivateKey(client.privateKey, algorithm);
  return new jose.SignJWT({})
    .setProtectedHeader({ alg: algorithm, typ: 'JWT' })
    .setIssuer(client.clientId)
    .setSubject(client.clientId)
    .setAudience(audience)
    .setIssuedAt()
    .setExpirationTime('60s')
    .setJti(randomToken(16))
    .sign(key);
}

async function authenticate(
  endpoint: TokenEndpoint,
  form: URLSearchParams,
  headers: Record<string, string>,
): Promise<void> {
  const client = endpoint.client;
  if (!client) return;
  switch (client.method) {
    case 'none':
      form.set('client_id', client.clientId);
      return;
    case 'client_secret_basic':
      if (client.clientSecret === undefined)
        throw new OAuthClientError('token_request_failed', 'client_secret_basic needs a client secret');
      headers.authorization = basicCredentials(client.clientId, client.clientSecret);
      return;
    case 'client_secret_post':
      if (client.clientSecret === undefined)
        throw new OAuthClientError('token_request_failed', 'client_secret_post needs a client secret');
      form.set('client_id', client.clientId);
      form.set('client_secret', client.clientSecret);
      return;
    case 'private_key_jwt':
      form.set('client_id', client.clientId);
      form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      form.set('client_assertion', await clientAssertion(client, endpoint.issuer));
      return;
  }
}

function tokenError(status: number, body: unknown, what: string): OAuthClientError {
  const error = isJsonObject(body) && typeof body.error === 'string' ? body.error : undefined;
  const description =
    isJsonObject(body) && typeof body.error_description === 'string' ? body.error_description : undefined;
  const detail = error ? `${error}${description ? `: ${description}` : ''}` : `HTTP ${status}`;
  return new OAuthClientError('token_request_failed', `${what} failed (${detail})`, {
    oauthError: error,
    oauthErrorDescription: description,
    status,
  });
}

/**
 * POSTs one token request (any grant) with the client's authentication and, when DPoP is on, a
 * proof, retrying once with the server's nonce on `use_dpop_nonce` (RFC 9449 §8). A new assertion
 * or proof is made per attempt: both are single-use.
 */
export async function tokenRequest(
  endpoint: TokenEndpoint,
  params: Record<string, string | undefined>,
  what = 'Token request',
): Promise<Record<string, unknown>> {
  for (let attempt = 0; ; attempt++) {
    const form = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value !== undefined) form.set(key, value);
    const headers: Record<string, string> = {};
    await authenticate(endpoint, form, headers);
    if (endpoint.dpop) headers.dpop = await endpoint.dpop.proof('POST', endpoint.url);
    let answer: Awaited<ReturnType<typeof postForm>>;
    try {
      answer = await postForm(endpoint.http, endpoint.url, form, headers);
    } catch (err) {
      throw new OAuthClientError(
        'token_request_failed',
        `${what} to ${endpoint.url} failed: ${describeError(err)}`,
        { cause: err },
      );
    }
    const nonceChanged = endpoint.dpop?.rememberNonce(endpoint.url, answer.headers) ?? false;
    if (answer.status === 200 && isJsonObject(answer.body)) return answer.body;
    const isNonceChallenge = isJsonObject(answer.body) && answer.body.error === 'use_dpop_nonce';
    if (isNonceChallenge && nonceChanged && attempt === 0) continue;
    throw tokenError(answer.status, answer.body, what);
  }
}

/** Validates a successful token response (RFC 6749 §5.1) into a TokenSet. */
export function parseTokenResponse(
  body: Record<string, unknown>,
  now: number,
  requestedScope: string | undefined,
): TokenSet {
  const {
    access_token: accessToken,
    token_type: tokenType,
    expires_in: expiresIn,
    refresh_token: refreshToken,
    scope,
  } = body;
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new OAuthClientError('token_request_failed', 'Token response has no access_token');
  }
  if (typeof tokenType !== 'string')
    throw new OAuthClientError('token_request_failed', 'Token response has no token_type');
  const type = tokenType.toLowerCase();
  if (type !== 'bearer' && type !== 'dpop') {
    throw new OAuthClientError('token_request_failed', `Unsupported token_type ${JSON.stringify(tokenType)}`);
  }
  const tokens: TokenSet = {
    access_token: accessToken,
    token_type: type === 'dpop' ? 'DPoP' : 'Bearer',
    issued_at: now,
  };
  const seconds = typeof expiresIn === 'string' ? Number(expiresIn) : expiresIn;
  if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0)
    tokens.expires_at = now + seconds * 1000;
  if (typeof refreshToken === 'string' && refreshToken !== '') tokens.refresh_token = refreshToken;
  // RFC 6749 §5.1: an omitted scope means the requested scope was granted.
  if (typeof scope === 'string') tokens.scope = scope;
  else if (requestedScope !== undefined) tokens.scope = requestedScope;
  if (requestedScope !== undefined) tokens.requested_scope = requestedScope;
  return tokens;
}
